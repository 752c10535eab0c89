"""Where a ``--dask local:2`` run's start-up goes (issue 16): the phases of convcli's
LocalCluster, its workers spawned (Dask's default) or forked from a fork server that
imported convcli once (what convcli does), each run in a fresh process, interleaved.

Phases: ``import distributed`` in the client (forked: after convcli's settings, which
start the fork server, as :func:`convcli.cluster.connect` does); the LocalCluster up
(scheduler, nannies, worker processes registered) with the client connected and the
workers' convcli version checked; the first file on each worker (one 1080p JPEG each,
Gaussian sigma 2: the worker's own imports land here when they were not done before); a
second file on each (the steady state, for comparison); closing the cluster.

With ``--before DIR`` (a copy of convcli's code before a change: ``git archive REV | tar
-x -C DIR``) it times the whole command as a user types it instead, ``convcli apply`` on
two 1080p JPEGs (``python -m convcli``, and the ``convcli`` script, which a forked or
spawned worker re-runs as its main module) with ``--dask local:2`` for the code in DIR
and for this tree, and with ``-j 2`` (the peer), each a fresh process, interleaved, with
the load average before and after.

    .venv/bin/python benchmarks/dask_startup.py [--runs 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_process import make_photos  # noqa: E402  (the same 1080p photos as issue 5)

PHASES = ("import distributed", "cluster up", "first file", "second file", "close")

#: One run, in a fresh process (a fork server lives as long as the process that started
#: it): argv = method, photo folder, output folder; prints the phases' seconds as JSON.
CHILD = r"""
import json, sys, time
from pathlib import Path

def main():
    method, photos, out = sys.argv[1:4]
    seconds, started = {}, time.perf_counter()
    def mark(name):
        nonlocal started
        now = time.perf_counter()
        seconds[name], started = now - started, now
    from convcli import __version__, cluster
    from convcli.kernels import parse_step
    from convcli.process import ApplyOptions
    started = time.perf_counter()
    import dask
    if method == "forkserver":  # as connect() does: the fork server first
        settings = cluster._local_settings(())
    from distributed import Client, LocalCluster
    mark("import distributed")
    if method != "forkserver":  # Dask's default start method, with convcli's other settings
        settings = dask.config.set(
            {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
             **cluster.QUIET_SETTINGS})
    with settings:
        local = cluster._local_cluster(LocalCluster, 2)
        run = cluster.DaskRun(Client(local), local, "local:2")
        run.client.wait_for_workers(2)
        run.check_versions()
        mark("cluster up")
        steps, options = [parse_step("gaussian:2")], ApplyOptions(threads=1)
        photos = sorted(Path(photos).iterdir())
        for index, name in enumerate(("first file", "second file")):
            futures = run.client.map(
                cluster.run_files, [[str(path)] for path in photos[2 * index: 2 * index + 2]],
                [[f"{out}/{name[0]}{i}.jpg"] for i in range(2)],
                steps=steps, options=options, version=__version__, pure=False)
            assert [f.result()[0][0] for f in futures] == ["done", "done"]
            mark(name)
        run.close()
        mark("close")
    print(json.dumps(seconds))

if __name__ == "__main__":
    main()
"""


def commands(root: Path, before: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The whole command on two files: argv (``OUT`` for the output folder) and the
    environment of each configuration (``PYTHONPATH`` picks the tree of the code)."""
    script = str(Path(sys.executable).with_name("convcli"))
    apply = ["apply", str(root / "in2"), "-k", "gaussian:2", "-O", "OUT", "-q"]
    dask = ["--dask", "local:2"]
    plain = {**os.environ, "PYTHONPATH": ""}
    old = {**os.environ, "PYTHONPATH": str(before)}
    found = {
        "-j 2 (peer)": ([sys.executable, "-m", "convcli", *apply, "-j", "2"], plain),
        "local:2, before": ([sys.executable, "-m", "convcli", *apply, *dask], old),
        "local:2, now": ([sys.executable, "-m", "convcli", *apply, *dask], plain),
    }
    if Path(script).is_file():
        found["local:2, before, convcli script"] = ([script, *apply, *dask], old)
        found["local:2, now, convcli script"] = ([script, *apply, *dask], plain)
    return found


def whole_command(root: Path, before: Path, runs: int) -> None:
    """Medians of the whole command per configuration (see the module docstring)."""
    (root / "in2").mkdir()
    for path in sorted((root / "in").iterdir())[:2]:
        shutil.copy(path, root / "in2" / path.name)
    configurations = commands(root, before)
    seconds: dict[str, list[float]] = {label: [] for label in configurations}
    load = os.getloadavg()[0]
    for round_index in range(runs + 1):  # round 0: warm-up
        for label, (argv, env) in configurations.items():
            out = root / "out"
            started = time.perf_counter()
            subprocess.run(
                [str(out) if arg == "OUT" else arg for arg in argv],
                env=env,
                check=True,
                cwd=tempfile.gettempdir(),  # see dask_batch.WORKDIR
            )
            if round_index:
                seconds[label].append(time.perf_counter() - started)
            shutil.rmtree(out)
    print(
        f"convcli apply on 2 JPEGs 1920x1080, -k gaussian:2, medians of {runs} interleaved "
        f"runs (load {load:.2f} -> {os.getloadavg()[0]:.2f})"
    )
    peer = statistics.median(seconds["-j 2 (peer)"])
    for label, values in seconds.items():
        median = statistics.median(values)
        print(f"{label:34} {median:6.2f} s  (+{median - peer:.2f} s over -j 2)  "
              f"[{min(values):.2f}-{max(values):.2f}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="time the whole command: this tree vs DIR")
    args = parser.parse_args()
    times: dict[str, dict[str, list[float]]] = {
        method: {phase: [] for phase in PHASES} for method in ("spawn", "forkserver")
    }
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "in").mkdir()
        make_photos(root / "in", 4)
        if args.before is not None:
            whole_command(root, args.before.resolve(), args.runs)
            return
        child = root / "child.py"  # a file: workers re-import __main__ by its path
        child.write_text(CHILD)
        for round_index in range(args.runs + 1):  # round 0: warm-up (page cache)
            for method in times:
                out = root / f"out-{method}-{round_index}"
                out.mkdir()
                argv = [sys.executable, str(child), method, str(root / "in"), str(out)]
                done = subprocess.run(argv, capture_output=True, text=True, check=True)
                if round_index:
                    for phase, seconds in json.loads(done.stdout).items():
                        times[method][phase].append(seconds)
    print(f"LocalCluster of 2 workers, medians of {args.runs} interleaved runs (seconds)")
    print(f"{'phase':20} {'spawn':>8} {'forkserver':>11}")
    for phase in PHASES:
        spawn, forked = (statistics.median(times[method][phase]) for method in times)
        print(f"{phase:20} {spawn:8.2f} {forked:11.2f}")
    total = {
        method: sum(statistics.median(times[method][phase]) for phase in PHASES if phase
                    != "second file")
        for method in times
    }  # fmt: skip
    print(f"{'start-up (no 2nd)':20} {total['spawn']:8.2f} {total['forkserver']:11.2f}")


if __name__ == "__main__":
    main()
