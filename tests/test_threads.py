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


def test_a_batch_process_keeps_freed_memory_for_the_next_call():
    # Each call of the core allocates megabytes of scratch (bands, padded blocks, the
    # result); glibc gave them back to the kernel and faulted them in again page by page
    # (17,701 minor faults for 10 calls on 512x512 RGB here). A batch process asks it to
    # keep them: then nothing is faulted in again.
    import subprocess
    import sys

    code = (
        "import resource, numpy as np\n"
        "from convcli._threads import keep_freed_memory\n"
        "from convcli.core import conv2d\n"
        "assert keep_freed_memory()\n"
        "x = np.random.default_rng(0).random((3, 512, 512), dtype=np.float32)\n"
        "w = np.ones((3, 1, 5, 5), np.float32) / 25\n"
        "call = lambda: conv2d(x, w, padding='same', groups=3, padding_mode='reflect')\n"
        "for _ in range(3): call()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(10): call()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 100


def test_the_in_process_batch_asks_to_keep_freed_memory(monkeypatch, tmp_path):
    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from convcli import batch
    from convcli.cli import app

    asked = []
    monkeypatch.setattr(batch, "keep_freed_memory", lambda: asked.append(True) or True)
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "in" / "a.png")
    args = ["apply", str(tmp_path / "in"), "-k", "box:3", "-O", str(tmp_path / "out"), "-j", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert asked == [True]
