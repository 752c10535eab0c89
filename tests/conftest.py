"""Shared test helpers: run the CLI the way a user does, and capture what they see."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcli.cli import app

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parent.parent / "samples"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def invoke(*args: str, input: bytes | str | None = None) -> Result:
    """Run ``convcli ARGS...`` in-process; stdout and stderr are kept apart."""
    runner = CliRunner()
    result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


#: ``CONVCLI_FUZZ_SCALE=N`` runs every property test with N times its examples (the
#: suite's counts keep it fast on two cores; a deep run before a release or after a change
#: to parsing or a search: see CONTRIBUTING.md).
FUZZ_SCALE = max(1, int(os.environ.get("CONVCLI_FUZZ_SCALE", "1")))


def fuzz_examples(count: int) -> int:
    """A property test's ``max_examples``: ``count``, times ``CONVCLI_FUZZ_SCALE``."""
    return count * FUZZ_SCALE


class Hung(BaseException):
    """Past a :func:`deadline`: a BaseException, so that the CLI's error boundary (and
    Hypothesis, which does not shrink it) lets it out at once."""


@contextlib.contextmanager
def deadline(seconds: int, what: object) -> Iterator[None]:
    """Fail a call still running after ``seconds`` instead of hanging the suite (a search
    that tried a billion strides one by one hung CI once). SIGALRM: main thread only."""

    def stop(signum: int, frame: object) -> None:
        raise Hung(f"{what}: still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def cli():
    """The :func:`invoke` helper as a fixture: ``cli("shape", "224", "-k", "3")``."""
    return invoke


def wait_for(
    condition: Callable[[], object],
    what: str,
    process: subprocess.Popen | None = None,
    *,
    deadline: float = 60.0,
    interval: float = 0.001,
) -> None:
    """Poll ``condition`` until it holds; fail after ``deadline`` seconds, or if ``process``
    ends first (the moment can then never come). The tests wait on what they can see (a
    file, a handler, a server), never for a fixed time: ``interval`` only paces the polling.
    """
    end = time.monotonic() + deadline
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"convcli ended (exit {process.returncode}) before {what}: {err}")
        if time.monotonic() > end:
            pytest.fail(f"no {what} after {deadline} s")
        time.sleep(interval)


# ------------------------------------------------------------- servers on 127.0.0.1 (Dask, S3)

#: Seconds a test waits for a server (a scheduler, workers) to come up.
SERVER_DEADLINE = 120.0


@pytest.fixture(scope="session")
def s3_env():
    """A moto S3 server on 127.0.0.1 and fake credentials in the environment (os.environ
    for this process and its children: the CLI, LocalCluster and dask workers)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Port 0: the server binds one itself (a port probed free could be taken before use).
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing-key",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-never-shown",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def _scheduler_address(scheduler: subprocess.Popen, scheduler_file: Path, log: Path) -> str:
    """The address ``dask scheduler`` writes to ``scheduler_file`` once it listens (waited
    for with :func:`wait_for`; a failure names the scheduler's log)."""
    written: dict[str, str] = {}

    def address_written() -> bool:
        with contextlib.suppress(OSError, ValueError, KeyError):  # not there or half written
            written["address"] = str(json.loads(scheduler_file.read_text())["address"])
        return bool(written)

    wait_for(address_written, f"the scheduler's address (its log: {log})", scheduler,
             deadline=SERVER_DEADLINE)  # fmt: skip
    return written["address"]


@contextlib.contextmanager
def dask_processes(logs: Path, env: dict[str, str]):
    """``dask scheduler`` and two ``dask worker`` processes (each one worker process with
    one thread, under a nanny that restarts it) on 127.0.0.1 with ``env``; yields the
    address and a client, and stops them all at the end."""
    from distributed import Client

    bin_dir = Path(sys.executable).parent
    files = [open(logs / f"{name}.log", "wb") for name in ("scheduler", "w0", "w1")]  # noqa: SIM115
    scheduler_file = logs / "scheduler.json"
    # Port 0: the scheduler binds a port itself and writes it to scheduler_file. A port
    # probed free and then handed over could be taken in between ("Address already in use"
    # once cost 7 tests 120 s each while other suites ran on the machine).
    processes = [
        subprocess.Popen(
            [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(scheduler_file), "--no-dashboard", "--no-show"],
            env=env, stdout=subprocess.DEVNULL, stderr=files[0],
            start_new_session=True,
        )
    ]  # fmt: skip
    try:
        address = _scheduler_address(processes[0], scheduler_file, logs / "scheduler.log")
        for index in range(2):
            processes.append(
                subprocess.Popen(
                    [str(bin_dir / "dask"), "worker", address, "--host", "127.0.0.1",
                     "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                     "--name", f"w{index}"],
                    env=env, stdout=subprocess.DEVNULL,
                    stderr=files[1 + index], start_new_session=True,
                )
            )  # fmt: skip
        client = Client(address, timeout=SERVER_DEADLINE)
        client.wait_for_workers(2, timeout=SERVER_DEADLINE)
        yield address, client
        client.shutdown()  # the scheduler and its workers leave at once
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for file in files:
            file.close()


@pytest.fixture(scope="session")
def dask_cluster(s3_env, tmp_path_factory):
    """The cluster of :func:`dask_processes` for the session, seeing the S3 server."""
    with dask_processes(tmp_path_factory.mktemp("dask-logs"), dict(os.environ)) as cluster:
        yield cluster


@pytest.fixture
def killer_cluster(tmp_path_factory):
    """A cluster of its own (its workers die in the test) whose scheduler gives up on a
    task after two worker deaths (``allowed-failures`` 1; Dask's default is 3) and gives
    each one-thread worker one task at a time (``worker-saturation`` 1.0: a death then
    counts against the file that was running, not against one queued behind it)."""
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    }
    with dask_processes(tmp_path_factory.mktemp("killer-logs"), env) as cluster:
        yield cluster
