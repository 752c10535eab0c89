"""How convcli starts (and stops) the LocalCluster of ``--dask local``: workers forked
from a fork server that imported convcli once, Dask's settings undone with the run, and
no process left behind when the batch fails after the cluster started.

Each case runs in a child process: a fork server lives as long as the process that
started it, and this one must not keep one for the rest of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import wait_for

CONVCLI = [sys.executable, "-m", "convcli"]

WORKERS_SEEN = """
import json, os, sys
from convcli import cluster
import dask
import distributed  # its defaults join dask.config on import

def seen(dask_worker):
    import gc, os, sys
    return {
        "frozen": gc.get_freeze_count(),
        "plugins": sorted(name for name in dask_worker.plugins if name.startswith("convcli")),
        "parent": os.getppid(),
        "preloaded": [name for name in ("convcli.process", "PIL.Image", "s3fs")
                      if name in sys.modules],
        "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
    }

if __name__ == "__main__":
    before = dask.config.get("distributed.worker.multiprocessing-method")
    run = cluster.connect("local:2", preload=sys.argv[1:])
    during = dask.config.get("distributed.worker.multiprocessing-method")
    workers = list(run.client.run(seen).values())
    run.close()
    print(json.dumps({
        "client": os.getpid(), "workers": workers, "before": before, "during": during,
        "after": dask.config.get("distributed.worker.multiprocessing-method"),
        "trim_after": dask.config.get("distributed.nanny.pre-spawn-environ")
                      .get("MALLOC_TRIM_THRESHOLD_"),
    }))
"""


def test_localcluster_workers_are_forked_ready_and_the_settings_undone(tmp_path):
    script = tmp_path / "seen.py"  # a file: the fork server re-imports __main__ by path
    script.write_text(WORKERS_SEEN)
    run = subprocess.run(
        [sys.executable, str(script), "fsspec", "s3fs"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    workers = seen["workers"]
    assert len(workers) == 2
    # Both forked from one fork server (a child of the client), not spawned by it.
    parents = {worker["parent"] for worker in workers}
    assert len(parents) == 1 and parents != {seen["client"]}
    # Before any task, the unit of work and the batch's store were imported there.
    assert [worker["preloaded"] for worker in workers] == [
        ["convcli.process", "PIL.Image", "s3fs"]
    ] * 2
    assert [worker["malloc_trim"] for worker in workers] == [None, None]
    # ... and frozen: the workers' collections never walk the server's imports.
    assert all(worker["frozen"] > 50_000 for worker in workers), workers
    # convcli's own workers leave Ctrl-C to it and keep freed memory, as the pool's do.
    assert [worker["plugins"] for worker in workers] == [
        ["convcli-ignore-sigint", "convcli-keep-freed-memory"]
    ] * 2
    # Dask's settings were convcli's for the run only.
    assert (seen["before"], seen["during"], seen["after"]) == ("spawn", "forkserver", "spawn")
    assert seen["trim_after"] == 65536


ENVIRONMENT_SEEN = """
import json, logging, os, sys
from multiprocessing import util

from convcli import cluster

def started_with(dask_worker):
    # The environment the process started with (a forked worker: its fork server's), not
    # os.environ, which the nanny's worker code updates again after the fork.
    with open("/proc/self/environ", "rb") as environ:
        pairs = [pair.split(b"=", 1) for pair in environ.read().split(b"\\0") if b"=" in pair]
    return {"environ": {name.decode(): value.decode() for name, value in pairs},
            "hash": hash("convcli")}

spawned_after = []  # whether this process had imported distributed when the server started
spawn = util.spawnv_passfds

def spawn_and_tell(path, args, passfds):
    if any("forkserver import main" in str(arg) for arg in args):
        spawned_after.append("distributed" in sys.modules)
    return spawn(path, args, passfds)

if __name__ == "__main__":
    util.spawnv_passfds = spawn_and_tell
    run = cluster.connect("local:2")
    workers = list(run.client.run(started_with).values())
    nannies = [nanny.pre_spawn_env for nanny in run.cluster.workers.values()]
    run.close()
    level = logging.getLogger("distributed.client").level
    print(json.dumps({"workers": workers, "nannies": nannies, "spawned_after": spawned_after,
                      "client_log_level": logging.getLevelName(level)}))
"""


def test_the_fork_server_starts_first_with_the_environment_dask_gives_workers(tmp_path):
    """The fork server starts before this process imports distributed (its imports run
    meanwhile), and still with what Dask's nannies set before a worker starts
    (``distributed.nanny.pre-spawn-environ``, the user's Dask config included, and the
    hash seed): a forked worker starts with its server's environment."""
    script = tmp_path / "environment.py"  # a file: the fork server re-imports __main__ by path
    script.write_text(ENVIRONMENT_SEEN)
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "probe.yaml").write_text(
        "distributed:\n  nanny:\n    pre-spawn-environ:\n      CONVCLI_PROBE: from-config\n"
    )
    env = {**os.environ, "DASK_CONFIG": str(config)}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["spawned_after"] == [False]
    # Imported later, distributed's logging settings did not undo convcli's: the client's
    # warnings (a result lost with a worker) stay off stderr, told as retries.
    assert seen["client_log_level"] == "ERROR"
    wanted = {
        "CONVCLI_PROBE": "from-config",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "6640",
    }
    # What each nanny computed (convcli leaves MALLOC_TRIM_THRESHOLD_ out) ...
    assert seen["nannies"] == [wanted, wanted]
    # ... is what each worker process started with, and the hash seed took effect.
    seeded = subprocess.run(
        [sys.executable, "-c", "print(hash('convcli'))"],
        capture_output=True, text=True, env={**env, "PYTHONHASHSEED": "6640"},
    )  # fmt: skip
    for worker in seen["workers"]:
        started = worker["environ"]
        assert {name: started.get(name) for name in wanted} == wanted
        assert "MALLOC_TRIM_THRESHOLD_" not in started
        assert worker["hash"] == int(seeded.stdout)


CLI_SEEN = """
import json, os, sys
from multiprocessing import util

spawned = []  # per fork server started: what this process had imported by then
spawn = util.spawnv_passfds

def spawn_and_tell(path, args, passfds):
    if any("forkserver import main" in str(arg) for arg in args):
        spawned.append([name for name in ("numpy", "convcli.process", "distributed")
                        if name in sys.modules])
    return spawn(path, args, passfds)

if __name__ == "__main__":
    util.spawnv_passfds = spawn_and_tell
    from convcli.cli import main
    try:
        main()
    finally:
        with open(os.environ["SEEN_FILE"], "w") as seen:
            json.dump(spawned, seen)
"""


def run_seen(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess, list]:
    """``apply IN -k box:3 OPTIONS --dask local:2 -q`` through :data:`CLI_SEEN` on one
    small image: the run, and what the command had imported as each fork server
    started."""
    script = tmp_path / "cli.py"  # a file: the fork server re-imports __main__ by path
    script.write_text(CLI_SEEN)
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(4).integers(0, 256, (24, 30), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    seen_file = tmp_path / "seen.json"
    run = subprocess.run(
        [sys.executable, str(script), "apply", str(folder), "-k", "box:3", *options,
         "--dask", "local:2", "-q"],
        capture_output=True, text=True, env={**os.environ, "SEEN_FILE": str(seen_file)},
    )  # fmt: skip
    return run, json.loads(seen_file.read_text())


def test_the_command_starts_the_fork_server_before_it_imports_the_unit_of_work(tmp_path):
    """``apply -O --dask local`` starts its workers' fork server once the options are
    checked, before it imports NumPy and the core and lists the inputs (the server's
    imports run meanwhile); the cluster later forks from that one server."""
    run, spawned = run_seen(tmp_path, "-O", str(tmp_path / "out"))
    assert (run.returncode, run.stderr) == (0, "")
    assert spawned == [[]]
    assert os.listdir(tmp_path / "out") == ["a-box-3.png"]


def test_no_fork_server_for_a_command_that_will_not_use_it(tmp_path):
    """``--steps`` is for one matrix, and a ``memory://`` output folder is refused with
    Dask (one process's memory): both refused once the steps are read, neither starts a
    fork server."""
    shown, spawned = run_seen(tmp_path, "-O", str(tmp_path / "out"), "--steps")
    assert (shown.returncode, shown.stdout, spawned) == (2, "", [])
    assert (
        shown.stderr
        == "Error: --steps prints the arithmetic of one matrix; -O/--out-dir is for files\n"
    )
    (tmp_path / "in").rename(tmp_path / "first")
    refused, spawned = run_seen(tmp_path, "-O", "memory://out")
    assert (refused.returncode, refused.stdout, spawned) == (2, "", [])
    assert refused.stderr == (
        "Error: --dask: memory:// lives in one process, which Dask workers cannot see\n"
    )


def test_a_bad_dask_address_is_one_line_before_any_listing(tmp_path):
    """The address is checked where the fork server would start: before the inputs are
    listed (a missing folder is not the error told) and before any output folder."""
    run = subprocess.run(
        [*CONVCLI, "apply", str(tmp_path / "missing"), "-k", "box:3",
         "-O", str(tmp_path / "out"), "--dask", "local:0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith("Error: --dask") and run.stderr.count("\n") == 1, run.stderr
    assert os.listdir(tmp_path) == []


def session_processes(session: int) -> list[str]:
    """The processes (pid and command) left in a session, the zombie-free ones."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            left.append(f"{entry.name} {command}")
    return left


def fork_server_ticks(session: int) -> int | None:
    """CPU ticks a session's fork server has used (None before it exists)."""
    for line in session_processes(session):
        pid, command = line.split(" ", 1)
        if "forkserver import main" in command:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return int(fields[11]) + int(fields[12])
    return None


def test_ctrl_c_while_the_fork_server_imports_is_one_line(tmp_path):
    """Ctrl-C reaches the whole process group, the fork server too, in the middle of its
    ~0.4 s of imports: stderr is the one line of any interruption (no traceback from the
    server), exit 130, no output folder, and no process left in the session."""
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(5).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    process = subprocess.Popen(
        [*CONVCLI, "apply", str(folder), "-k", "box:3", "-O", str(tmp_path / "out"),
         "--dask", "local:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a shell
    )  # fmt: skip
    wait_for(lambda: (fork_server_ticks(process.pid) or 0) >= 3, "the server's imports", process)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout, stderr) == (130, "", "Error: interrupted (SIGINT)\n")
    wait_for(lambda: not session_processes(process.pid), "the session to empty", deadline=60.0)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_an_error_after_the_cluster_started_leaves_no_process_and_no_output(tmp_path):
    """The output folder is made once the cluster is up (a cluster that cannot start
    must not leave folders); when it cannot be made, the error is one line and the
    LocalCluster, its workers and their fork server all go with the run."""
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder's parent should be")
    out = blocker / "out"
    process = subprocess.Popen(
        [*CONVCLI, "apply", str(folder), "-k", "box:3", "-O", str(out), "--dask", "local:2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its session holds the cluster's every process
    )
    stdout, stderr = process.communicate(timeout=300)
    assert (process.returncode, stdout) == (1, "")
    assert stderr == (
        f"Error: cannot create output folder '{out}': '{blocker}' is a file, not a folder\n"
    )
    wait_for(
        lambda: not session_processes(process.pid),
        "the cluster's processes to leave the session",
        deadline=60.0,
        interval=0.05,
    )
    assert sorted(os.listdir(tmp_path)) == ["blocker", "in"]
