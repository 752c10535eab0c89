"""A few threads for work that releases the GIL (NumPy loops, zlib), and how many to use.

Used for the strips of a big image (:mod:`convcli.batch`), the zlib blocks of a PNG
(:mod:`convcli.imageio`) and the row bands of the core (:mod:`convcli.core._strips`), which
also holds BLAS to one thread while its own threads run (:func:`blas_threads`). Pure
standard library (ctypes for BLAS's thread setting).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP_FREED_BYTES = 256 << 20
_MMAP_FROM_BYTES = 32 << 20  # glibc's largest mmap threshold on 64-bit (HEAP_MAX_SIZE / 2)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for the next file (a batch process).

    By default glibc hands freed blocks above a moving threshold back to the kernel
    (unmapped, or trimmed off the top of the heap), and the next file's arrays fault every
    page in again: in a ``-j 2`` worker filtering 1080p JPEGs (Gaussian sigma 2), ~8,700
    page faults and ~45 ms of CPU per file, a quarter of its work; for 120 PNGs of 512x512
    with ``-j 1``, 1.5 s of kernel time in 7.8 s of CPU (0.2 s with this). Freed memory up
    to 256 MB then stays in the heap, and blocks under 32 MB (glibc's largest threshold on
    64-bit) come from it; larger ones, a 12000x12000 photo's planes, are still given back.
    A thread other than the main one allocates from an arena of its own, made of 64 MB
    heaps that glibc unmaps once they are free whatever the trim threshold, unless the
    top pad (kept free on top of a heap) is larger: so the pad is 256 MB too. A Dask
    worker's task thread without it: ~940 page faults and +4 ms of CPU (11%) per 1080p
    file; with it, none. The cost: each thread's arena keeps its peak (a ``-j 1`` batch
    of 4K JPEGs on 2 cores peaked at 172 MB, 164 MB without the pad), and the main heap
    grows its address space (not its memory) 256 MB at a time.
    Process-wide, so only processes convcli owns call it, whose arrays live one file long:
    ``convcli apply`` on one file (its bands' temporaries: a 4K FFT filter 0.65 -> 0.45 s),
    ``-j 1``, the pool's workers and the workers of a LocalCluster convcli starts
    (:class:`convcli._dask_worker.KeepFreedMemory`); never the library, nor the workers of
    a cluster given by address, which belong to its owner. Returns whether it was set
    (False without glibc's ``mallopt``: musl, macOS, Windows).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trimmed = mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)
    padded = mallopt(_M_TOP_PAD, _KEEP_FREED_BYTES)
    mapped = mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM_BYTES)
    return bool(trimmed and padded and mapped)


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

    Parameters
    ----------
    function : callable
        Called once per item, in a worker thread (in the caller's thread when ``threads``
        is 1 or less).
    items : iterable
        Read lazily, never more than ``2 * threads`` items ahead of the results consumed.
    threads : int
        Worker threads; 1 or less runs a plain ``map``.

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


_helpers: ThreadPoolExecutor | None = None
_helpers_lock = threading.Lock()


def helper_threads() -> ThreadPoolExecutor:
    """Threads kept for the whole process, one fewer than the machine has cores, which
    the core's row bands borrow (:func:`convcli.core._strips.run_bands`).

    A pool made per call started its threads on every call: ~0.2 ms on a quiet machine,
    and a wait for the scheduler under load, which a small image paid on each filter.
    Threads are started when first needed; a forked child makes its own pool.
    """
    global _helpers
    with _helpers_lock:
        if _helpers is None:
            most = max(1, (os.cpu_count() or 1) - 1)
            _helpers = ThreadPoolExecutor(most, thread_name_prefix="convcli-band")
        return _helpers


# ------------------------------------------------------------------ BLAS's own threads

# (setter, getter) symbol names of OpenBLAS's thread count: NumPy's and SciPy's wheels
# (scipy-openblas, 64-bit integers or not), then a system OpenBLAS.
_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)

BlasControl = tuple[Callable[[int], None], Callable[[], int]]

_blas_controls: list[BlasControl] | None = None
_blas_lock = threading.Lock()
_blas_limits: list[int] = []  # one entry per open blas_threads() block, in any thread
_blas_saved: list[int] = []  # each control's setting before the first block opened


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries this process has loaded (NumPy's first)."""
    paths: list[str] = []
    try:  # Linux: every mapped file
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if "openblas" in Path(path).name.lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    numpy = sys.modules.get("numpy")
    if not paths and numpy is not None and numpy.__file__:  # elsewhere: beside NumPy
        root = Path(numpy.__file__).parent
        for folder in (root.parent / "numpy.libs", root / ".dylibs"):
            if folder.is_dir():
                paths += sorted(str(p) for p in folder.iterdir() if "openblas" in p.name.lower())
    return paths


def _find_blas_controls() -> list[BlasControl]:
    controls: list[BlasControl] = []
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)  # already loaded: the same handle, no new copy
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_SYMBOLS:
            setter = getattr(library, set_name, None)
            getter = getattr(library, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                controls.append((setter, getter))
                break
    return controls


def blas_controls() -> list[BlasControl]:
    """``(set, get)`` of each loaded OpenBLAS's thread count (found once, when first asked:
    NumPy is imported by then). Empty when there is none (another BLAS, or not found)."""
    global _blas_controls
    if _blas_controls is None:
        _blas_controls = _find_blas_controls()
    return _blas_controls


def _apply_blas_limits() -> None:
    """Set each BLAS to the smallest open limit, or back to its saved setting."""
    for (setter, getter), saved in zip(blas_controls(), _blas_saved, strict=False):
        wanted = min([saved, *_blas_limits])
        if getter() != wanted:
            setter(wanted)


@contextmanager
def blas_threads(limit: int) -> Iterator[None]:
    """Hold BLAS to at most ``limit`` threads inside the block (and restore it after).

    The core's row bands already run on every core: BLAS products called from them (a
    per-row vertical pass, a gemm) must not start BLAS's own threads too, or the two
    pools fight over the cores. OpenBLAS starts its threads once a product reaches about
    2^20 multiply-adds (gemv much earlier); nested, a 4K box filter took 0.2 to 3 s
    under load, and a 64 MP Gaussian 18.6 s instead of 1.1 s.

    OpenBLAS's setting is process-wide (even its ``openblas_set_num_threads_local`` is,
    in pthread builds), so the blocks open in all threads are counted: BLAS runs on the
    smallest limit while any is open, and gets its own setting back when the last one
    closes. It is set through ``ctypes`` on the library NumPy loaded (the calls
    threadpoolctl makes, without the dependency: two symbols, found once); with no
    OpenBLAS found this does nothing.
    """
    controls = blas_controls()
    if not controls:
        yield
        return
    with _blas_lock:
        if not _blas_limits:
            _blas_saved[:] = [getter() for _, getter in controls]
        _blas_limits.append(max(1, limit))
        _apply_blas_limits()
    try:
        yield
    finally:
        with _blas_lock:
            _blas_limits.remove(max(1, limit))
            _apply_blas_limits()


def blas_thread_count() -> int | None:
    """The thread count of the first loaded OpenBLAS (None if none is found)."""
    controls = blas_controls()
    return controls[0][1]() if controls else None


def _reset_after_fork() -> None:
    """A forked child has no open BLAS blocks and no helper threads (they stayed in the
    parent, and the copied pool would queue work no thread takes)."""
    global _blas_lock, _helpers, _helpers_lock
    _helpers, _helpers_lock = None, threading.Lock()
    _blas_lock = threading.Lock()
    if _blas_limits:
        _blas_limits.clear()
        _apply_blas_limits()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
