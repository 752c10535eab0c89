"""How every command's ``--help`` reads at 80 columns: Typer settings, applied when help
is asked for (a command that runs pays nothing for them).

- paragraphs of a command's description and epilog reflow to the terminal (Typer's
  "rich" markup keeps each line break of the docstring, so a narrow terminal showed
  one-word lines);
- an example line of an epilog longer than 80 columns puts its comment on the next
  line, and a command still too long continues on the next line after a ``\\``;
- a long choice list (``<png|jpeg|jpg|tiff|...>``, cut inside a word by a narrow help
  table) becomes a short metavar, its choices named in the option's help, and a number
  range reads ``N [1<=x<=100]``, not ``<int range> [1<=x<=100]``;
- the usage line marks repeatable arguments (``[LAYER]...``) and required ones plainly
  (``INPUT TARGET``, not Typer's ``{INPUT} {TARGET}``).
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperOption

HELP_WIDTH = 80
# Typer pads the description and the epilog by one column on each side.
_EPILOG_WIDTH = HELP_WIDTH - 2
# A choice list longer than this becomes a metavar word and a sentence of the help.
_LONG_CHOICES = 16
# Patterns, compiled by re (and cached there) when help is first drawn: a command that runs
# does not pay for them.
_MARKUP = r"\[/?(?:bold|dim|italic)?\]"
_COMMENT_START = "[dim]# "
# A shell word: a quoted argument is one word, never split by a line continuation.
_SHELL_WORD = r"""(?:[^\s"']+|"[^"]*"|'[^']*')+"""
_COMMENT = r"^(?P<command>\s+\S.*?)\s+(?P<comment>\[dim\]# .*)$"


def visible_length(line: str) -> int:
    """The width of a line of help text once its Rich markup (``[dim]``...) is drawn."""
    return len(re.sub(_MARKUP, "", line))


def reflow(text: str, width: int | None = None) -> str:
    """Join the lines of each paragraph of ``text`` (paragraphs are split by blank lines),
    except paragraphs that are indented blocks (examples), which are kept line by line.

    With ``width``, a paragraph is wrapped again at that width, so that its last line
    never holds a lone word (Rich, wrapping it, would leave one there)."""
    paragraphs = []
    for paragraph in text.strip("\n").split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith(" ") for line in lines):
            paragraphs.append(paragraph)
        elif width is None:
            paragraphs.append(" ".join(line.strip() for line in lines))
        else:
            paragraphs.append("\n".join(_balanced(" ".join(lines).split(), width)))
    return "\n\n".join(paragraphs)


def _balanced(
    words: list[str], width: int, first: str = "", rest: str = "", end: str = ""
) -> list[str]:
    """:func:`_wrap_words`, with a last line of two words or more when a slightly narrower
    wrap (down to two thirds of ``width``) gives that."""

    def lone(lines: list[str]) -> bool:
        return len(lines) > 1 and len(lines[-1].removeprefix(rest).split()) < 2

    lines = _wrap_words(words, first, rest, width, end)
    for narrower in range(width - 1, width * 2 // 3, -1):
        if not lone(lines):
            return lines
        lines = _wrap_words(words, first, rest, narrower, end)
    return lines if not lone(lines) else _wrap_words(words, first, rest, width, end)


def _wrap_words(words: list[str], first: str, rest: str, width: int, end: str = "") -> list[str]:
    """``words`` in lines of at most ``width`` columns (a word longer than a line stays
    whole), the first line starting with ``first``, the others with ``rest``; each line
    but the last ends with ``end``."""
    lines: list[str] = []
    current, empty = first, True
    for word in words:
        if not empty and visible_length(f"{current} {word}{end}") > width:
            lines.append(current + end)
            current = rest + word
        else:
            current = current + word if empty else f"{current} {word}"
        empty = False
    return [*lines, current]


def _fit_example(line: str, width: int) -> list[str]:
    """One example line of an epilog as lines of at most ``width`` columns (when its words
    allow): the comment comes closer, or goes under the command; a long command continues
    after ``\\``, a long comment on a new ``#`` line."""
    if visible_length(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    if line.lstrip().startswith(_COMMENT_START):
        text = line.strip().removeprefix(_COMMENT_START).removesuffix("[/]")
        return [
            f"{part}[/]"
            for part in _balanced(
                text.split(), width - 1, indent + _COMMENT_START, indent + _COMMENT_START
            )
        ]
    match = re.match(_COMMENT, line)
    if match is None:
        return _balanced(re.findall(_SHELL_WORD, line), width, indent, indent + "    ", " \\")
    closer = f"{match['command']}  {match['comment']}"
    if visible_length(closer) <= width:
        return [closer]
    return [
        *_fit_example(match["command"], width),
        *_fit_example(indent + match["comment"], width),
    ]


def fit_epilog(epilog: str, width: int = _EPILOG_WIDTH) -> str:
    """An epilog whose prose paragraphs reflow and whose example lines fit ``width``."""
    paragraphs = []
    for paragraph in reflow(epilog, width).split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith(" ") for line in lines):
            lines = [part for line in lines for part in _fit_example(line, width)]
        paragraphs.append("\n".join(lines))
    # Typer dedents the epilog with inspect.cleandoc, which leaves the first line out of
    # its reckoning: examples under an "Examples" title would lose their indent. A leading
    # newline makes that title a line like the others (cleandoc drops the blank line).
    return "\n" + "\n\n".join(paragraphs)


def _choices(option: TyperOption) -> None:
    """A long choice list (``<png|jpeg|jpg|tiff|...>``) takes a third of an 80-column help
    table and is cut inside a word; it becomes a short metavar (the option's name, unless
    the command gave one) and, unless the help already names every choice, a sentence."""
    choices = getattr(option.type, "choices", None)
    if not choices:
        return
    names = [str(getattr(choice, "value", choice)) for choice in choices]
    if option.metavar is None:
        if len("|".join(names)) <= _LONG_CHOICES:
            return
        long_names = [opt.lstrip("-") for opt in option.opts if opt.startswith("--")]
        option.metavar = (long_names[0] if long_names else "choice").upper()
    text = option.help or ""
    if not all(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for name in names):
        option.help = f"{text} Choices: {', '.join(names)}.".strip()


def _ranges(option: TyperOption) -> None:
    """``<int range> [1<=x<=100]`` reads ``N [1<=x<=100]`` (Typer still adds the range)."""
    kind = option.type
    if option.metavar is None and hasattr(kind, "_describe_range"):
        option.metavar = "N" if "int" in str(getattr(kind, "name", "")) else "NUMBER"


# Modules typer.rich_utils imports for what Rich-markup help never draws: Markdown (markup
# mode "markdown": markdown-it and Pygments) and Traceback (pretty exceptions, off here).
_UNUSED_BY_HELP = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _stand_in(module_name: str, class_name: str) -> types.ModuleType:
    """A module whose one class builds the real class's objects (importing it then)."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        real = getattr(importlib.import_module(module_name), class_name)
        return real(*args, **kwargs)

    module = types.ModuleType(module_name)
    setattr(module, class_name, type(class_name, (), {"__new__": __new__}))
    return module


def import_rich_help() -> None:
    """Import typer.rich_utils, which draws every ``--help``, without the modules it
    imports but never uses for our help (about half its ~60 ms): while it is imported,
    ``rich.markdown`` and ``rich.traceback`` are stand-ins; they leave ``sys.modules``
    right after, so any later import gets the real modules."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {name: _stand_in(name, cls) for name, cls in _UNUSED_BY_HELP.items()
                 if name not in sys.modules}  # fmt: skip
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def show_help(command: Any, ctx: Any, formatter: Any, typer_format: Any) -> None:
    """THE help hook of every command and of the app: off a terminal, convcli draws the
    help itself (:mod:`convcli.render.help`, no Rich imported), character for character
    what Typer's Rich help writes there; anything else, or anything that renderer does not
    copy, goes to Typer (``typer_format(ctx, formatter)``), with Rich as before."""
    from typer.core import HAS_RICH

    from convcli.render.help import plain_help

    text = plain_help(command, ctx) if HAS_RICH else None
    if text is None:
        import_rich_help()
        typer_format(ctx, formatter)
        return
    sys.stdout.write(text)
    sys.stdout.flush()


#: A matrix or number typed as an argument that starts with a minus: "-1 0 1; -2 0 2", "-0.5".
#: (A string: nothing is compiled at import, see tests/test_shape_startup.py.)
_NEGATIVE_MATRIX = (
    r"-\.?\d[^/]*[\s,;|][^/]*|-\.?\d+(\.\d*)?([eE][-+]?\d+)?"
    r"|-(?i:inf|infinity|nan)([\s,;|][^/]*)?"  # said to be not finite, as after -k
)


def _negative_matrices_as_arguments(command: Any, ctx: Any, args: list[str]) -> list[str]:
    """``convcli kernels "-1 0 1; -2 0 2; -1 0 1"``: the parser takes a word that starts
    with a minus for an option ("No such option: -1"); a leading space keeps it an argument
    (taken off again once parsed). Option values (``--bias -0.5``) and words after ``--``
    are left as they are, and so is anything that could name a file (no separator, not a
    number)."""
    valued = {
        name
        for param in command.get_params(ctx)
        if isinstance(param, TyperOption) and not param.is_flag and not param.count
        for name in (*param.opts, *param.secondary_opts)
    }
    result: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return result + args[index:]
        value_of_option = bool(result) and result[-1] in valued
        negative = not value_of_option and re.fullmatch(_NEGATIVE_MATRIX, arg)
        result.append(" " + arg if negative else arg)
    return result


class HelpfulCommand(TyperCommand):
    """A Typer command whose help fits an 80-column terminal (see the module's docstring)."""

    _tidied = False

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not isinstance(param, TyperArgument):
                pieces += param.get_usage_pieces(ctx)
                continue
            name = (param.metavar or (param.name or "").upper()).strip("[]{}")
            repeatable = param.nargs != 1 or name.endswith("...")
            name = name.removesuffix("...")
            piece = name if param.required else f"[{name}]"
            pieces.append(piece + ("..." if repeatable else ""))
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if not self._tidied:
            self._tidied = True
            self.help = reflow(self.help, _EPILOG_WIDTH) if self.help else self.help
            self.epilog = fit_epilog(self.epilog) if self.epilog else self.epilog
            for param in self.params:
                if isinstance(param, TyperOption):
                    _choices(param)
                    _ranges(param)
        show_help(self, ctx, formatter, super().format_help)


class MatrixArgumentsCommand(HelpfulCommand):
    """A command whose arguments may be matrices typed inline (``kernels``, ``learn``): one
    that starts with a minus is an argument, as after ``-k``, not an unknown option."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        marked = _negative_matrices_as_arguments(self, ctx, args)
        spaced = {arg for arg, given in zip(marked, args, strict=True) if arg != given}
        rest = super().parse_args(ctx, marked)

        def unmarked(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(unmarked(item) for item in value)
            return value[1:] if isinstance(value, str) and value in spaced else value

        ctx.params = {name: unmarked(value) for name, value in ctx.params.items()}
        return rest
