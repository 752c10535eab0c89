"""Several files per Dask task (issue 16): the size rule, and a batch of tasks of several
files on a real cluster (``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1: the fixtures of ``tests/conftest.py``) giving the outputs and the report of one
file per task, including when a file kills its workers in the middle of a task.

The library's :meth:`convcli.cluster.DaskRun.run` is called here with ``per_task`` to make
tasks of several files out of a few files; the CLI uses :func:`files_per_task` (at least
eight files a task when each worker thread still gets four tasks).
"""

from __future__ import annotations

import math
from pathlib import Path

from convcli import cluster
from convcli.batch import BatchInput, BatchItem, plan_batch, run_batch
from convcli.kernels import parse_step
from convcli.process import ApplyOptions
from tests.conftest import SERVER_DEADLINE as DEADLINE
from tests.test_dask_storage import big_images, killer_plugin, make_images, wait_for

STEPS = [parse_step("gaussian:2")]
OPTIONS = ApplyOptions()


def test_files_per_task_is_dasks_habit_for_a_sequence_but_at_least_eight():
    """About sqrt(n)/10 (dask.bag.from_sequence's partition size) but at least eight files
    a task, never so many that a worker thread gets fewer than four tasks."""
    sizes = {n: cluster.files_per_task(n, 2) for n in (1, 7, 20, 100, 400, 10_000, 1_000_000)}
    assert sizes == {1: 1, 7: 1, 20: 2, 100: 8, 400: 8, 10_000: 10, 1_000_000: 100}
    assert [cluster.files_per_task(n, 1) for n in (1, 31, 32, 100, 10_000)] == [1, 7, 8, 8, 10]
    # Many worker threads for the files: the size falls so that each gets four tasks.
    assert cluster.files_per_task(101, 12) == 2  # 51 tasks for 48 wanted
    assert cluster.files_per_task(101, 13) == 1  # 2 a task would give 51 < 52
    assert cluster.files_per_task(400, 50) == 2
    assert cluster.files_per_task(400, 51) == 1
    assert cluster.files_per_task(10_000, 300) == 8
    assert cluster.files_per_task(1_000_000, 10_000) == 25
    for files in (1, 7, 100, 101, 399, 400, 401, 5_000, 123_457):
        for threads in (1, 2, 3, 16, 80, 1_000):
            size = cluster.files_per_task(files, threads)
            tasks = math.ceil(files / size)
            most = files // (cluster.TASKS_PER_THREAD * threads)
            assert size == 1 or tasks >= cluster.TASKS_PER_THREAD * threads, (files, threads)
            assert size >= min(cluster.MIN_FILES_PER_TASK, most), (files, threads)


def test_files_per_task_matches_dask_bag_above_the_minimum():
    import dask.bag

    for files in (6_401, 10_000, 40_000, 250_000):  # sqrt(n)/10 > 8
        size = cluster.files_per_task(files, 1)
        assert dask.bag.from_sequence(range(files)).npartitions == math.ceil(files / size)


def test_a_task_is_judged_by_what_arrived_not_by_its_futures_status_now():
    """A worker that dies after a result reached the client takes the scheduler's copy
    with it: the future goes back to pending while Dask computes it again. The result
    that arrived stands (CI once reported a finished task's outcomes as a failure)."""
    from concurrent.futures import CancelledError

    class Future:  # what _outcomes reads of a distributed.Future
        key = "run_files-1"
        status = "pending"

    run = cluster.DaskRun(client=None, cluster=None, label="local:2")
    task = cluster._Task([object(), object()])
    outcomes = [("done", None, None, [], 0.1), ("failed", "not an image", None, [], 0.0)]
    assert run._outcomes(Future(), list(outcomes), set(), task) == outcomes
    erred = (ValueError, ValueError("boom"), None)
    assert run._outcomes(Future(), erred, set(), task) is None  # run again one per file
    cancelled = run._outcomes(Future(), CancelledError("run_files-1"), set(), task)
    assert [outcome[:2] for outcome in cancelled] == [("failed", "CancelledError: run_files-1")] * 2


# ----------------------------------------------------------------------------- on a cluster


def plan(folder: Path, out: Path, names: list[str]) -> list[BatchItem]:
    """The batch's items for these files of ``folder``, in this order (a task holds the
    files that follow each other)."""
    return plan_batch([BatchInput(str(folder / name)) for name in names], out, STEPS, OPTIONS)


def run_tasks(address: str, items: list[BatchItem], per_task: int | None) -> list[tuple]:
    """``items`` through :meth:`DaskRun.run` (with ``per_task``), as run_batch records them;
    what the report says of each file, in input order."""
    order = []

    def record(item: BatchItem, outcome) -> bool:
        item.status, item.error, item.note, item.notes, item.seconds = outcome
        order.append(item)
        return False

    Path(items[0].output).parent.mkdir(parents=True, exist_ok=True)  # run_batch's part
    run = cluster.connect(address)
    try:
        assert run.run(items, STEPS, OPTIONS, record, per_task=per_task) is False
    finally:
        run.close()
    assert sorted(item.input for item in order) == sorted(item.input for item in items)
    return [
        (Path(item.input).name, item.status, item.error, item.note, item.retries) for item in items
    ]


def outputs(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in out.iterdir()}


def reference(folder: Path, out: Path, names: list[str]) -> dict[str, bytes]:
    """The outputs of ``-j 1`` in this process."""
    run_batch(plan(folder, out, names), STEPS, OPTIONS, jobs=1)
    return outputs(out)


def task_sizes(monkeypatch) -> list[int]:
    """The number of files of each task submitted from now on, in order."""
    sizes: list[int] = []
    submit = cluster.DaskRun._submit

    def spy(self, tasks, steps, options):
        sizes.extend(len(task.items) for task in tasks)
        return submit(self, tasks, steps, options)

    monkeypatch.setattr(cluster.DaskRun, "_submit", spy)
    return sizes


def test_tasks_of_several_files_give_the_outputs_and_report_of_one_per_task(
    tmp_path, dask_cluster, monkeypatch
):
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    folder = tmp_path / "in"
    make_images(folder, 9)
    (folder / "bad-text.png").write_bytes(b"not an image at all")
    (folder / "img08.png").rename(folder / "bad-cut.png")
    data = (folder / "bad-cut.png").read_bytes()
    (folder / "bad-cut.png").write_bytes(data[: len(data) // 2])
    names = sorted(path.name for path in folder.iterdir())
    expected = reference(folder, tmp_path / "local", names)
    sizes = task_sizes(monkeypatch)
    reports = {}
    for per_task in (1, 4, 10):
        out = tmp_path / f"out{per_task}"
        reports[per_task] = run_tasks(address, plan(folder, out, names), per_task)
        assert outputs(out) == expected, per_task
    assert sizes == [1] * 10 + [4, 4, 2] + [10]
    assert reports[4] == reports[10] == reports[1]
    failed = {record[0]: record[2] for record in reports[1] if record[1] == "failed"}
    assert sorted(failed) == ["bad-cut.png", "bad-text.png"]
    assert all(record[1:] == ("done", None, None, 0) for record in reports[1] if
               record[0] not in failed)  # fmt: skip


def test_a_batch_of_101_files_runs_in_tasks_of_eight(tmp_path, dask_cluster, monkeypatch):
    """Without ``per_task``, :func:`files_per_task` decides: 101 files on two worker
    threads are 12 tasks of eight and one of five, with the bytes of ``-j 1``."""
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    folder = tmp_path / "in"
    make_images(folder, 101, size=16)
    names = sorted(path.name for path in folder.iterdir())
    expected = reference(folder, tmp_path / "local", names)
    sizes = task_sizes(monkeypatch)
    report = run_tasks(address, plan(folder, tmp_path / "out", names), None)
    assert sizes == [8] * 12 + [5]
    assert {record[1:] for record in report} == {("done", None, None, 0)}
    assert outputs(tmp_path / "out") == expected


def test_a_poison_file_fails_alone_and_its_task_mates_are_done(tmp_path, killer_cluster):
    """A file that kills its worker in the middle of a task of three: Dask runs the task
    again, gives up (KilledWorker), and its files are run again one per task; only the
    poison fails, after its worker died twice with its mates and twice alone, and says
    so; the mates written before it are found whole (done, with their retries)."""
    address, client = killer_cluster
    folder = tmp_path / "in"
    make_images(folder, 6)
    (folder / "img02.png").rename(folder / "poison.png")  # a good image: only the kill fails it
    names = ["img00.png", "img01.jpg", "poison.png", "img03.png", "img04.png", "img05.png"]
    expected = reference(folder, tmp_path / "local", names)
    starts = tmp_path / "starts.txt"
    client.register_plugin(killer_plugin("poison.png", "-", str(tmp_path / "m"), str(starts)))
    report = run_tasks(address, plan(folder, tmp_path / "out", names), 3)
    died = (
        "its worker died 4 times while running it (2 of them in a task with 2 other files); "
        "Dask gave up (distributed.scheduler.allowed-failures)"
    )
    records = {record[0]: record[1:] for record in report}
    assert records["poison.png"] == ("failed", died, None, 3)
    # Its mates: started with the task twice, then alone; written the first time.
    assert records["img00.png"] == records["img01.jpg"] == ("done", None, None, 2)
    # The other task: done (once, or again if its result was lost with a dying worker).
    assert all(records[name][:3] == ("done", None, None) for name in names[3:]), records
    assert all(records[name][3] <= 1 for name in names[3:]), records
    started = starts.read_text().split()
    assert started.count("poison.png") == 4
    assert started.count("img00.png") >= 3 and started.count("img01.jpg") >= 3
    assert outputs(tmp_path / "out") == {
        name: data for name, data in expected.items() if "poison" not in name
    }
    client.wait_for_workers(2, timeout=DEADLINE)  # the nannies restarted the killed workers


def test_a_worker_killed_mid_task_its_files_are_done_with_a_retry(tmp_path, killer_cluster):
    """A worker dies once in the middle of a task of three (after its first file was
    written): Dask runs the task again elsewhere; every file is done, its bytes those of
    ``-j 1``, and each file of that task reports the retry."""
    address, client = killer_cluster
    folder = tmp_path / "in"
    make_images(folder, 6)
    (folder / "img01.jpg").rename(folder / "once.jpg")
    names = ["img00.png", "once.jpg", "img02.png", "img03.png", "img04.png", "img05.png"]
    expected = reference(folder, tmp_path / "local", names)
    marker, starts = tmp_path / "once-killed", tmp_path / "starts.txt"
    client.register_plugin(killer_plugin("-", "once.jpg", str(marker), str(starts)))
    report = run_tasks(address, plan(folder, tmp_path / "out", names), 3)
    assert marker.exists()
    records = {record[0]: record[1:] for record in report}
    assert {name: record[:3] for name, record in records.items()} == {
        name: ("done", None, None) for name in names
    }
    assert [records[name][3] for name in names[:3]] == [1, 1, 1]
    assert all(records[name][3] <= 1 for name in names[3:]), records
    started = starts.read_text().split()
    assert started.count("once.jpg") == 2 and started.count("img00.png") >= 2
    assert outputs(tmp_path / "out") == expected
    client.wait_for_workers(2, timeout=DEADLINE)


def test_a_stopped_batch_ends_a_running_task_after_its_current_file(tmp_path, dask_cluster):
    """Dask lets a running task finish; a task of several files asks before each file
    whether it was cancelled, so a stop (--fail-fast, Ctrl-C) leaves at most the file
    each worker was running to finish, on a cluster convcli did not start."""
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    folder = tmp_path / "in"
    big_images(folder / "slow", 6)
    fast = [path.relative_to(folder) for path in make_images(folder / "fast", 6)]
    slow = [f"slow/p{index:02d}.png" for index in range(6)]
    steps = [parse_step("gaussian:6")]
    items = plan_batch([BatchInput(str(folder / name)) for name in [*fast, *slow]],
                       tmp_path / "out", steps, OPTIONS)  # fmt: skip
    (tmp_path / "out").mkdir()
    run = cluster.connect(address)
    try:
        # The first task (six small images) ends first, and its record stops the batch.
        assert run.run(items, steps, OPTIONS, lambda item, outcome: True, per_task=6)
    finally:
        run.close()

    def running(dask_worker) -> int:
        return len(dask_worker.state.executing)

    # The scheduler forgets a cancelled task at once; its worker finishes what it runs.
    wait_for(lambda: not any(client.run(running).values()), "idle workers")
    written = [path.name for path in (tmp_path / "out").iterdir() if path.name.startswith("p")]
    assert len(written) <= 2, written  # the file it was running, maybe the next one
