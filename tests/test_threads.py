"""The thread share: a batch worker's core work stays on its share of the cores."""

from __future__ import annotations

import threading

import pytest

from convcli import _threads
from convcli.core._strips import run_bands


@pytest.fixture
def share():
    yield _threads.set_thread_share
    _threads.set_thread_share(None)


def shares(bands: int) -> list[tuple[int, int]]:
    """How ``run_bands`` (parallel) splits ``bands`` bands: (bands, thread) per worker."""
    calls: list[tuple[int, int]] = []
    work = lambda share: calls.append((len(share), threading.get_ident()))  # noqa: E731
    run_bands([(k, k + 1) for k in range(bands)], work, True)
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
    assert [count for count, _ in shares(4)] == [2, 2]
    share(1)  # as a batch worker of `-j 2` on two cores
    assert shares(4) == [(4, threading.get_ident())]


def test_no_nested_threads_inside_ordered_map(monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    counts = list(_threads.ordered_map(lambda _: _threads.cpu_count(), range(4), threads=2))
    assert counts == [1, 1, 1, 1]
    nested = list(_threads.ordered_map(lambda _: len(shares(4)), range(2), threads=2))
    assert nested == [1, 1]
    assert _threads.cpu_count() == 2  # the calling thread is not capped
