"""A local batch's processes keep the memory they free between files
(:func:`convcli._threads.keep_freed_memory`): the next file's arrays reuse it instead of
faulting every page in again (issue 14: a quarter of a ``-j 2`` worker's CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from convcli import batch
from convcli.kernels import parse_step

FAULTS = """
import resource, sys, threading
import numpy as np
from convcli._threads import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()


def one_file():  # image-sized arrays freed out of order, as a filter's temporaries are
    image = np.ones(25 << 20, np.uint8)
    planes = np.ones(6 << 20, np.uint8)
    padded = np.ones(25 << 20, np.uint8)
    del image
    arrays = [planes, padded, np.ones(12 << 20, np.uint8), np.ones(25 << 20, np.uint8)]
    return sum(int(a[::4096].sum()) for a in arrays)


def files():
    for _ in range(3):  # warm up: the heap grows, glibc's thresholds settle
        one_file()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        one_file()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


if sys.argv[2] == "thread":  # a Dask worker's task thread: an arena of its own
    thread = threading.Thread(target=files)
    thread.start()
    thread.join()
else:
    files()
"""


def page_faults(mode: str, where: str = "main") -> int:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, mode, where], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_freed_arrays_are_reused_without_page_faults():
    """Ten "files" of image-sized arrays (6 to 25 MB): with glibc's defaults the freed
    memory goes back to the kernel and is faulted in again (~10,000 faults here, where
    NumPy asks for huge pages; more without them); kept, the next file reuses it."""
    assert page_faults("default") > 5_000
    assert page_faults("keep") < 500


def test_a_thread_keeps_its_freed_memory_too():
    """Another thread allocates from its own arena of 64 MB heaps, which glibc unmaps
    once free whatever the trim threshold: the top pad keeps them (a Dask worker's task
    thread, the core's band threads)."""
    assert page_faults("default", "thread") > 5_000
    assert page_faults("keep", "thread") < 500


def test_local_batch_processes_keep_freed_memory(tmp_path, monkeypatch):
    """-j 1 asks in this process, -j 2 in each worker (forked: the patch goes with it)."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def mark() -> bool:
        (marks / str(os.getpid())).touch()
        return True

    monkeypatch.setattr(batch, "keep_freed_memory", mark)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for index in range(4):
        Image.fromarray(pixels).save(tmp_path / f"in{index}.png")
    steps = [parse_step("box:3")]
    for jobs in (1, 2):
        inputs = batch.find_inputs(sorted(str(path) for path in tmp_path.glob("in*.png")))
        items = batch.plan_batch(inputs, str(tmp_path / f"out{jobs}"), steps)
        report = batch.run_batch(items, steps, jobs=jobs)
        assert [item.status for item in report.items] == ["done"] * 4
    pids = {int(name.name) for name in marks.iterdir()}
    assert os.getpid() in pids  # -j 1
    assert len(pids - {os.getpid()}) == 2  # the two workers of -j 2


def test_a_single_file_apply_keeps_freed_memory(cli, tmp_path, monkeypatch):
    """The command's own process filters one file and exits: it asks too (its bands'
    temporaries, an FFT's spectra); the library (process_one) never does."""
    from convcli import _threads, process

    asked: list[str] = []
    monkeypatch.setattr(_threads, "keep_freed_memory", lambda: asked.append("apply") or True)
    monkeypatch.setattr(batch, "keep_freed_memory", lambda: asked.append("batch") or True)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    process.process_one(str(tmp_path / "in.png"), str(tmp_path / "lib.png"), [parse_step("box:3")])
    assert asked == []
    result = cli("apply", tmp_path / "in.png", "-k", "box:3", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.stderr
    assert asked == ["apply"]
