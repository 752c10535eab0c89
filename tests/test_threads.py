"""The thread share: a batch worker's core work stays on its share of the cores."""

from __future__ import annotations

import threading

import pytest

from convcli import _threads
from convcli.core._strips import _BandQueue, run_bands


@pytest.fixture
def share():
    yield _threads.set_thread_share
    _threads.set_thread_share(None)


def shares(bands: int) -> list[tuple[int, int]]:
    """How ``run_bands`` (parallel) shares ``bands`` bands: (bands, thread) per worker."""
    calls: list[tuple[int, int]] = []
    taken: list[tuple[int, int]] = []

    def work(share):
        mine = list(share)
        taken.extend(mine)
        calls.append((len(mine), threading.get_ident()))

    run_bands([(k, k + 1) for k in range(bands)], work, True)
    assert sorted(taken) == [(k, k + 1) for k in range(bands)]  # each band exactly once
    return calls


def test_share_caps_cpu_count(share, monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    assert _threads.cpu_count() == 4
    share(2)
    assert _threads.cpu_count() == 2
    share(0)
    assert _threads.cpu_count() == 1
    share(None)
    assert _threads.cpu_count() == 4


def test_core_bands_honour_the_share(share, monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    seen: list[int] = []  # two threads: this one and a helper
    run_bands([(k, k + 1) for k in range(4)], _two_threads_work(threading.get_ident(), seen), True)
    assert len(seen) == 4 and len(set(seen)) == 2
    share(1)  # as a batch worker of `-j 2` on two cores
    assert shares(4) == [(4, threading.get_ident())]


def test_no_nested_threads_inside_ordered_map(monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    counts = list(_threads.ordered_map(lambda _: _threads.cpu_count(), range(4), threads=2))
    assert counts == [1, 1, 1, 1]
    nested = list(_threads.ordered_map(lambda _: len(shares(4)), range(2), threads=2))
    assert nested == [1, 1]
    assert _threads.cpu_count() == 2  # the calling thread is not capped


def test_bands_go_to_the_thread_that_is_free(monkeypatch):
    """A thread held up on its first band (as by a core lost to another process) does
    not keep a fixed share: the other thread takes every remaining band. With the old
    round-robin split this waited for bands that only the held thread would run."""
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    others_done = threading.Event()
    done: list[tuple[int, int]] = []
    lock = threading.Lock()
    held: list[bool] = []

    def work(share):
        for band in share:
            if band == (0, 1):
                held.append(others_done.wait(timeout=30))
                continue
            with lock:
                done.append(band)
                if len(done) == 9:
                    others_done.set()

    run_bands([(k, k + 1) for k in range(10)], work, True)
    assert held == [True]
    assert sorted(done) == [(k, k + 1) for k in range(1, 10)]


def test_a_failing_band_stops_the_handing_out(monkeypatch):
    """After one thread's work fails, the other threads get no further band."""
    queue = _BandQueue([(k, k + 1) for k in range(5)])

    def failing(share):
        for band in share:
            raise RuntimeError(f"band {band} failed")

    with pytest.raises(RuntimeError, match=r"band \(0, 1\) failed"):
        queue.run(failing)
    assert list(queue.take()) == []
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})

    def boom(share):
        for band in share:
            if band == (3, 4):
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):  # raised again in the calling thread
        run_bands([(k, k + 1) for k in range(8)], boom, True)


def _two_threads_work(caller: int, seen: list[int]):
    """Work that needs two threads: the calling thread's first band and a helper's each
    wait until the other thread has taken one (so neither can take every band alone)."""
    took = {True: threading.Event(), False: threading.Event()}  # by "is the caller"

    def work(share):
        for _band in share:
            me = threading.get_ident()
            seen.append(me)
            took[me == caller].set()
            assert took[me != caller].wait(timeout=30)

    return work


def test_the_calling_thread_takes_bands_beside_kept_helpers(monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    run_bands([(k, k + 1) for k in range(6)], lambda share: list(share), True)  # warm
    threads_before = threading.active_count()
    for _ in range(3):
        seen: list[int] = []
        run_bands(
            [(k, k + 1) for k in range(6)], _two_threads_work(threading.get_ident(), seen), True
        )
        assert len(seen) == 6 and threading.get_ident() in seen and len(set(seen)) == 2
    assert threading.active_count() == threads_before  # no thread started per call
    names = {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}
    assert "convcli-band" in names


def test_a_helper_not_started_is_not_waited_for(monkeypatch):
    """With every helper thread busy (another caller's work, or a core lost to another
    process), this thread runs all the bands and returns without waiting."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    busy_pool = ThreadPoolExecutor(1)
    release = threading.Event()
    busy_pool.submit(release.wait, 30)
    monkeypatch.setattr(_threads, "_helpers", busy_pool)
    taken: list[tuple[int, int]] = []
    caller = threading.Thread(target=run_bands, args=([(0, 1), (1, 2)], taken.extend, True))
    caller.start()
    caller.join(timeout=30)
    finished = not caller.is_alive()
    release.set()
    busy_pool.shutdown()
    assert finished and taken == [(0, 1), (1, 2)]


def test_a_forked_child_has_helper_threads_of_its_own(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    run_bands([(k, k + 1) for k in range(4)], lambda share: list(share), True)  # parent's pool
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()

    def child() -> None:
        seen: list[int] = []
        run_bands(
            [(k, k + 1) for k in range(4)], _two_threads_work(threading.get_ident(), seen), True
        )
        child_end.send(len(set(seen)))

    process = context.Process(target=child)
    process.start()
    assert parent_end.poll(60) and parent_end.recv() == 2
    process.join(timeout=30)
    assert process.exitcode == 0
