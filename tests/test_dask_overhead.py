"""What a Dask batch costs besides its files (issue 16's per-file overhead): recorded
results are let go in batches, not with a round trip to the scheduler per file, yet never
held long; the LocalCluster convcli starts runs no profiler and wakes its servers' event
loops seldom, and Dask's settings are back as they were after the run.

The batching is checked on a LocalCluster of threads in this process (its scheduler is
the test's to look at); the settings on a LocalCluster of processes in a child process
(a fork server lives as long as the process that started it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from convcli import cluster
from convcli.kernels import parse_step
from convcli.process import ApplyOptions
from tests.conftest import wait_for

STEPS = [parse_step("box:3")]


def small_images(folder: Path, count: int) -> list[SimpleNamespace]:
    """``count`` distinct small PNGs as batch items (what :meth:`DaskRun.run` reads of
    :class:`convcli.batch.BatchItem`: input, output, retries)."""
    folder.mkdir()
    rng = np.random.default_rng(count)
    items = []
    for index in range(count):
        path = folder / f"in{index:02d}.png"
        Image.fromarray(rng.integers(0, 256, (24, 24 + index), dtype=np.uint8)).save(path)
        items.append(
            SimpleNamespace(input=str(path), output=str(folder / f"out{index:02d}.png"), retries=0)
        )
    return items


@pytest.fixture
def threads_run():
    """A :class:`convcli.cluster.DaskRun` on a LocalCluster of two one-thread workers in
    this process, its round trips to the scheduler counted; and the scheduler."""
    from distributed import Client, LocalCluster

    local = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=50,
    )  # fmt: skip
    client = Client(local)
    run = cluster.DaskRun(client, None, "threads")
    asked = []
    ask = client.run_on_scheduler

    def counted(function, *args, **kwargs):
        asked.append(function.__name__)
        return ask(function, *args, **kwargs)

    client.run_on_scheduler = counted
    try:
        yield run, local.scheduler, asked
    finally:
        run.close()
        local.close()


def test_results_are_let_go_in_batches_not_one_round_trip_per_file(
    tmp_path, monkeypatch, threads_run
):
    run, scheduler, asked = threads_run
    monkeypatch.setattr(cluster, "LET_GO_SECONDS", 3600.0)  # by count only, here
    monkeypatch.setattr(cluster, "LET_GO_COUNT", 16)
    items = small_images(tmp_path / "in", 40)
    outcomes = {}
    stopped = run.run(  # a task a file: 40 results
        items,
        STEPS,
        ApplyOptions(),
        lambda item, o: outcomes.update({item.output: o}),
        per_task=1,
    )
    assert not stopped
    assert sorted(outcomes) == [item.output for item in items]
    assert {outcome[0] for outcome in outcomes.values()} == {"done"}
    assert all(Path(item.output).is_file() and item.retries == 0 for item in items)
    # 16 + 16 let go as they filled up, the last 8 at the end: three round trips (one
    # per result before), and the scheduler forgot every task.
    assert asked == ["count"] * 3
    wait_for(lambda: not scheduler.tasks, "an empty scheduler", deadline=30)


def test_a_recorded_result_is_let_go_while_no_other_result_comes(
    tmp_path, monkeypatch, threads_run
):
    """The window in which a recorded result stays on the scheduler (computed again if
    its worker died) is bounded in time: here the batch's only result is let go while
    ``record`` still holds the loop that would otherwise let it go next."""
    run, scheduler, asked = threads_run
    monkeypatch.setattr(cluster, "LET_GO_SECONDS", 0.05)
    items = small_images(tmp_path / "in", 1)
    seen = []

    def record(item, outcome):
        wait_for(lambda: not scheduler.tasks, "release of the recorded result", deadline=30)
        seen.append(outcome[0])
        return False

    run.run(items, STEPS, ApplyOptions(), record)
    assert seen == ["done"] and asked[0] == "count"


SETTINGS_SEEN = """
import json
import dask
import distributed  # its defaults join dask.config on import
from convcli import cluster

KEYS = ("distributed.worker.profile.enabled", "distributed.admin.tick.interval",
        "distributed.admin.system-monitor.interval", "distributed.admin.system-monitor.disk")

def callbacks(dask_worker=None, dask_scheduler=None):
    server = dask_worker or dask_scheduler
    return {name: callback.callback_time for name, callback in server.periodic_callbacks.items()
            if name in ("profile", "profile-cycle", "tick", "monitor")}

if __name__ == "__main__":
    before = [dask.config.get(key) for key in KEYS]
    run = cluster.connect("local:1")
    seen = {"workers": list(run.client.run(callbacks).values()),
            "scheduler": run.client.run_on_scheduler(callbacks)}
    run.close()
    print(json.dumps({**seen, "before": before, "after": [dask.config.get(key) for key in KEYS]}))
"""


def test_the_localcluster_runs_no_profiler_and_wakes_its_servers_seldom(tmp_path):
    script = tmp_path / "seen.py"  # a file: the fork server re-imports __main__ by path
    script.write_text(SETTINGS_SEEN)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    # Milliseconds between wake-ups: no profiler (Dask's: every 10 ms), the tick every
    # second (Dask's: 20 ms), the system monitor every 5 s (Dask's: 0.5 s).
    assert seen["workers"] == [{"tick": 1000, "monitor": 5000}]
    assert seen["scheduler"] == {"tick": 1000, "monitor": 5000}
    # Dask's own settings again after the run.
    assert seen["before"] == seen["after"] == [True, "20ms", "500ms", True]
