"""Shared test helpers: run the CLI the way a user does, and capture what they see."""

from __future__ import annotations

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
