"""Shared test helpers: run the CLI the way a user does, and capture what they see."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
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
