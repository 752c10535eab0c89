"""``apply --matrix ... --format table`` labels each channel of a multi-channel result with
a whole title line: as the Rich table's own title it was wrapped to the width of a small
table, inside the word (``channe`` / ``l 1``), on a pipe and on any terminal alike."""

from __future__ import annotations

import pytest
from rich.console import Console

import convcli.render.apply

TWO_CHANNELS = ("apply", "--matrix", "1 2; 3 4 | 5 6; 7 8", "-k", "1", "--format", "table")


def assert_no_broken_word(text: str) -> None:
    for line in text.splitlines():
        assert "channe" not in line or "channel" in line, line
        assert line.strip() not in {"l 1", "l 2"}, line


def test_two_channels_piped_have_whole_title_lines(cli):
    result = cli(*TWO_CHANNELS)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if "channel" in line] == ["channel 1", "channel 2"]
    assert [line.split() for line in lines] == [
        ["channel", "1"], ["1", "2"], ["3", "4"],
        ["channel", "2"], ["5", "6"], ["7", "8"],
    ]  # fmt: skip
    assert_no_broken_word(result.stdout)


@pytest.mark.parametrize("width", [200, 80, 60, 12])
def test_two_channels_on_a_terminal_have_whole_title_lines(cli, monkeypatch, width):
    def console() -> Console:
        return Console(width=width, force_terminal=False, no_color=True)

    monkeypatch.setattr(convcli.render.apply, "stdout_console", console)
    result = cli(*TWO_CHANNELS)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if "channel" in line] == ["channel 1", "channel 2"]
    assert lines.index("channel 2") == 3  # each title right above its two rows
    assert_no_broken_word(result.stdout)


def test_one_channel_has_no_title(cli):
    result = cli("apply", "--matrix", "1 2; 3 4", "-k", "1", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [["1", "2"], ["3", "4"]]
