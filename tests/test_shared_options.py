"""Issue 17: an option several commands take is spelled once, in ``commands/options.py``.

A command may word its help and pick its panel (apply's ``-p`` speaks of steps, learn's of
the filter it recovers), but the spelling comes from ``options.shared_option`` or an alias
built on it, so ``--padding`` cannot drift into ``--pad`` in one command.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer

from convcli.cli import app
from convcli.commands import options
from tests.conftest import invoke

COMMANDS = Path(options.__file__).parent
COMMAND_NAMES = ("shape", "apply", "compare", "kernels", "learn", "draw")
#: The long names of the shared options: a command's own typer.Option must not spell them.
SHARED_LONG = {opt for spelling in options._SPELLINGS.values() for opt in spelling if opt[1] == "-"}


def _option_calls(tree: ast.AST) -> list[tuple[int, set[str]]]:
    """Each ``typer.Option(...)`` call: its line and the option names among its strings."""
    calls = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "Option"
        ):
            names = {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("-")
            }
            calls.append((node.lineno, names))
    return calls


@pytest.mark.parametrize("path", sorted(COMMANDS.glob("*.py")), ids=lambda p: p.name)
def test_no_command_module_spells_a_shared_option_itself(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = [(line, names & SHARED_LONG) for line, names in _option_calls(tree)]
    assert [hit for hit in own if hit[1]] == [], (
        f"{path.name}: build these with options.shared_option(NAME, help, panel)"
    )


def test_the_spelling_table_is_the_one_place_and_its_names_are_typed():
    # Every spelling of the table is in use (a stale row would be a second vocabulary) and
    # the Literal that mypy checks the names against lists exactly the table's rows.
    assert set(options.SharedName.__args__) == set(options._SPELLINGS)
    assert set(options._SPELLINGS) == {
        "kernel", "stride", "padding", "dilation", "out_channels", "border", "format",
        "channels_last", "force", "quiet",
    }  # fmt: skip


def _command_params() -> list[tuple[str, tuple[str, ...], str | None]]:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    found = []
    for name in COMMAND_NAMES:
        command = group.get_command(ctx, name)
        for param in command.params:
            found.append((name, tuple(param.opts), getattr(param, "rich_help_panel", None)))
    return found


def test_every_command_takes_a_shared_option_by_its_one_spelling():
    spellings = {spelling[-1]: set(spelling) for spelling in options._SPELLINGS.values()}
    seen: dict[str, set[str]] = {}
    for command, opts, _panel in _command_params():
        for long_name in set(opts) & set(spellings):
            assert set(opts) == spellings[long_name], (command, opts)
            seen.setdefault(long_name, set()).add(command)
    # Each shared option really is shared (the reason it lives in options.py).
    assert {name: len(commands) >= 2 for name, commands in seen.items()} == {
        name: True for name in spellings
    }
    assert seen["--padding"] == {"shape", "compare", "apply", "learn", "draw"}
    assert seen["--format"] == set(COMMAND_NAMES)
    assert seen["--quiet"] == {"apply", "learn"}


def test_commands_keep_their_own_help_and_panel_for_a_shared_option():
    panels = {(command, opts[-1]): panel for command, opts, panel in _command_params()}
    assert panels["apply", "--padding"] == "Options"
    assert panels["learn", "--padding"] == "Kernel"
    assert panels["shape", "--padding"] == options.LAYER
    assert panels["apply", "--quiet"] == "Many files (-O)"
    assert panels["learn", "--quiet"] == options.OUTPUT
    assert panels["apply", "--channels-last"] == "Matrices"
    assert panels["learn", "--channels-last"] == "Target"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("apply", "--help"), "Padding of every step that sets no p="),
        (("learn", "--help"), "Padding the filter used"),
        (("shape", "--help"), "Padding: 1, 2x1 (HxW)"),
        (("draw", "--help"), "How --steps prints"),
        (("kernels", "--help"), "table (Rich), plain"),
    ],
)
def test_each_help_page_words_the_shared_option_its_own_way(args, shown):
    result = invoke(*args)
    assert result.exit_code == 0
    assert shown in " ".join(result.stdout.split())


def test_learn_short_and_long_padding_are_one_option(tmp_path):
    # learn declared (--padding, -p) before; the shared spelling is (-p, --padding): both
    # still reach the same parser and its one message form.
    for flag in ("-p", "--padding"):
        result = invoke("learn", "0 1; 2 3", "1 2; 3 4", flag, "-1")
        assert result.exit_code == 2
        assert result.stderr.strip() == "Error: -p/--padding: padding must be >= 0, got -1"
        assert result.stdout == ""


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("-s", "x", "Error: -s/--stride must be N or HxW, got 'x'"),
        ("--stride", "2x3x4", "Error: -s/--stride must be N or HxW, got '2x3x4'"),
        ("-d", "x", "Error: -d/--dilation must be N or HxW, got 'x'"),
        ("-s", "0", "Error: -s/--stride must be >= 1, got 0"),
        ("-d", "0", "Error: -d/--dilation must be >= 1, got 0"),
        ("-s", "2x0", "Error: -s/--stride must be >= 1, got 0"),
    ],
)
def test_every_command_names_a_bad_stride_alike(flag, value, message, tmp_path):
    # apply named them --stride/--dilation, draw and compare -s/--stride: one form now. Out
    # of range, shape and compare said "layer 1 'conv:k=3,s=0': stride must be >= 1" and
    # apply "-s/--stride must be 1..1,025": one range rule (layers.check_range) now.
    runs = {
        "shape": ("shape", "32", "-k", "3", flag, value),
        "compare": ("compare", "224", "-k", "3", "-c", "8", flag, value),
        "draw": ("draw", "5", "-k", "3", flag, value, "-o", str(tmp_path / "d.png")),
        "apply": ("apply", "--matrix", "0 1; 2 3", "-k", "box:2", flag, value),
    }
    for command, args in runs.items():
        result = invoke(*args)
        assert (command, result.exit_code, result.stderr.strip()) == (command, 2, message)
        assert result.stdout == ""
    assert not (tmp_path / "d.png").exists()


def test_apply_bounds_its_stride_with_the_option_named_in_full():
    result = invoke("apply", "--matrix", "0 1; 2 3", "-k", "box:2", "-s", "2000")
    assert (result.exit_code, result.stderr.strip()) == (
        2,
        "Error: -s/--stride must be at most 1,025, got 2000",
    )
    result = invoke("apply", "--matrix", "0 1; 2 3", "-k", "box:2", "-d", "1025")
    assert (result.exit_code, result.stderr.strip()) == (
        2,
        "Error: -d/--dilation must be at most 1,024, got 1025",
    )
