"""The README's first examples, run as a newcomer runs them: the files it asks for made by
its own set-up block, each tour command's output compared with what the README shows."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

README = (Path(__file__).parent.parent / "README.md").read_text()


def _block_after(heading: str, language: str) -> str:
    start = README.index(heading)
    opening = README.index(f"```{language}\n", start) + len(language) + 4
    return README[opening : README.index("```", opening)]


def _command(line: str) -> list[str]:
    return shlex.split(line, comments=True)


@pytest.fixture
def readme_files(tmp_path, monkeypatch):
    """A folder holding what the README's set-up block makes, run line by line."""
    root = Path(__file__).parent.parent
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").symlink_to(root / "samples")
    for line in _block_after("read a few small files", "sh").splitlines():
        words = _command(line)
        if not words or words[0] == "source":
            continue
        if words[0] == "cp":
            shutil.copy(words[1], words[2])
        elif words[0] == "python":
            subprocess.run([sys.executable, *words[1:]], check=True)
        else:
            assert words[0] == "convcli", line
            result = invoke(*words[1:])
            assert result.exit_code == 0, (line, result.stderr)
    return tmp_path


def test_the_set_up_block_makes_every_file_the_examples_read(readme_files):
    made = sorted(path.name for path in readme_files.iterdir() if path.name != "samples")
    assert made == ["layer.npy", "photo.jpg", "photo.png", "x.npy", "y.npy"]


def _tour() -> list[tuple[str, str]]:
    """(command, output shown) for every ``$`` line of the tour."""
    steps: list[tuple[str, str]] = []
    for line in _block_after("## A tour", "console").splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], ""))
        else:
            command, shown = steps[-1]
            steps[-1] = (command, shown + line + "\n")
    return steps


@pytest.mark.parametrize(("command", "shown"), _tour(), ids=lambda value: value[:40])
def test_each_tour_command_prints_what_the_readme_shows(readme_files, command, shown):
    result = invoke(*_command(command)[1:])
    assert result.exit_code == 0, result.stderr
    if shown:
        assert result.stdout == shown
    comment = command.partition("#")[2].strip()
    if comment.endswith("MACs"):  # '# 1,228,800 vs 53,952 MACs'
        for number in re.findall(r"\d[\d,]*", comment):
            assert f" {number} " in result.stdout
    if comment.startswith("recovers"):  # '# recovers [1, -1]'
        wanted = re.findall(r"-?\d+", comment)
        assert result.stdout.split("\n")[-2].split() == wanted
