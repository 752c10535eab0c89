"""Every command of the recorded corpus prints exactly what it printed when recorded
(tests/data/make_cli_corpus.py): refactors must not change what users see."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import invoke

ROOT = Path(__file__).parent.parent
CORPUS = json.loads((ROOT / "tests" / "data" / "cli_corpus.json").read_text())


@pytest.mark.parametrize("entry", CORPUS, ids=[" ".join(e["args"])[:60] for e in CORPUS])
def test_output_is_byte_identical(entry, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = invoke(*entry["args"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        entry["exit_code"], entry["stdout"], entry["stderr"])  # fmt: skip


def test_corpus_covers_every_command():
    commands = {entry["args"][0] for entry in CORPUS}
    assert commands >= {"shape", "compare", "kernels", "apply", "learn"}
    assert os.path.exists(ROOT / "tests" / "data" / "make_cli_corpus.py")
