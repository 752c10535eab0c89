"""Batch on Dask against the local worker pool, and object storage against local disk
(issue 16): ``convcli apply IN -k gaussian:2 -O OUT`` on many 1920x1080 JPEGs (or, with
``--small``, 640x400 ones: 0.26 MP, where Dask's cost per task weighs most).

Configurations (each a fresh ``convcli`` process, as a user runs it; interleaved, one
warm-up round first, medians):

- ``-j 2`` and ``-j 1``: the local worker pool (the peer);
- ``--dask local:2`` and ``--dask local:1``: a LocalCluster of worker processes started by
  the run (its start-up is part of the time, as a user pays it);
- the same four from a moto S3 server on 127.0.0.1 to it (``s3://bench/raw/`` ->
  ``s3://bench/out-N/``), for the cost of object storage per file.

Also the fixed cost of each engine: the same command on 2 files. From the two, the
per-file scheduling overhead of Dask is ``((T_dask(N) - T_dask(2)) - (T_j2(N) - T_j2(2))) /
(N - 2)`` in milliseconds (start-up excluded), and the throughput ratio
``dask local:2 / -j 2`` with and without start-up. The same differences of CPU time, of
the convcli process (with a LocalCluster's scheduler and nannies, which run in it) and
of its worker processes, give the CPU each engine spends per file: on a machine others
share, wall times move with their load, CPU times much less.

With ``--before DIR`` (a copy of convcli's code before a change: ``git archive REV | tar
-x -C DIR``), ``--dask local:2`` also runs with that code (``PYTHONPATH=DIR``), in the
same rounds: a change's effect under the same load.

    .venv/bin/python benchmarks/dask_batch.py [--files 200] [--runs 2] [--disk-only]
        [--before DIR] [--small]

Needs the test extra (dask[distributed], s3fs, moto[server]).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_process import make_photos  # noqa: E402  (the same 1080p photos as issue 5)

CONVCLI = [sys.executable, "-m", "convcli"]

#: Where every command runs: ``python -m convcli`` imports from its working directory
#: first, so run from a checkout the ``--before`` runs would get that checkout's convcli.
WORKDIR = tempfile.gettempdir()
STEP = "gaussian:2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, and CPU seconds of the convcli process (with a
    LocalCluster's scheduler and nannies, which live in it) and of its descendants (the
    pool's or the LocalCluster's worker processes, a fork server)."""

    seconds: float
    client: float
    workers: float


def adopt_orphans() -> None:
    """Make this process the subreaper of the runs' process trees (Linux): a fork server
    and the workers it forked outlive the convcli process that started them, and only a
    process that waits for them collects their CPU time."""
    import ctypes

    pr_set_child_subreaper = 36  # linux/prctl.h
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None or prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: the CPU columns would miss Dask's workers")


def reap_orphans(timeout: float = 30.0) -> None:
    """Wait for every process left from the last run (see :func:`adopt_orphans`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)
    sys.exit(f"processes of the last run still alive after {timeout:.0f} s")


def run(argv: list[str]) -> Sample:
    """One run (it must succeed). The CPU time of its whole process tree is exact: every
    process of it is waited for, by its parent or by this process (:func:`adopt_orphans`),
    so its time reaches this process's ``RUSAGE_CHILDREN``. The convcli process's own
    share is sampled every 0.1 s (its last tenth, as it exits, is missed); the workers'
    is the rest. Sampling the workers too missed each one's last tenth and showed Dask's
    workers spending 2-3 ms a file more than the pool's, which they do not."""
    import resource

    import psutil  # a dependency of distributed

    def tree_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = tree_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=WORKDIR)
    root = psutil.Process(process.pid)
    client = 0.0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            times = root.cpu_times()
            client = times.user + times.system
        time.sleep(0.1)
    stderr = process.stderr.read().decode() if process.stderr else ""
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {stderr}")
    reap_orphans()
    return Sample(seconds, client, tree_cpu() - before - client)


def configurations(source: str, engines: dict[str, list[str]]) -> dict[str, list[str]]:
    found = {}
    for label, extra in engines.items():
        prefix = extra[: extra.index("--dask")] if extra[:1] == ["env"] else []  # --before
        options = extra[len(prefix) :]
        found[label] = [*prefix, *CONVCLI, "apply", source, "-k", STEP, "-O", "OUT", "-q"]
        found[label] += options
    return found


ENGINES = {
    "-j 2": ["-j", "2"],
    "--dask local:2": ["--dask", "local:2"],
    "-j 1": ["-j", "1"],
    "--dask local:1": ["--dask", "local:1"],
}

#: ``--dask local:2`` with the code of ``--before DIR``.
BEFORE = "local:2, before"

#: From S3, the engines that tell the cost of storage (1 worker on Dask adds nothing new).
S3_ENGINES = {label: ENGINES[label] for label in ("-j 2", "--dask local:2", "-j 1")}


def measure(
    many: dict[str, list[str]],
    few: dict[str, list[str]],
    runs: int,
    out_for: Callable[[str, int], str],
    clean: Callable[[str], None],
) -> tuple[dict[str, Sample], dict[str, Sample]]:
    """Medians (of each field) per label on the many files and on two, the runs
    interleaved; the warm-up round (page cache, imports) runs the two-file commands only."""
    samples: dict[str, list[Sample]] = {
        f"{kind} {label}": [] for kind in ("many", "few") for label in many
    }
    for round_index in range(runs + 1):
        for kind, commands in (("few", few), ("many", many)):
            if round_index == 0 and kind == "many":
                continue
            for label, argv in commands.items():
                out = out_for(f"{kind}-{label}", round_index)
                sample = run([out if arg == "OUT" else arg for arg in argv])
                clean(out)
                if round_index:
                    samples[f"{kind} {label}"].append(sample)
    median = {
        key: Sample(*map(statistics.median, zip(*map(astuple, values), strict=True)))
        for key, values in samples.items()
    }
    return (
        {label: median[f"many {label}"] for label in many},
        {label: median[f"few {label}"] for label in many},
    )


def per_file(many: Sample, few: Sample, files: int) -> Sample:
    """Milliseconds per file beyond the fixed cost: ``(many - few) / (files - 2)``."""
    pairs = zip(astuple(many), astuple(few), strict=True)
    return Sample(*((m - f) / (files - 2) * 1000 for m, f in pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--disk-only", action="store_true", help="leave S3 out")
    parser.add_argument("--before", type=Path, help="also --dask local:2 with the code in DIR")
    parser.add_argument("--small", action="store_true", help="640x400 JPEGs, not 1920x1080")
    args = parser.parse_args()
    adopt_orphans()
    engines, s3_engines = dict(ENGINES), dict(S3_ENGINES)
    if args.before is not None:
        # env(1) execs the interpreter: the process measured is still convcli's.
        before = ["env", f"PYTHONPATH={args.before.resolve()}"]
        engines[BEFORE] = s3_engines[BEFORE] = [*before, *ENGINES["--dask local:2"]]

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir("bench")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        if args.before is not None:
            check_before(engines[BEFORE][:2], args.before.resolve())
        big, small = root / "in", root / "in2"
        big.mkdir()
        small.mkdir()
        if args.small:
            from dask_tasks import make_small  # the small images dask_tasks.py measures

            photos = root / "photos"
            photos.mkdir()
            make_photos(photos, min(args.files, 20))
            make_small(photos, big, args.files)
        else:
            make_photos(big, args.files)
        for path in sorted(big.iterdir())[:2]:
            shutil.copy(path, small / path.name)
        for path in sorted(big.iterdir()):
            fs.pipe_file(f"bench/raw/{path.name}", path.read_bytes())
        for path in sorted(small.iterdir()):
            fs.pipe_file(f"bench/raw2/{path.name}", path.read_bytes())

        def local_out(label: str, index: int) -> str:
            return str(root / f"out-{index}-{label.replace(' ', '_').replace(':', '')}")

        def s3_out(label: str, index: int) -> str:
            return f"s3://bench/out-{index}-{label.replace(' ', '_').replace(':', '')}/"

        def clean(out: str) -> None:
            if out.startswith("s3://"):
                fs.rm(out[5:], recursive=True)
            else:
                shutil.rmtree(out)

        results = {}
        load = os.getloadavg()[0]
        for where, source, source2, out_for, chosen in (
            ("disk", str(big), str(small), local_out, engines),
            ("S3", "s3://bench/raw/", "s3://bench/raw2/", s3_out, s3_engines),
        )[: 1 if args.disk_only else 2]:
            results[where] = measure(
                configurations(source, chosen),
                configurations(source2, chosen),
                args.runs,
                out_for,
                clean,
            )
            print(where, "done", flush=True)
    server.stop()
    print(f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    report(results, args.files, args.runs, "640x400" if args.small else "1920x1080")


def check_before(env: list[str], tree: Path) -> None:
    """Exit unless ``env`` (``env PYTHONPATH=DIR``) makes Python import DIR's convcli."""
    code = "import convcli; print(convcli.__file__)"
    found = subprocess.run(
        [*env, sys.executable, "-c", code], capture_output=True, text=True, cwd=WORKDIR
    )
    if not found.stdout.startswith(str(tree)):
        sys.exit(f"--before {tree}: Python imports {found.stdout.strip() or found.stderr}")


def report(
    results: dict[str, tuple[dict[str, Sample], dict[str, Sample]]], n: int, runs: int, size: str
) -> None:
    print(f"{n} JPEGs {size}, -k {STEP}, medians of {runs} interleaved runs")
    print("ms/file: (T(N) - T(2)) / (N - 2); CPU: the convcli process, its worker processes")
    print(
        f"{'from/to':8} {'engine':16} {'seconds':>8} {'files/s':>8} {'2 files':>8} "
        f"{'ms/file':>8} {'CPU client':>10} {'CPU workers':>11}"
    )
    for where, (many, few) in results.items():
        for label in many:
            cost = per_file(many[label], few[label], n)
            print(
                f"{where:8} {label:16} {many[label].seconds:8.2f} {n / many[label].seconds:8.1f} "
                f"{few[label].seconds:8.2f} {cost.seconds:8.1f} {cost.client:10.1f} "
                f"{cost.workers:11.1f}"
            )
    for where, (many, few) in results.items():
        pool, dask = (per_file(many[label], few[label], n) for label in ("-j 2", "--dask local:2"))
        ratio = many["-j 2"].seconds / many["--dask local:2"].seconds
        steady = pool.seconds / dask.seconds
        cpu = (dask.client + dask.workers) - (pool.client + pool.workers)
        # local:1 runs from disk only (S3_ENGINES): no 1 -> 2 figure where it did not run.
        scaling = ""
        if "--dask local:1" in many:
            one_to_two = many["--dask local:1"].seconds / many["--dask local:2"].seconds
            scaling = f"1 -> 2 Dask workers {one_to_two:.2f}x; "
        print(
            f"{where}: dask local:2 / -j 2 throughput {ratio:.2f}x with start-up, "
            f"{steady:.2f}x without; Dask overhead {dask.seconds - pool.seconds:+.1f} ms/file "
            f"on 2 workers, CPU {cpu:+.1f} ms/file (client {dask.client - pool.client:+.1f}, "
            f"workers {dask.workers - pool.workers:+.1f}); {scaling}-j 1 -> -j 2 "
            f"{many['-j 1'].seconds / many['-j 2'].seconds:.2f}x"
        )
    for where, (many, few) in results.items():
        if BEFORE not in many:
            continue
        old, new = (per_file(many[label], few[label], n) for label in (BEFORE, "--dask local:2"))
        print(
            f"{where}: --dask local:2 before -> now: {many[BEFORE].seconds:.2f} -> "
            f"{many['--dask local:2'].seconds:.2f} s ({n} files), {few[BEFORE].seconds:.2f} -> "
            f"{few['--dask local:2'].seconds:.2f} s (2 files), {old.seconds:.1f} -> "
            f"{new.seconds:.1f} ms/file; / -j 2 with start-up "
            f"{many['-j 2'].seconds / many[BEFORE].seconds:.2f}x -> "
            f"{many['-j 2'].seconds / many['--dask local:2'].seconds:.2f}x"
        )
    if "S3" not in results:
        return
    disk, s3 = results["disk"][0], results["S3"][0]
    for label in ("-j 1", "-j 2", "--dask local:2"):
        cost = (s3[label].seconds - disk[label].seconds) / n * 1000
        print(f"S3 (moto, 127.0.0.1) minus disk, {label}: {cost:+.1f} ms/file")


if __name__ == "__main__":
    main()
