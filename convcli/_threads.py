"""A few threads for work that releases the GIL (NumPy loops, zlib), and how many to use.

Used for the strips of a big image (:mod:`convcli.batch`) and the zlib blocks of a PNG
(:mod:`convcli.imageio`). Pure standard library.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def cpu_count() -> int:
    """The cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
    pool = ThreadPoolExecutor(threads)
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
