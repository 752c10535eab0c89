"""Batches on object storage (fsspec: ``memory://``, ``file://``, ``s3://`` on a moto server)
and on a real Dask cluster (a ``LocalCluster`` of worker processes, and a ``dask
scheduler`` with two ``dask worker`` processes started here), everything on 127.0.0.1.

The servers are started once per session and shut down by their fixtures; tests poll for
conditions with deadlines, never sleep for an outcome.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.batch import find_inputs, plan_batch, run_batch
from convcli.errors import ConvcliError
from convcli.kernels import parse_step
from convcli.process import ApplyOptions
from tests.conftest import SERVER_DEADLINE as DEADLINE
from tests.conftest import wait_for as wait_until

CONVCLI = [sys.executable, "-m", "convcli"]
STEP = "gaussian:2"
BAD = {"bad-text.png": b"not an image at all", "bad-cut.png": None}  # None: a cut PNG


def wait_for(condition, what: str) -> None:
    """:func:`tests.conftest.wait_for` with this module's deadline (servers start slowly)."""
    wait_until(condition, what, deadline=DEADLINE, interval=0.01)


def make_images(folder: Path, count: int, size: int = 64) -> list[Path]:
    """Distinct small RGB PNGs (and a JPEG), named in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count + size)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size + index, 3), dtype=np.uint8)
        path = folder / f"img{index:02d}.{'jpg' if index == 1 else 'png'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def bad_bytes(good: Path) -> dict[str, bytes]:
    data = good.read_bytes()
    return {
        name: value if value is not None else data[: len(data) // 2] for name, value in BAD.items()
    }


def local_reference(folder: Path, out: Path, step: str = STEP) -> dict[str, bytes]:
    """The outputs of a local ``-j 1`` run of the same command, by name."""
    run = subprocess.run(
        [*CONVCLI, "apply", str(folder), "-k", step, "-O", str(out), "-j", "1"],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 1), run.stderr
    return {path.name: path.read_bytes() for path in out.iterdir()}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def bucket(s3_env, request):
    """A fresh bucket (named after the test) and its s3fs file system."""
    import s3fs

    fs = s3fs.S3FileSystem()
    name = "b-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    fs.mkdir(name)
    fs.invalidate_cache()
    return fs, name


def upload(fs, bucket_name: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
    for path in sorted(folder.iterdir()):
        fs.pipe_file(f"{bucket_name}/raw/{path.name}", path.read_bytes())
    for name, data in (extra or {}).items():
        fs.pipe_file(f"{bucket_name}/raw/{name}", data)
    fs.invalidate_cache()


def listing(fs, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    return {Path(key).name: fs.cat_file(key) for key in fs.find(prefix)}


def worker_pids(client) -> dict[str, int]:
    """The pid of each worker process (the nanny's child), by worker name."""
    names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
    return {names[address]: pid for address, pid in client.run(os.getpid).items()}


# ----------------------------------------------------------------------------- no server


def test_dask_option_values_and_misuse_are_one_error_line(cli, tmp_path):
    make_images(tmp_path / "in", 1)
    bad = cli("apply", tmp_path / "in", "-k", STEP, "-O", tmp_path / "out", "--dask", "x y")
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert bad.stderr == (
        "Error: --dask 'x y': give a scheduler address (tcp://host:8786), local, local:N or auto\n"
    )
    many = cli("apply", tmp_path / "in", "-k", STEP, "-O", tmp_path / "out", "--dask", "local:0")
    assert many.stderr == "Error: --dask 'local:0': local:N takes 1 to 1024 workers\n"
    minus = cli("apply", tmp_path / "in", "-k", STEP, "-O", tmp_path / "out", "--dask", "local:-1")
    assert minus.stderr == "Error: --dask 'local:-1': local:N takes 1 to 1024 workers\n"
    single = cli(
        "apply", tmp_path / "in" / "img00.png", "-k", STEP, "-o", "x.png", "--dask", "local"
    )
    assert (single.exit_code, single.stderr) == (
        2,
        "Error: --dask is for a batch: give -O/--out-dir DIR\n",
    )
    assert not (tmp_path / "out").exists()


def test_scheduler_addresses_follow_dask():
    from convcli.cluster import parse_address

    assert parse_address("local") == ("local", None)
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("auto") == ("auto", None)
    assert parse_address("10.1.2.3:8786") == ("tcp://10.1.2.3:8786", None)
    assert parse_address("tls://sched:8786") == ("tls://sched:8786", None)


def test_a_worker_with_another_convcli_is_one_clear_error():
    from convcli import __version__
    from convcli.cluster import DaskRun, run_files

    class FakeClient:
        def __init__(self, versions):
            self.versions = versions

        def run(self, function):
            return self.versions

    with pytest.raises(ConvcliError) as caught:
        DaskRun(FakeClient({"tcp://10.0.0.2:4000": "0.0.9"}), None, "x").check_versions()
    assert str(caught.value) == (
        f"Dask worker tcp://10.0.0.2:4000 runs convcli 0.0.9, this client {__version__}: "
        "install the same version on every worker"
    )
    with pytest.raises(ConvcliError, match=r"^Dask worker tcp://w:1 has no convcli: install"):
        DaskRun(FakeClient({"tcp://w:1": None}), None, "x").check_versions()
    DaskRun(FakeClient({"tcp://w:1": __version__}), None, "x").check_versions()
    # A task sent to a worker of another version refuses its files, it writes nothing.
    outcomes = run_files(["a.png", "b.png"], ["a.out", "b.out"], [], ApplyOptions(), "0.0.9")
    assert [outcome[:2] for outcome in outcomes] == 2 * [
        ("failed", f"worker runs convcli {__version__}, the client 0.0.9")
    ]


def test_a_file_that_keeps_killing_workers_fails_with_dasks_reason():
    """Dask moves a task whose worker died to another worker, and gives up with
    KilledWorker past ``distributed.scheduler.allowed-failures``: the file is failed
    with that reason (the rest of the batch goes on: failures are outcomes)."""
    from distributed.scheduler import KilledWorker

    from convcli.cluster import _failure, _Task

    error = KilledWorker("run_file-abc", "tcp://127.0.0.1:4000", 3)
    assert _failure(error, 4) == (
        "its worker died 4 times while running it; Dask gave up "
        "(distributed.scheduler.allowed-failures)"
    )
    assert _failure(RuntimeError("boom\n  there"), 0) == "RuntimeError: boom there"
    # Run alone after a task of several files died with it: every death is counted.
    shared = _Task([None], before=2, deaths=2, mates=1)
    assert _failure(error, 2, shared) == (
        "its worker died 4 times while running it (2 of them in a task with 1 other file); "
        "Dask gave up (distributed.scheduler.allowed-failures)"
    )


@pytest.mark.parametrize(
    ("hidden", "args", "message"),
    [
        ("distributed", ["-O", "OUT", "--dask", "local"], "--dask needs Dask: pip install "
         "'convcli[dask]'"),
        ("s3fs", ["-O", "s3://bucket/out"], "'s3://' URLs need s3fs: pip install 'convcli[s3]'"),
        ("fsspec", ["-O", "s3://b/out"], "'s3://' URLs need fsspec: pip install 'convcli[s3]'"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_one_error_line_naming_it(tmp_path, hidden, args, message):
    make_images(tmp_path / "in", 1)
    args = [str(tmp_path / "out") if arg == "OUT" else arg for arg in args]
    code = (
        f"import sys; sys.modules[{hidden!r}] = None\n"  # as if not installed
        "from convcli.cli import main\n"
        f"sys.argv = ['convcli', 'apply', {str(tmp_path / 'in')!r}, '-k', 'box:3', *{args!r}]\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (1, "", f"Error: {message}\n")
    assert not (tmp_path / "out").exists()


def test_a_local_batch_imports_neither_dask_nor_fsspec(tmp_path):
    make_images(tmp_path / "in", 2)
    code = (
        "import sys\nfrom convcli.cli import main\n"
        f"sys.argv = ['convcli', 'apply', {str(tmp_path / 'in')!r}, '-k', 'box:3', '-O', "
        f"{str(tmp_path / 'out')!r}, '-j', '1', '-q']\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "heavy = ('dask', 'distributed', 'fsspec', 's3fs', 'botocore')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "[]\n", "")
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_temporaries_of_dead_workers_are_removed_and_live_ones_kept(tmp_path):
    from convcli.batch import remove_dead_temporaries

    output = tmp_path / "x[1].png"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    gone = tmp_path / f".x[1].png.{dead}-abcd1234.part"
    mine = tmp_path / f".x[1].png.{os.getpid()}-abcd1234.part"
    other = tmp_path / f".y.png.{dead}-abcd1234.part"
    for path in (gone, mine, other):
        path.write_bytes(b"half")
    assert remove_dead_temporaries(str(output)) == [gone]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([mine.name, other.name])
    assert remove_dead_temporaries("s3://bucket/x.png") == []


def test_memory_urls_round_trip_with_the_bytes_of_a_local_run(tmp_path):
    import fsspec

    folder = tmp_path / "in"
    make_images(folder, 3)
    reference = local_reference(folder, tmp_path / "local")
    memory = fsspec.filesystem("memory")
    for path in folder.iterdir():
        memory.pipe_file(f"/convcli-test/raw/{path.name}", path.read_bytes())
    memory.pipe_file("/convcli-test/raw/notes.txt", b"not an image")
    steps = [parse_step(STEP)]
    ignored: list[str] = []
    found = find_inputs(["memory://convcli-test/raw"], ignored=ignored)
    assert [source.path for source in found] == [
        f"memory:///convcli-test/raw/{path.name}" for path in sorted(folder.iterdir())
    ]
    assert ignored == ["memory:///convcli-test/raw/notes.txt"]
    items = plan_batch(found, "memory://convcli-test/out", steps)
    report = run_batch(items, steps, jobs=2)  # memory:// is this process's: run here
    assert [item.status for item in items] == ["done"] * 3 and report.jobs == 1
    written = {Path(key).name: memory.cat_file(key) for key in memory.find("/convcli-test/out")}
    assert written == reference
    # Planned again: every output exists, found by one listing.
    again = plan_batch(found, "memory://convcli-test/out", steps)
    assert [(item.status, item.note) for item in again] == [("skipped", "output exists")] * 3
    memory.rm("/convcli-test", recursive=True)


def test_file_urls_are_paths_with_the_local_atomic_write(cli, tmp_path):
    folder = tmp_path / "in"
    make_images(folder, 3)
    reference = local_reference(folder, tmp_path / "local")
    run = cli(
        "apply", f"file://{folder}/*.png", "-k", STEP, "-O", f"file://{tmp_path}/out", "-j", "2"
    )
    assert run.exit_code == 0, run.stderr
    written = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert written == {name: data for name, data in reference.items() if name.endswith(".png")}
    records = cli(
        "apply", f"file://{folder}", "-k", STEP, "-O", f"file://{tmp_path}/out", "--format", "json"
    )
    outputs = [record["output"] for record in json.loads(records.stdout)["files"]]
    assert outputs[0] == f"{tmp_path}/out/img00-gaussian-2.png"  # a path, as given locally
    assert records.stderr.startswith("note: 2 outputs exist, skipped (the first: ")


def test_file_localhost_urls_are_local_paths_and_other_hosts_are_refused(
    cli, tmp_path, monkeypatch
):
    folder = tmp_path / "in"
    make_images(folder, 2)
    monkeypatch.chdir(tmp_path)  # fsspec read file://localhost/x as ./localhost/x
    here = f"file://localhost{tmp_path}"
    batch = cli("apply", f"{here}/in/", "-k", STEP, "-O", f"file://LOCALHOST{tmp_path}/out",
                "--format", "plain", "-q")  # fmt: skip
    assert (batch.exit_code, batch.stderr) == (0, "")
    assert batch.stdout.splitlines() == [
        f"{folder}/img00.png\t{tmp_path}/out/img00-gaussian-2.png\tdone",
        f"{folder}/img01.jpg\t{tmp_path}/out/img01-gaussian-2.jpg\tdone",
    ]
    globbed = cli("apply", f"{here}/in/*.png", "-k", STEP, "-O", f"{here}/out", "--force", "-q")
    assert (globbed.exit_code, globbed.stderr) == (0, "")
    one = cli("apply", f"{here}/in/img00.png", "-k", STEP, "-o", f"{here}/one.png")
    assert (one.exit_code, one.stderr) == (0, "")
    assert (tmp_path / "one.png").read_bytes() == (
        tmp_path / "out/img00-gaussian-2.png"
    ).read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in", "one.png", "out"]
    # An input named twice, as a path and as file://localhost, is done once.
    twice = cli("apply", folder / "img00.png", f"{here}/in/img00.png", "-k", "box:3", "-O",
                tmp_path / "twice", "-q", "--format", "plain")  # fmt: skip
    assert len(twice.stdout.splitlines()) == 1
    where = "file:// names a file on host 'nas', not on this machine; give file:///PATH, "
    where += "file://localhost/PATH or the path"
    for args, option, url in [
        (["file://nas/in/", "-O", "out"], "INPUT", "file://nas/in/"),
        ([f"{folder}/img00.png", "-O", "file://nas/out"], "-O/--out-dir", "file://nas/out"),
        ([f"{folder}/img00.png", "-o", "file://nas/o.png"], "-o/--output", "file://nas/o.png"),
        (["file://nas/img00.png", "-o", "o.png"], "INPUT", "file://nas/img00.png"),
    ]:
        refused = cli("apply", *args, "-k", STEP)
        assert (refused.exit_code, refused.stderr) == (2, f"Error: {option} '{url}': {where}\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in", "one.png", "out", "twice"]


# ----------------------------------------------------------------------------- S3 (moto)


def test_s3_bucket_to_bucket_with_bad_files_gives_exactly_the_good_outputs(tmp_path, bucket):
    fs, name = bucket
    folder = tmp_path / "in"
    make_images(folder, 4)
    upload(fs, name, folder, bad_bytes(folder / "img00.png"))
    reference = local_reference(folder, tmp_path / "local")
    run = subprocess.run(
        [*CONVCLI, "apply", f"s3://{name}/raw/", "-k", STEP, "-O", f"s3://{name}/out/", "-j", "2"],
        capture_output=True,
        text=True,
    )
    lines = run.stderr.splitlines()
    assert run.returncode == 1, run.stderr
    assert (
        sorted(line for line in lines if line.startswith("failed: "))
        == [
            f"failed: s3://{name}/raw/bad-cut.png: truncated or corrupt PNG file"
            " (image file is truncated)",
            f"failed: s3://{name}/raw/bad-text.png: not an image (convcli reads PNG, JPEG, TIFF, "
            "BMP, WebP, GIF, PNM, AVIF and PFM)",
        ]
        or lines
    )
    assert lines[-1].startswith("4 done, 0 skipped, 2 failed in ")
    assert listing(fs, f"{name}/out") == reference  # the good ones, whole, nothing else
    assert "testing-secret" not in run.stderr + run.stdout
    # Resumed: the output prefix is listed once; nothing is fetched, nothing is put.
    again = subprocess.run(
        [*CONVCLI, "apply", f"s3://{name}/raw/", "-k", STEP, "-O", f"s3://{name}/out/",
         "--skip-existing", "-j", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 1 and again.stderr.splitlines()[-1].startswith(
        "0 done, 4 skipped, 2 failed in "
    )


def test_a_missing_s3_prefix_is_not_found(cli, tmp_path, bucket):
    fs, name = bucket
    make_images(tmp_path / "in", 1)
    upload(fs, name, tmp_path / "in")
    result = cli("apply", f"s3://{name}/nope/", "-k", "box:3", "-O", f"s3://{name}/out/")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: INPUT 's3://{name}/nope/': no such object or folder\n"
    fs.invalidate_cache()
    assert not fs.exists(f"{name}/out")
    bare = cli("apply", f"s3://{name}/raw", "-k", "box:3", "-O", f"s3://{name}/out/", "-q")
    assert (bare.exit_code, bare.stderr) == (0, "")  # a prefix that exists is listed as before


def test_skip_existing_lists_the_output_prefix_once(tmp_path, bucket):
    """Planning a resumed batch costs one listing of the output prefix (one request per
    1000 keys on S3), not one request per file: counted at the S3 server."""
    fs, name = bucket
    folder = tmp_path / "in"
    make_images(folder, 3)
    upload(fs, name, folder)
    for path in folder.iterdir():
        fs.pipe_file(f"{name}/out/{path.stem}-gaussian-2{path.suffix}", b"old")
    steps = [parse_step(STEP)]
    found = find_inputs([f"s3://{name}/raw/"])
    requests: list[str] = []

    class Requests(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            requests.append(record.getMessage())

    server_log = logging.getLogger("werkzeug")
    handler, level = Requests(), server_log.level
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO)
    try:
        items = plan_batch(found, f"s3://{name}/out", steps)
    finally:
        server_log.removeHandler(handler)
        server_log.setLevel(level)
    assert [item.status for item in items] == ["skipped"] * 3
    sent = [line.split('"')[1] for line in requests if '"' in line]
    assert sent == [f"GET /{name}?list-type=2&prefix=out/&delimiter=&encoding-type=url HTTP/1.1"]


def test_dask_localcluster_s3_batch_matches_a_local_run(tmp_path, bucket):
    fs, name = bucket
    folder = tmp_path / "in"
    make_images(folder, 4)
    upload(fs, name, folder, {"bad-text.png": b"not an image at all"})
    reference = local_reference(folder, tmp_path / "local")
    run = subprocess.run(
        [*CONVCLI, "apply", f"s3://{name}/raw/*.png", f"s3://{name}/raw/*.jpg", "-k", STEP,
         "-O", f"s3://{name}/out", "--dask", "local:2", "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["summary"] | {"seconds": 0} == {
        "done": 4, "skipped": 0, "failed": 1, "cancelled": 0, "seconds": 0, "jobs": 2,
        "interrupted": False, "stopped": False, "cluster": "local:2",
    }  # fmt: skip
    failed = [record for record in report["files"] if record["status"] == "failed"]
    assert [(record["input"], record["retries"]) for record in failed] == [
        (f"s3://{name}/raw/bad-text.png", 0)
    ]
    assert run.stderr.splitlines()[-1].startswith("4 done, 0 skipped, 1 failed in ")
    assert run.stderr.splitlines()[-1].endswith(" files/s, 2 Dask workers on local:2)")
    assert listing(fs, f"{name}/out") == reference


def test_ctrl_c_to_the_group_stops_a_localcluster_batch_in_one_line(tmp_path):
    """Ctrl-C reaches the whole foreground group: the LocalCluster's worker processes leave
    it to convcli (no worker traceback), which cancels the tasks, closes the cluster and
    reports what is on disk: every output whole, no temporary file."""
    folder = tmp_path / "in"
    big_images(folder, 8)
    out = tmp_path / "out"
    process = start_client(str(folder), "-k", "gaussian:6", "-O", str(out), "--dask", "local:2")
    wait_for(lambda: out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()),
             "a first output")  # fmt: skip
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130, err
    assert err.count("\n") == 1 and err.startswith("interrupted (SIGINT): "), err
    written = sorted(out.iterdir())
    assert err.startswith(f"interrupted (SIGINT): {len(written)} done, 0 skipped, 0 failed, ")
    reference = local_reference(folder, tmp_path / "local", "gaussian:6")
    for path in written:
        # Whole: it decodes to every pixel of the local run. (Its bytes are checked equal in
        # the uninterrupted runs; here, one full-suite run once saw a file whose bytes
        # differed from -j 1's at the first IDAT's length, whether its pixels did was not
        # kept; not reproduced in 8 reruns: see the README's Dask section.)
        got = np.asarray(Image.open(path))
        expected = np.asarray(Image.open(io.BytesIO(reference[path.name])))
        assert np.array_equal(got, expected), f"{path.name} is not whole"


# ----------------------------------------------------------------------------- a real cluster


def big_images(folder: Path, count: int) -> None:
    """Images that take a while each (so a worker can be stopped in the middle)."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:900, 0:900]
    for index in range(count):
        plane = ((x + y * (index + 1)) // 7 % 256).astype(np.uint8)
        Image.fromarray(np.stack([plane, plane.T, plane[::-1]], -1)).save(
            folder / f"p{index:02d}.png"
        )


def start_client(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CONVCLI, "apply", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_auto_takes_dask_scheduler_address_and_paths_work_on_a_cluster(tmp_path, dask_cluster):
    """``--dask auto`` connects where DASK_SCHEDULER_ADDRESS says (Dask's own setting);
    local paths work when the workers see them (here: the same machine)."""
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    folder = tmp_path / "in"
    make_images(folder, 3)
    (folder / "zz-bad.png").write_bytes(b"not an image at all")
    reference = local_reference(folder, tmp_path / "local")
    run = subprocess.run(
        [*CONVCLI, "apply", str(folder), "-k", STEP, "-O", str(tmp_path / "out"), "--dask", "auto"],
        capture_output=True,
        text=True,
        env={**os.environ, "DASK_SCHEDULER_ADDRESS": address},
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith(f"failed: {folder / 'zz-bad.png'}: not an image")
    assert lines[1].startswith("3 done, 0 skipped, 1 failed in ")
    assert lines[1].endswith(f" files/s, 2 Dask workers on {address})")
    assert {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()} == reference
    assert len(client.nthreads()) == 2  # a cluster convcli did not start keeps running


def test_a_worker_killed_mid_batch_its_file_runs_elsewhere(tmp_path, bucket, dask_cluster):
    address, client = dask_cluster
    fs, name = bucket
    folder = tmp_path / "in"
    big_images(folder, 10)
    upload(fs, name, folder, {"bad-text.png": b"not an image at all"})
    process = start_client(
        f"s3://{name}/raw/", "-k", "gaussian:6", "-O", f"s3://{name}/out", "--dask", address,
        "--format", "json",
    )  # fmt: skip
    wait_for(lambda: len(fs.find(f"{name}/out", refresh=True)) >= 1, "a first output")
    victim = worker_pids(client)["w0"]
    os.kill(victim, signal.SIGKILL)
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 1, err
    report = json.loads(out)
    statuses = {Path(record["input"]).name: record["status"] for record in report["files"]}
    assert statuses == {**{f"p{i:02d}.png": "done" for i in range(10)}, "bad-text.png": "failed"}
    retried = [record for record in report["files"] if record["retries"]]
    assert retried, report  # the dead worker's file was moved to the other worker
    # Every file the dead worker held (running, or queued behind it: a one-thread worker
    # is given two) ran again elsewhere; the bad file, when it was one of them, failed
    # again for its own reason, never for the death.
    assert all(
        record["status"] == "done"
        or (record["input"].endswith("/bad-text.png") and "not an image" in record["error"])
        for record in retried
    ), report
    for record in retried:
        assert (
            f"note: {record['input']}: started {record['retries'] + 1} times on the cluster" in err
        )
    reference = local_reference(folder, tmp_path / "local", "gaussian:6")
    written = listing(fs, f"{name}/out")
    assert written == {key: value for key, value in reference.items() if key.startswith("p")}
    client.wait_for_workers(2, timeout=DEADLINE)  # the nanny restarted it: for the next test


def test_fail_fast_on_a_cluster_cancels_the_rest(tmp_path, dask_cluster):
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    folder = tmp_path / "in"
    big_images(folder, 10)
    (folder / "a-bad.png").write_bytes(b"not an image at all")  # first in name order
    out = tmp_path / "out"
    run = subprocess.run(
        [*CONVCLI, "apply", str(folder), "-k", "gaussian:6", "-O", str(out), "--dask", address,
         "--fail-fast"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith(f"failed: {folder / 'a-bad.png'}: not an image")
    assert lines[-1].startswith("stopped at the first failure (--fail-fast): "), lines
    done = int(lines[-1].split(": ")[1].split(" done")[0])
    assert f", 1 failed, {10 - done} not run in " in lines[-1] and done < 10

    # A task already running on a worker of a cluster convcli did not start cannot be
    # stopped: it may publish (whole) after the report; at most one per worker. Read
    # once no worker runs a task (the scheduler forgets a cancelled one at once): before,
    # a temporary file can be listed and be gone.
    def executing(dask_worker) -> int:  # sent by value: tests is not on the workers' path
        return len(dask_worker.state.executing)  # cancelled tasks still running included

    wait_for(lambda: not any(client.run(executing).values()), "idle workers")
    written = sorted(out.iterdir()) if out.exists() else []
    assert not [path.name for path in written if path.name.endswith(".part")]
    assert done <= len(written) <= done + 2
    reference = local_reference(folder, tmp_path / "local", "gaussian:6")
    for path in written:
        assert path.read_bytes() == reference[path.name]


def test_sigint_to_the_client_cancels_the_batch_and_leaves_the_cluster(
    tmp_path, bucket, dask_cluster
):
    address, client = dask_cluster
    client.wait_for_workers(2, timeout=DEADLINE)
    fs, name = bucket
    folder = tmp_path / "in"
    big_images(folder, 16)
    upload(fs, name, folder)
    process = start_client(
        f"s3://{name}/raw/", "-k", "gaussian:6", "-O", f"s3://{name}/out", "--dask", address
    )
    wait_for(lambda: len(fs.find(f"{name}/out", refresh=True)) >= 2, "two outputs")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=DEADLINE)
    assert (process.returncode, out) == (130, ""), err
    summary = err.splitlines()[-1]
    assert summary.startswith("interrupted (SIGINT): "), err
    done = int(summary.split(": ")[1].split(" done")[0])
    assert 2 <= done < 16, summary
    # Every object there is whole (a put is all or nothing), tasks running when the
    # client stopped may still add some; none pending is started any more.
    wait_for(lambda: not client.processing() or not any(client.processing().values()), "idle")
    reference = local_reference(folder, tmp_path / "local", "gaussian:6")
    written = listing(fs, f"{name}/out")
    assert done <= len(written) < 16
    for key, data in written.items():
        assert data == reference[key], f"{key} is not whole"
    assert len(client.nthreads()) == 2  # the cluster is still up


def killer_plugin(poison: str, once: str, marker: str, starts: str):
    """A Dask WorkerPlugin that kills its worker process (``os._exit``: no clean-up, as a
    crash would) when a task starts on the file named ``poison``, every time, and on
    ``once`` the first time only (``marker``, a file, remembers it across the restarted
    workers). Every start of a file appends its name to the file ``starts``.

    It acts per file, not per task (a task may hold several files, run in turn): set up
    on each worker, it wraps the worker's ``convcli.process.process_file``, which the task
    calls for each file, so a poison kills its worker in the middle of a task, after the
    files before it were written. Defined in here so that it is pickled by value: the
    workers cannot import the tests."""
    from distributed import WorkerPlugin

    class Killer(WorkerPlugin):
        name = "convcli-test-killer"

        def setup(self, worker):
            from convcli import process

            run = getattr(process.process_file, "__wrapped__", process.process_file)

            def process_file(source, output, steps, options):
                name = Path(str(source)).name
                with open(starts, "a") as log:  # one short line: appended whole
                    log.write(name + "\n")
                if name == once:
                    try:
                        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                    except FileExistsError:
                        return run(source, output, steps, options)
                elif name != poison:
                    return run(source, output, steps, options)
                os._exit(1)

            process_file.__wrapped__ = run
            process.process_file = process_file

    return Killer()


def test_a_file_that_kills_every_worker_is_failed_and_the_batch_ends(tmp_path, killer_cluster):
    """issue 16: a file that kills workers repeatedly is reported failed, not retried
    forever; a file whose worker died once runs again elsewhere and says so; the other
    files are done, their outputs whole and those of ``-j 1``; no temporary is left."""
    address, client = killer_cluster
    folder = tmp_path / "in"
    make_images(folder, 5)
    (folder / "img03.png").rename(folder / "once.png")
    (folder / "img04.png").rename(folder / "poison.png")  # a good image: only the kill fails it
    reference = local_reference(folder, tmp_path / "local")
    marker = tmp_path / "once-killed"
    starts = tmp_path / "starts.txt"
    client.register_plugin(killer_plugin("poison.png", "once.png", str(marker), str(starts)))
    out = tmp_path / "out"
    run = subprocess.run(
        [*CONVCLI, "apply", str(folder), "-k", STEP, "-O", str(out), "--dask", address,
         "--format", "json"],
        capture_output=True, text=True, timeout=60,  # bounded: TimeoutExpired fails the test
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert marker.exists()  # a worker did die on once.png
    died = (
        "its worker died 2 times while running it; Dask gave up "
        "(distributed.scheduler.allowed-failures)"
    )
    report = json.loads(run.stdout)
    records = {
        Path(record["input"]).name: (record["status"], record["error"], record["retries"])
        for record in report["files"]
    }
    # A good file may also run twice: one that ended on a worker just before the poison
    # killed it, its result not yet fetched, is computed again by Dask (it then finds its
    # own output, whole: done). None runs a third time, none fails.
    assert {name: record[:2] for name, record in records.items()} == {
        **{name: ("done", None) for name in ("img00.png", "img01.jpg", "img02.png")},
        "once.png": ("done", None),
        "poison.png": ("failed", died),
    }
    assert records["poison.png"][2] == 1 and records["once.png"][2] >= 1
    assert all(retries <= 1 for _, _, retries in records.values()), records
    # What the workers really started: the poison twice, never more (no retry past
    # Dask's bound). How often a good file runs again is timing (a result lost with a
    # worker before it was released is computed again): not asserted.
    started = starts.read_text().split()
    assert started.count("poison.png") == 2 and started.count("once.png") >= 2
    assert all(started.count(name) >= 1 for name in records), (started, records)
    assert report["summary"] | {"seconds": 0} == {
        "done": 4, "skipped": 0, "failed": 1, "cancelled": 0, "seconds": 0, "jobs": 2,
        "interrupted": False, "stopped": False, "cluster": address,
    }  # fmt: skip
    notes = [
        f"note: {folder / name}: started {retries + 1} times on the cluster "
        "(a worker died or its task raised)"
        for name, (_, _, retries) in sorted(records.items())
        if retries
    ]
    *lines, summary = run.stderr.splitlines()
    assert sorted(lines) == sorted([f"failed: {folder / 'poison.png'}: {died}", *notes])
    assert summary.startswith("4 done, 0 skipped, 1 failed in "), summary
    assert summary.endswith(f" files/s, 2 Dask workers on {address})"), summary
    # Exactly the good outputs, whole, those of -j 1: no poison output, no temporary.
    written = {path.name: path.read_bytes() for path in out.iterdir()}
    assert written == {name: data for name, data in reference.items() if "poison" not in name}
    client.wait_for_workers(2, timeout=DEADLINE)  # the nannies restarted the killed workers


@pytest.mark.parametrize("args", [["shape", "224", "-k", "3"], ["apply", "--help"]])
def test_shape_and_help_import_neither_dask_nor_fsspec(args):
    code = (
        "import sys\nfrom convcli.cli import main\n"
        f"sys.argv = ['convcli', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "heavy = ('dask', 'distributed', 'fsspec', 's3fs', 'botocore', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "[]\n")


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_a_recursive_listing_leaves_out_the_output_prefix_inside_it(tmp_path, scheme):
    import fsspec

    folder = tmp_path / "in"
    made = make_images(folder, 2)
    if scheme == "memory":
        memory = fsspec.filesystem("memory")
        for path in folder.iterdir():
            memory.pipe_file(f"/convcli-rec/in/{path.name}", path.read_bytes())
            memory.pipe_file(f"/convcli-rec/in/out/{path.stem}-old.png", path.read_bytes())
        given, out = "memory://convcli-rec/in/", "memory://convcli-rec/in/out/"
    else:
        (folder / "out").mkdir()
        for path in made:
            (folder / "out" / f"{path.stem}-old.png").write_bytes(path.read_bytes())
        given, out = f"file://{folder}/", f"file://{folder}/out/"
    found = find_inputs([given], recursive=True, exclude=out)
    # A second run never filters the first run's outputs again.
    assert sorted(Path(source.path).name for source in found) == [path.name for path in made]


def test_a_store_or_file_url_without_a_path_never_writes_here_or_at_the_root(
    cli, tmp_path, monkeypatch
):
    """-O memory:// wrote ./memory:/NAME (the join of an empty prefix), and -O file:// or
    file://localhost wrote the batch into /."""
    import fsspec

    folder = tmp_path / "in"
    make_images(folder, 1)
    monkeypatch.chdir(tmp_path)
    memory = cli("apply", folder / "img00.png", "-k", "box:3", "-O", "memory://", "-q")
    assert (memory.exit_code, memory.stderr) == (0, "")
    store = fsspec.filesystem("memory")
    assert store.exists("/img00-box-3.png")
    store.rm("/img00-box-3.png")
    for url in ("file://", "file://localhost"):
        refused = cli("apply", folder / "img00.png", "-k", "box:3", "-O", url)
        assert refused.exit_code == 2
        assert refused.stderr == (
            f"Error: -O/--out-dir '{url}' names no path; give file:///PATH or the path\n"
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in"]
    assert not Path("/img00-box-3.png").exists()


def test_file_urls_are_percent_decoded(cli, tmp_path):
    folder = tmp_path / "sp ace"
    make_images(folder, 1)
    source = (folder / "img00.png").as_uri()  # file:///.../sp%20ace/img00.png
    assert "%20" in source
    result = cli("apply", source, "-k", "box:3", "-O", f"{folder.as_uri()}/out", "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    assert (folder / "out" / "img00-box-3.png").exists()
