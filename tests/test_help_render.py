"""``--help`` off a terminal (issue 14): convcli draws it without Rich
(:mod:`convcli.render.help`), and what it draws is what Typer's Rich help draws there,
byte for byte, or it steps aside.

The reference is always Rich itself: the same command run with the renderer switched off
(:func:`convcli.render.help.console_width` answering None sends every help to Typer's Rich
path, as a terminal or ``FORCE_COLOR`` would).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Annotated

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.errors import MarkupError
from rich.text import Text
from typer.core import TyperGroup
from typer.testing import CliRunner

import convcli.render.help as help_render
from convcli.cli import COMMANDS, app
from convcli.commands._help import HelpfulCommand, show_help
from tests.conftest import fuzz_examples

COMMAND_NAMES = ["", *COMMANDS]


def _help_args(command: str) -> list[str]:
    return [command, "--help"] if command else ["--help"]


def both(target: typer.Typer, args: list[str], width: int, monkeypatch) -> tuple[str, str, bool]:
    """The help convcli draws, the help Rich draws, and whether convcli drew the first."""
    monkeypatch.setenv("COLUMNS", str(width))
    for name in help_render._RICH_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    drawn = []
    original = help_render.help_lines

    def spy(*arguments):
        lines = original(*arguments)
        drawn.append(True)
        return lines

    monkeypatch.setattr(help_render, "help_lines", spy)
    fast = CliRunner().invoke(target, args, catch_exceptions=False)
    monkeypatch.setattr(help_render, "console_width", lambda: None)
    rich = CliRunner().invoke(target, args, catch_exceptions=False)
    monkeypatch.undo()
    assert fast.exit_code == rich.exit_code
    return fast.stdout, rich.stdout, bool(drawn)


@pytest.mark.parametrize("width", [60, 80, 100, 120])
@pytest.mark.parametrize("command", COMMAND_NAMES, ids=lambda c: c or "app")
def test_every_help_is_what_rich_draws(command, width, monkeypatch):
    fast, rich, drawn = both(app, _help_args(command), width, monkeypatch)
    assert drawn, "convcli's renderer stepped aside"
    assert fast == rich
    assert all(len(line) == width for line in fast.splitlines() if line)
    assert "Usage: convcli" in fast


@pytest.mark.parametrize("command", COMMAND_NAMES, ids=lambda c: c or "app")
def test_an_extra_in_brackets_is_shown_not_taken_for_markup(command, monkeypatch):
    fast, rich, _ = both(app, _help_args(command), 200, monkeypatch)
    for shown in (fast, rich):  # "pip install 'convcli[onnx]'" once showed as 'convcli'
        assert "'convcli'" not in shown
    if command == "shape":
        assert "pip install 'convcli[onnx]'" in fast


@pytest.mark.parametrize("width", [10, 23, 41, 200])
@pytest.mark.parametrize("command", ["", "shape", "apply"], ids=lambda c: c or "app")
def test_narrow_and_wide_help_is_what_rich_draws(command, width, monkeypatch):
    fast, rich, drawn = both(app, _help_args(command), width, monkeypatch)
    assert fast == rich
    assert drawn or width < 41  # very narrow panels may go to Rich; wider ones may not


def test_help_at_60_columns_cuts_a_long_word_as_rich_does(monkeypatch):
    fast, rich, drawn = both(app, ["shape", "--help"], 60, monkeypatch)
    assert drawn and fast == rich
    assert "top,bottom,left,righ\u2026" in fast  # Rich's table cell ellipsis, copied


# ---- a Typer app with everything Typer's help draws --------------------------------------------


class _Group(TyperGroup):
    def format_help(self, ctx, formatter):
        show_help(self, ctx, formatter, super().format_help)


class _Command(HelpfulCommand):
    pass


demo = typer.Typer(cls=_Group, rich_markup_mode="rich", help="A [bold]demo[/] app. \\[not a tag]")


@demo.command(cls=_Command, epilog="[bold]Examples[/]\n\n  demo run x  [dim]# a comment[/]\n\n"
              + "averyveryverylongwordthatcannotfitonanarrowconsoleatall" * 2)  # fmt: skip
def run(
    source: Annotated[str, typer.Argument(help="Where from.", metavar="SRC")],
    extra: Annotated[
        list[str] | None, typer.Argument(help="More.", rich_help_panel="Inputs")
    ] = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, max=9, help="How many.")] = 3,
    ratio: Annotated[float, typer.Option(min=0.0, help="A ratio.", show_default="one half")] = 0.5,
    flag: Annotated[bool, typer.Option("--flag/--no-flag", "-f/-F", help="Flip it.")] = True,
    verbose: Annotated[int, typer.Option("-v", count=True, help="Louder.")] = 0,
    name: Annotated[str, typer.Option(envvar="DEMO_NAME", show_envvar=True, help="A name.")] = "x",
    must: Annotated[
        str, typer.Option(help="Required, in its own panel.", rich_help_panel="Musts")
    ] = ...,  # type: ignore[assignment]
    secret: Annotated[str, typer.Option(hidden=True)] = "",
    quiet: Annotated[bool, typer.Option(help="No default shown.", show_default=False)] = False,
) -> None:
    """Run it.

    A second paragraph with [italic]markup[/italic],
    over two lines.

    A third one."""


@demo.command(short_help="Short help wins.", rich_help_panel="More")
def other() -> None:
    """Long help that the listing does not show."""


@demo.command(hidden=True)
def hidden() -> None:
    """Not listed."""


@demo.command(deprecated=True)
def old() -> None:
    """Deprecated: Rich draws this help."""


@pytest.mark.parametrize("width", [10, 17, 30, 44, 59, 73, 80, 97, 131, 160])
@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=["group", "command"])
def test_typer_features_are_drawn_as_rich_draws_them(args, width, monkeypatch):
    fast, rich, drawn = both(demo, args, width, monkeypatch)
    assert fast == rich
    if args == ["--help"]:
        assert not drawn  # a deprecated command in the listing: left to Rich
    else:
        assert drawn or width < 40  # narrow panels whose titles do not fit: Rich's
    if args != ["--help"] and width >= 80:
        words = " ".join(fast.replace("\u2502", " ").split())
        assert "[env var: DEMO_NAME]" in words and "[default: (one half)]" in words
        assert "* SRC <str> Where from. [required]" in words
        assert "--flag -f --no-flag -F" in words and "N [1<=x<=9]" in words


def test_group_without_deprecated_commands_is_drawn(monkeypatch):
    monkeypatch.setattr(demo, "registered_commands", demo.registered_commands[:3])
    fast, rich, drawn = both(demo, ["--help"], 80, monkeypatch)
    assert drawn and fast == rich
    assert "Short help wins." in fast and "hidden" not in fast and "\u256d\u2500 More " in fast


# ---- the pieces, against Rich on random input --------------------------------------------------


def _rich_markup(text: str) -> str | None:
    try:
        return Text.from_markup(text).plain
    except MarkupError:
        return None


_MARKUP_PIECES = ["[", "]", "/", "\\", "b", "bold", "dim", " ", ":", "x", "=", "@", "[/]",
                  "[bold]", "[/bold]", ":smile:", "\n"]  # fmt: skip


@settings(max_examples=fuzz_examples(500), deadline=None)
@given(st.lists(st.sampled_from(_MARKUP_PIECES), max_size=14))
def test_markup_text_is_what_rich_reads(pieces):
    text = "".join(pieces)
    try:
        plain = help_render.markup_text(text)
    except help_render.Decline:
        return  # Rich draws it (and may reject it, as ever)
    assert plain == _rich_markup(text)


def test_markup_text_declines_what_it_cannot_know():
    for text in ("a :smile: b", "[/bold]x", "x[/]", "[@click]x[/]", "caf\u00e9", "tab\there"):
        with pytest.raises(help_render.Decline):
            help_render.markup_text(text)
    assert help_render.markup_text("[bold]x[/bold] \\[y] k=3:p=1") == "x [y] k=3:p=1"


_WORDS = st.lists(
    st.one_of(st.text(st.sampled_from("abc,-"), min_size=1, max_size=12),
              st.sampled_from([" ", "  ", "\n"])),
    max_size=30,
)  # fmt: skip


@settings(max_examples=fuzz_examples(400), deadline=None)
@given(words=_WORDS, width=st.integers(min_value=1, max_value=30),
       overflow=st.sampled_from(["fold", "ellipsis"]))  # fmt: skip
def test_wrap_is_what_rich_wraps(words, width, overflow):
    text = "".join(words)
    rich = Text(text).wrap(Console(width=200), width, overflow=overflow)  # type: ignore[arg-type]
    assert help_render.wrap(text, width, overflow) == [line.plain for line in rich]


# ---- whole processes ---------------------------------------------------------------------------


def _help_process(command: str, env: dict[str, str]) -> tuple[str, list[str]]:
    code = (
        "import sys\n"
        f"sys.argv = ['convcli', *{_help_args(command)!r}]\n"
        "from convcli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('LOADED:' + ' '.join(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('rich', 'numpy', 'scipy', 'PIL')})))\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in help_render._RICH_ENVIRONMENT}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}
    )
    return done.stdout, done.stderr.rsplit("LOADED:", 1)[-1].split()


@pytest.mark.parametrize("command", ["", "shape", "learn"], ids=lambda c: c or "app")
def test_piped_help_imports_no_rich_and_is_what_rich_writes(command):
    fast, loaded = _help_process(command, {"COLUMNS": "80"})
    assert loaded == []
    # TTY_COMPATIBLE=0 keeps Rich off the terminal path but makes convcli's renderer step
    # aside: Typer's Rich help writes the same pipe.
    rich, loaded_by_rich = _help_process(command, {"COLUMNS": "80", "TTY_COMPATIBLE": "0"})
    assert loaded_by_rich == ["rich"]
    assert fast == rich
    assert fast.endswith("\u256f\n\n") or fast.endswith(" \n\n")  # Click's echo adds one


def test_forced_colour_help_still_goes_through_rich():
    styled, loaded = _help_process("", {"COLUMNS": "80", "FORCE_COLOR": "1"})
    assert "rich" in loaded
    assert "\x1b[" in styled


def test_console_width_follows_rich(monkeypatch):
    for name in help_render._RICH_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setenv("COLUMNS", "97")
    assert help_render.console_width() == 97
    monkeypatch.setenv("COLUMNS", "wide")  # not digits: the terminal's size, else 80
    assert (
        help_render.console_width()
        == next((os.get_terminal_size(fd).columns for fd in (0, 1, 2) if os.isatty(fd)), 80)
        or 80
    )
    for name in ("TERMINAL_WIDTH", "PY_COLORS", "GITHUB_ACTIONS", "TTY_COMPATIBLE"):
        monkeypatch.setenv(name, "1")
        assert help_render.console_width() is None
        monkeypatch.delenv(name)
    stream = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")  # Rich would draw ASCII boxes
    monkeypatch.setattr(sys, "stdout", stream)
    assert help_render.console_width() is None


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_summary_is_what_the_built_command_lists(name):
    group = typer.main.get_command(app)
    summary = group.command_summary(None, name)
    built = group.get_command(None, name)
    for attribute in ("name", "help", "short_help", "hidden", "deprecated", "rich_help_panel"):
        assert getattr(summary, attribute) == getattr(built, attribute), attribute
    assert group.command_summary(None, name) is built  # once built, the command itself


def test_each_format_option_says_what_its_command_prints(cli):
    compare = cli("compare", "--help").stdout
    assert "final shape only" not in compare  # shape's words, once copied into compare
    assert "one line per form or" in compare
    draw = " ".join(cli("draw", "--help").stdout.split())
    assert "Choices: table, json, csv, plain" not in draw  # csv is refused by --steps
