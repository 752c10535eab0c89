"""Where a ``--dask local:2`` run's start-up goes (issue 16): the phases of convcli's
LocalCluster, its workers spawned (Dask's default) or forked from a fork server that
imported convcli once (what convcli does), each run in a fresh process, interleaved.

Phases: ``import distributed`` in the client; the LocalCluster up (scheduler, nannies,
worker processes registered) with the client connected and the workers' convcli version
checked; the first file on each worker (one 1080p JPEG each, Gaussian sigma 2: the
worker's own imports land here when they were not done before); a second file on each
(the steady state, for comparison); closing the cluster.

    .venv/bin/python benchmarks/dask_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
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
    from distributed import Client, LocalCluster
    mark("import distributed")
    if method == "forkserver":
        settings = cluster._local_settings(())
    else:  # Dask's default start method, with convcli's other settings
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
                cluster.run_file, [str(path) for path in photos[2 * index: 2 * index + 2]],
                [f"{out}/{name[0]}{i}.jpg" for i in range(2)],
                steps=steps, options=options, version=__version__, pure=False)
            assert [f.result()[0] for f in futures] == ["done", "done"]
            mark(name)
        run.close()
        mark("close")
    print(json.dumps(seconds))

if __name__ == "__main__":
    main()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, dict[str, list[float]]] = {
        method: {phase: [] for phase in PHASES} for method in ("spawn", "forkserver")
    }
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "in").mkdir()
        make_photos(root / "in", 4)
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
