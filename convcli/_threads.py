"""A few threads for work that releases the GIL (NumPy loops, zlib), and how many to use.

Used for the strips of a big image (:mod:`convcli.batch`), the zlib blocks of a PNG
(:mod:`convcli.imageio`) and the row bands of the core (:mod:`convcli.core._strips`). Pure
standard library.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_thread_share: int | None = None
"""Set in a batch worker process: its share of the cores (see :func:`set_thread_share`)."""

_in_pool = threading.local()
"""``busy`` is set in the threads of :func:`ordered_map`: they already fill the cores."""


def set_thread_share(threads: int | None) -> None:
    """Cap :func:`cpu_count` for this whole process (None: no cap).

    A batch worker is one of ``jobs`` processes on the same cores: without the cap, each
    would still start a thread per core for the core's row bands.
    """
    global _thread_share
    _thread_share = None if threads is None else max(1, threads)


def cpu_count() -> int:
    """The cores this process may run on (at least 1), capped by :func:`set_thread_share`.

    In a thread of :func:`ordered_map` it is 1: that pool's threads already share the cores.
    """
    if getattr(_in_pool, "busy", False):
        return 1
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    return cores if _thread_share is None else min(cores, _thread_share)


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], threads: int
) -> Iterator[Result]:
    """``map(function, items)`` on up to ``threads`` threads, results in order.

    At most ``2 * threads`` items are in flight, so results that wait to be consumed (a
    PNG's compressed blocks) stay few. On an exception or Ctrl-C in the consumer, queued
    items are cancelled and only the running ones finish (a strip, a block: milliseconds).

    Examples
    --------
    >>> list(ordered_map(lambda n: n * n, range(5), threads=2))
    [0, 1, 4, 9, 16]
    """
    if threads <= 1:
        yield from map(function, items)
        return
    pending = iter(items)
    pool = ThreadPoolExecutor(threads, initializer=_mark_pool_thread)
    try:
        futures: deque[Future[Result]] = deque()
        for item in pending:
            futures.append(pool.submit(function, item))
            if len(futures) >= 2 * threads:
                break
        while futures:
            result = futures.popleft().result()
            for item in pending:
                futures.append(pool.submit(function, item))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _mark_pool_thread() -> None:
    _in_pool.busy = True
