"""Several files per Dask task, or one (issue 16): what would a task of k files save?

One LocalCluster of two workers, started as ``--dask local:2`` starts it
(:func:`convcli.cluster.connect`), runs the same files again and again, its start-up out
of every figure; the runs are interleaved (one warm-up round first), medians:

- ``files/task = k``: ``client.map`` of tasks of k files each (convcli's task,
  :func:`convcli.cluster.run_files`, runs its files in turn and returns their
  outcomes), results gathered with ``as_completed``; k = 1 is one task per file,
  without convcli's bookkeeping;
- ``convcli (DaskRun.run)``: convcli's own Dask path on the same cluster (its tasks of
  :func:`convcli.cluster.files_per_task` files, printed in the label, results recorded
  file by file and let go in batches, retry counts read from the scheduler);
- ``-j 2 (peer)``: :func:`convcli.batch.run_batch` with ``jobs=2``, the local worker pool
  (its two workers forked for each run: ~0.1 s of its figure).

Two sets of files: 1920x1080 JPEGs (the issue's photos: ~100 ms of one core each for
``gaussian:2``) and 640x400 JPEGs (0.26 MP, where the filter is cheap and Dask's
overhead per file weighs most). Printed: seconds, milliseconds per file, and the CPU
milliseconds per file of this process (the client, the scheduler and the nannies of a
LocalCluster run in it) and of the worker processes.

    .venv/bin/python benchmarks/dask_tasks.py [--files 120] [--small 400] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_process import make_photos  # noqa: E402  (the same 1080p photos as issue 5)

STEP = "gaussian:2"
CHUNKS = (1, 4, 8, 16)
Sample = tuple[float, float, float]  # seconds; CPU seconds here, in the workers


def make_small(big: Path, folder: Path, count: int) -> None:
    """``count`` 640x400 JPEGs (quality 90): the 1080p photos scaled down, cycled."""
    from PIL import Image

    photos = sorted(big.iterdir())
    for index in range(count):
        with Image.open(photos[index % len(photos)]) as photo:
            small = photo.resize((640 + index % 7, 400), Image.Resampling.BILINEAR)
        small.save(folder / f"small{index:04d}.jpg", quality=90)


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process, and of its descendants alive now plus those it reaped
    (a pool's workers)."""
    import psutil

    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    children = 0.0
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone meanwhile
            children += sum(child.cpu_times()[:2])
    reaped = os.times()
    return own, children + reaped.children_user + reaped.children_system


def chunked(run: Any, sources: list[str], outputs: list[str], k: int, steps, options) -> None:
    """Tasks of ``k`` files on the cluster, all gathered."""
    from distributed import as_completed

    from convcli import __version__
    from convcli.cluster import run_files

    groups = range(0, len(sources), k)
    futures = run.client.map(
        run_files,
        [sources[start : start + k] for start in groups],
        [outputs[start : start + k] for start in groups],
        steps=steps,
        options=options,
        version=__version__,
        pure=False,
    )
    for _future, outcomes in as_completed(futures, with_results=True):
        assert all(outcome[0] == "done" for outcome in outcomes), outcomes


#: The peer, in a process of its own (the pool forks its workers, and this process runs
#: Dask's threads): argv = sources file, output folder; prints seconds and CPU seconds of
#: that process and of its (reaped) workers, its start-up excluded.
POOL = r"""
import os, sys, time
from dataclasses import replace
from convcli.batch import BatchItem, run_batch
from convcli.kernels import parse_step
from convcli.process import ApplyOptions
sources = open(sys.argv[1]).read().split("\n")
items = [BatchItem(s, os.path.join(sys.argv[2], os.path.basename(s) + ".out.jpg"))
         for s in sources]
before, started = os.times(), time.perf_counter()
report = run_batch(items, [parse_step("gaussian:2")], replace(ApplyOptions(), threads=1), jobs=2)
seconds, after = time.perf_counter() - started, os.times()
assert report.count("done") == len(items)
print(seconds, after.user + after.system - before.user - before.system,
      after.children_user + after.children_system - before.children_user
      - before.children_system)
"""


def configurations(run: Any, steps, options) -> dict[str, Callable[[list[str], str], Sample]]:
    """What each configuration runs on (sources, output folder): its seconds and CPU."""
    import subprocess
    from types import SimpleNamespace

    def timed(work: Callable[[], None]) -> Sample:
        own, children = cpu_seconds()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        own_after, children_after = cpu_seconds()
        return seconds, own_after - own, children_after - children

    def convcli_dask(sources: list[str], out: str) -> Sample:
        items = [SimpleNamespace(input=s, output=target(out, s), retries=0) for s in sources]
        return timed(lambda: run.run(items, steps, options, lambda item, outcome: False))

    def pool(sources: list[str], out: str) -> Sample:
        listing = Path(out).with_suffix(".txt")
        listing.write_text("\n".join(sources))
        done = subprocess.run(
            [sys.executable, "-c", POOL, str(listing), out], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        seconds, own, workers = map(float, done.stdout.split())
        return seconds, own, workers

    found: dict[str, Callable[[list[str], str], Sample]] = {
        f"files/task = {k}": (
            lambda sources, out, k=k: timed(
                lambda: chunked(run, sources, [target(out, s) for s in sources], k, steps, options)
            )
        )
        for k in CHUNKS
    }
    found["convcli (DaskRun.run)"] = convcli_dask
    found["-j 2 (peer)"] = pool
    return found


def target(out: str, source: str) -> str:
    return os.path.join(out, os.path.basename(source) + ".out.jpg")


def measure(folder: Path, out: Path, runs: int, work: dict[str, Callable]) -> dict[str, list]:
    sources = [str(path) for path in sorted(folder.iterdir())]
    samples: dict[str, list[Sample]] = {label: [] for label in work}
    for round_index in range(runs + 1):  # round 0: warm-up
        for label, function in work.items():
            out.mkdir()
            sample = function(sources, str(out))
            assert len(os.listdir(out)) == len(sources)
            shutil.rmtree(out)
            if round_index:
                samples[label].append(sample)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from dataclasses import replace

    from convcli import cluster
    from convcli.kernels import parse_step
    from convcli.process import ApplyOptions

    steps, options = [parse_step(STEP)], replace(ApplyOptions(), threads=1)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        big, small = root / "big", root / "small"
        big.mkdir()
        small.mkdir()
        make_photos(big, args.files)
        make_small(big, small, args.small)
        load = os.getloadavg()[0]
        run = cluster.connect("local:2")
        try:
            work = configurations(run, steps, options)
            results = {
                name: measure(folder, root / "out", args.runs, work)
                for name, folder in (("1920x1080", big), ("640x400", small))
            }
        finally:
            run.close()
    print(
        f"{STEP}, LocalCluster of 2 workers (its start-up excluded), medians of {args.runs} "
        f"interleaved runs; load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"{'images':10} {'configuration':22} {'seconds':>8} {'ms/file':>8} "
          f"{'CPU ms/file here':>16} {'CPU ms/file workers':>19}")  # fmt: skip
    for name, samples in results.items():
        files = args.files if name == "1920x1080" else args.small
        print(f"{name}: convcli's tasks hold {cluster.files_per_task(files, 2)} files each")
        for label, values in samples.items():
            columns = zip(*values, strict=True)
            seconds, own, workers = (statistics.median(column) for column in columns)
            print(
                f"{name:10} {label:22} {seconds:8.2f} {seconds / files * 1000:8.1f} "
                f"{own / files * 1000:16.1f} {workers / files * 1000:19.1f}"
            )


if __name__ == "__main__":
    main()
