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
    calls = shares(4)  # two workers (a worker may find every band taken: trivial work)
    assert len(calls) == 2 and sum(count for count, _ in calls) == 4
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
