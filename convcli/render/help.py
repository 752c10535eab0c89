"""``--help`` off a terminal, drawn without Rich: the characters Typer's Rich help
(``typer.rich_utils.rich_format_help``) writes to a pipe, at the width Rich would take.

Importing Rich's console, text, table and panel is most of what ``convcli --help`` costs
(~45 ms of CPU against ~50 ms for ``import typer``). Off a terminal Rich writes no styles,
so the help is plain text laid out by a handful of Rich's rules, copied here for what
Typer's help uses: markup reduced to its text, word wrapping (``rich._wrap``), padding,
the options and commands tables (``Table._calculate_column_widths`` with its ratios and
collapsing), the ``Columns`` of an option's help, its default and ``[required]``, and
rounded panels with a title.

Anything this module does not copy makes :func:`plain_help` answer None, and Typer's Rich
path draws the help as before: text that is not printable ASCII (wide or combining
characters, tabs, ANSI codes), ``:emoji:`` codes, markup tags Rich could reject or
treat as handlers, a word wider than its table column (Rich ends it with an ellipsis),
a deprecated command, markup modes other than "rich", and any environment that makes Rich
take the pipe for a terminal or fixes its width (``FORCE_COLOR``, ``TTY_COMPATIBLE``,
``PY_COLORS``, ``GITHUB_ACTIONS``, ``TERMINAL_WIDTH``...). ``tests/test_help_render.py``
compares the two for every command at several widths.
"""

from __future__ import annotations

import builtins
import inspect
import os
import re
import sys
from collections.abc import Iterable, Sequence
from gettext import gettext as _
from math import ceil
from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

# Typer's words, through gettext as Typer has them.
_ARGUMENTS = _("Arguments")
_OPTIONS = _("Options")
_COMMANDS = _("Commands")
_DEFAULT = _("[default: {}]")
_ENVVAR = _("[env var: {}]")
_REQUIRED = _("[required]")
_PANEL = "rich_help_panel"

#: What makes Typer's console a terminal, or fixes its width, whatever stdout is.
_RICH_ENVIRONMENT = (
    "FORCE_COLOR", "TTY_COMPATIBLE", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH",
    "_TYPER_FORCE_DISABLE_TERMINAL", "JUPYTER_COLUMNS",
)  # fmt: skip
#: Narrower consoles go to Rich (checked identical down to 3 columns; nobody reads help at 9).
MIN_WIDTH = 10

_PRINTABLE = re.compile(r"[\n\x20-\x7e]*")
# rich.markup.RE_TAGS and rich._emoji_replace's pattern.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_EMOJI = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")
# Every character of Rich's emoji names that is ASCII (rich._emoji_codes.EMOJI).
_EMOJI_NAME = frozenset("!#&()*+-.0123456789_abcdefghijklmnopqrstuvwxyz")
_WORD = re.compile(r"\s*\S+\s*")  # rich._wrap.re_word


class Decline(Exception):
    """The help holds something this module does not draw as Rich does: Rich draws it."""


def console_width() -> int | None:
    """The width of Typer's Rich console when stdout is no terminal: ``COLUMNS``, else the
    size of the first terminal among stdin, stdout, stderr, else 80 (``Console.size``).

    None when Rich should decide: stdout is (or passes for) a terminal, the environment
    steers Rich (see the module's docstring), a Rich proxy or Jupyter is in the way, or
    stdout cannot take the panels' box characters (Rich would draw ASCII boxes).
    """
    from convcli.render import stdout_is_plain

    if not stdout_is_plain() or any(name in os.environ for name in _RICH_ENVIRONMENT):
        return None
    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return None
    encoding = (getattr(sys.stdout, "encoding", "utf-8") or "utf-8").lower()
    if not encoding.startswith("utf"):
        return None
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns)
    width = 0
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return width or 80


# ---- text: markup and wrapping -------------------------------------------------------------------


def _text_piece(text: str) -> str:
    """A piece of markup between tags as Rich prints it (``\\[`` is ``[``); an emoji code
    Rich might replace declines."""
    text = text.replace("\\[", "[")
    for match in _EMOJI.finditer(text):
        if set(match.group(2).lower()) <= _EMOJI_NAME:
            raise Decline(f"possible emoji code {match.group(1)!r}")
    return text


def _tag(tag: str, stack: list[str]) -> None:
    """Follow one markup tag on the stack of open tags; a close Rich could reject (or match
    below the top), and ``@`` handlers, decline."""
    name = tag.partition("=")[0]
    if name.startswith("@"):
        raise Decline(f"markup handler [{tag}]")
    if not name.startswith("/"):
        stack.append(name)
        return
    closing = name[1:].strip()
    if not stack or (closing and closing != stack[-1]):
        raise Decline(f"markup close [{tag}]")
    stack.pop()


def markup_text(markup: str) -> str:
    """The characters ``Text.from_markup(markup)`` holds (``rich.markup.render``, styles
    dropped).

    >>> markup_text("[bold]Examples[/]  \\\\[x] [dim]# note[/dim]")
    'Examples  [x] # note'
    """
    if not _PRINTABLE.fullmatch(markup):
        raise Decline("not printable ASCII")
    if "[" not in markup:
        return _text_piece(markup)
    pieces: list[str] = []
    stack: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        whole, escapes, tag = match.groups()
        start, end = match.span()
        if start > position:
            pieces.append(_text_piece(markup[position:start]))
        position = end
        backslashes, escaped = divmod(len(escapes), 2)
        pieces.append("\\" * backslashes)
        if escaped:
            pieces.append(_text_piece(whole[len(escapes) :]))
        else:
            _tag(tag, stack)
    pieces.append(_text_piece(markup[position:]))
    return "".join(pieces)


def _plain(text: str) -> str:
    """Text Rich prints as it is (no markup read): printable ASCII or decline."""
    if not _PRINTABLE.fullmatch(text):
        raise Decline("not printable ASCII")
    return text


def _divide(line: str, width: int, fold: bool) -> list[str]:
    """``line`` cut where ``rich._wrap.divide_line`` cuts it (single-cell characters)."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(line):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if not fold:  # cropped later, on a line of its own
                if start:
                    breaks.append(start)
                offset = len(word)
                continue
            chunks = [word[index : index + width] for index in range(0, len(word), width)]
            for chunk in chunks:
                if start:
                    breaks.append(start)
                start += len(chunk)
            offset = len(chunks[-1])
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    edges = [0, *breaks, len(line)]
    return [line[begin:end] for begin, end in zip(edges, edges[1:], strict=False)]


def wrap(text: str, width: int, overflow: str = "fold", no_wrap: bool = False) -> list[str]:
    """The lines ``Text.wrap`` makes of plain ``text`` at ``width`` (not padded).

    Parameters
    ----------
    text : str
        Plain text (printable ASCII and newlines).
    width : int
        The columns a line may take.
    overflow : str
        "fold" cuts a word longer than a line into lines; "ellipsis" (a table column's)
        cuts it at the width, with an ellipsis; "crop" cuts it.
    no_wrap : bool
        Each line as it is (cut at the width).

    >>> wrap("one two  three\\nfour", 9)
    ['one two  ', 'three', 'four']
    """
    lines: list[str] = []
    for line in text.split("\n"):
        for part in [line] if no_wrap else _divide(line, width, overflow == "fold"):
            excess = len(part) - width
            if excess > 0 and not no_wrap:  # Text.rstrip_end: spaces past the width go
                part = part[: len(part) - min(len(part) - len(part.rstrip()), excess)]
            if len(part) > width:  # Text.truncate
                part = part[: width - 1] + "\u2026" if overflow == "ellipsis" else part[:width]
            lines.append(part)
    return lines


class _Text:
    """A Rich ``Text`` reduced to what its layout needs."""

    def __init__(self, plain: str, overflow: str | None = None, no_wrap: bool = False) -> None:
        self.plain, self.overflow, self.no_wrap = plain, overflow, no_wrap

    def measure(self) -> tuple[int, int]:
        """``Text.__rich_measure__``: the longest word, the longest line."""
        lines = self.plain.splitlines()
        longest = max((len(line) for line in lines), default=0)
        words = self.plain.split()
        return (max(len(word) for word in words) if words else longest), longest


class _Columns:
    """A Rich ``Columns`` of texts (an option's help, default, ``[required]``)."""

    def __init__(self, items: Sequence[_Text]) -> None:
        self.items = list(items)


_Item = _Text | _Columns


class _Column:
    """A table column's settings: a fixed width, a ratio (flexible), no wrapping."""

    def __init__(self, width: int | None = None, ratio: int | None = None, no_wrap: bool = False):
        self.width, self.ratio, self.no_wrap = width, ratio, no_wrap


def _measure(item: _Item, max_width: int) -> tuple[int, int]:
    """``Measurement.get``: a Columns has no measure of its own and takes the whole width."""
    if max_width < 1:
        return 0, 0
    if isinstance(item, _Columns):
        return 0, max_width
    low, high = item.measure()
    low = min(max(0, low), high)
    low, high = min(low, max_width), min(max(0, high), max_width)
    return (0, 0) if high < 1 else (low, high)


def _measure_padded(item: _Item, left: int, right: int, max_width: int) -> tuple[int, int]:
    """``Measurement.get`` of ``Padding(item, (0, right, 0, left))``."""
    if max_width < 1:
        return 0, 0
    extra = left + right
    if max_width - extra < 1:
        low = high = max_width
    else:
        low, high = _measure(item, max_width)
        low, high = min(low + extra, max_width), min(high + extra, max_width)
    low = min(max(0, low), high)
    return (0, 0) if high < 1 else (low, high)


def _render(item: _Item, width: int, column: _Column) -> list[str]:
    """The lines of ``item`` in a table cell ``width`` wide, padded to it."""
    if width < 1:  # Console.render draws nothing there (an empty column, padding alone)
        return []
    if isinstance(item, _Columns):
        lines = _columns(item.items, width)
    else:
        lines = wrap(item.plain, width, item.overflow or "ellipsis", item.no_wrap or column.no_wrap)
    return [line.ljust(width)[:width] for line in lines]


# ---- tables --------------------------------------------------------------------------------------


def _ratio_reduce(
    total: int, ratios: list[int], maximums: list[int], values: list[int]
) -> list[int]:
    """``rich._ratio.ratio_reduce``: take ``total`` off ``values`` in proportion to
    ``ratios``, at most ``maximums``."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    result: list[int] = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            result.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _ratio_distribute(
    total: int, ratios: list[int], minimums: list[int] | None = None
) -> list[int]:
    """``rich._ratio.ratio_distribute``: ``total`` shared in proportion to ``ratios``."""
    if minimums:
        ratios = [ratio if least else 0 for ratio, least in zip(ratios, minimums, strict=True)]
    total_ratio = sum(ratios)
    remaining = total
    result: list[int] = []
    for ratio, least in zip(ratios, minimums or [0] * len(ratios), strict=True):
        distributed = (
            max(least, ceil(ratio * remaining / total_ratio)) if total_ratio > 0 else remaining
        )
        result.append(distributed)
        total_ratio -= ratio
        remaining -= distributed
    return result


class _Table:
    """A Rich ``Table`` without box, header or edge padding (``pad_edge=False``), as Typer
    builds its options and commands tables and ``Columns`` its grid."""

    def __init__(
        self,
        rows: Sequence[Sequence[_Item]],
        columns: Sequence[_Column] | None = None,
        *,
        expand: bool = True,
        collapse_padding: bool = False,
    ) -> None:
        count = max((len(row) for row in rows), default=0)
        self.columns = list(columns or [_Column() for _ in range(count)])
        self.cells = [[row[index] if index < len(row) else _Text("") for row in rows]
                      for index in range(len(self.columns))]  # fmt: skip
        self.expand, self.collapse_padding = expand, collapse_padding

    def padding(self, index: int) -> tuple[int, int]:
        """The cells' (left, right) padding in column ``index`` (padding (0, 1))."""
        left = 0 if index == 0 or self.collapse_padding else 1
        return left, 0 if index == len(self.columns) - 1 else 1

    def measure_column(self, index: int, max_width: int) -> tuple[int, int]:
        """``Table._measure_column``."""
        if max_width < 1:
            return 0, 0
        left, right = self.padding(index)
        fixed = self.columns[index].width
        if fixed is not None:
            return min(fixed + left + right, max_width), min(fixed + left + right, max_width)
        sizes = [_measure_padded(cell, left, right, max_width) for cell in self.cells[index]]
        low = max((size[0] for size in sizes), default=1)
        high = max((size[1] for size in sizes), default=max_width)
        return min(low, max_width), min(high, max_width)

    def flexible_widths(self, ranges: list[tuple[int, int]], max_width: int) -> list[int]:
        """The columns' widths when ratio columns share what the others leave (expand)."""
        columns = self.columns
        fixed = [
            0 if c.ratio is not None else size[1] for size, c in zip(ranges, columns, strict=True)
        ]
        ratios, least = [], []
        for index, column in enumerate(columns):
            if column.ratio is not None:
                ratios.append(column.ratio or 0)
                least.append((column.width or 1) + sum(self.padding(index)))
        shared = iter(_ratio_distribute(max_width - sum(fixed), ratios, least))
        return [
            fixed[index] + next(shared) if column.ratio is not None else (ranges[index][1] or 1)
            for index, column in enumerate(columns)
        ]

    def widths(self, max_width: int) -> list[int]:
        """``Table._calculate_column_widths``: each column's width, padding included."""
        columns = self.columns
        ranges = [self.measure_column(index, max_width) for index in range(len(columns))]
        widths = [high or 1 for _, high in ranges]
        if self.expand and any(column.ratio for column in columns):
            widths = self.flexible_widths(ranges, max_width)
        table_width = sum(widths)
        if table_width > max_width:
            widths = _collapse(
                widths, [c.width is None and not c.no_wrap for c in columns], max_width
            )
            table_width = sum(widths)
            if table_width > max_width:  # Rich's last resort: every column alike
                widths = _ratio_reduce(table_width - max_width, [1] * len(widths), widths, widths)
                table_width = sum(widths)
            widths = [
                self.measure_column(index, width)[1] or 0 for index, width in enumerate(widths)
            ]
        if table_width < max_width and self.expand:  # table_width before the re-measure, as Rich
            extra = _ratio_distribute(max_width - table_width, widths)
            widths = [width + more for width, more in zip(widths, extra, strict=True)]
        return widths

    def lines(self, max_width: int) -> list[str]:
        """The table's lines (each as wide as the table)."""
        widths = self.widths(max_width)
        out: list[str] = []
        for row in range(len(self.cells[0]) if self.cells else 0):
            drawn = []
            for index, width in enumerate(widths):
                left, right = self.padding(index)
                inner = _render(self.cells[index][row], width - left - right, self.columns[index])
                drawn.append([" " * left + line + " " * right for line in inner])
            height = max(1, *(len(cell) for cell in drawn))
            for number in range(height):
                out.append("".join(cell[number] if number < len(cell) else " " * width
                                   for cell, width in zip(drawn, widths, strict=True)))  # fmt: skip
        return out


def _collapse(widths: list[int], wrapable: list[bool], max_width: int) -> list[int]:
    """``Table._collapse_widths``: narrow the widest wrapable columns first."""
    total = sum(widths)
    excess = total - max_width
    if any(wrapable):
        while total and excess > 0:
            widest = max(w for w, can in zip(widths, wrapable, strict=True) if can)
            second = max(
                w if can and w != widest else 0 for w, can in zip(widths, wrapable, strict=True)
            )
            ratios = [
                1 if (w == widest and can) else 0 for w, can in zip(widths, wrapable, strict=True)
            ]
            if not any(ratios) or not widest - second:
                break
            widths = _ratio_reduce(
                excess, ratios, [min(excess, widest - second)] * len(widths), widths
            )
            total = sum(widths)
            excess = total - max_width
    return widths


def _columns(items: Sequence[_Text], max_width: int) -> list[str]:
    """``Columns(items)`` at ``max_width``: as many side by side as fit, row by row."""
    if not items:
        return []
    sizes = [_measure(item, max_width)[1] for item in items]
    count = len(items)
    while count > 1:
        widths: dict[int, int] = {}
        column = 0
        for size in sizes + [0] * (-len(items) % count):
            widths[column] = max(widths.get(column, 0), size)
            if sum(widths.values()) + len(widths) - 1 > max_width:
                count = len(widths) - 1
                break
            column = (column + 1) % count
        else:
            break
    rows = [list(items[start : start + count]) for start in range(0, len(items), count)]
    return _Table(rows, expand=False, collapse_padding=True).lines(max_width)


# ---- Typer's help --------------------------------------------------------------------------------


def _rich_text(text: str) -> str:
    """``rich_utils._make_rich_text`` in "rich" markup mode, as plain text."""
    return markup_text(inspect.cleandoc(text))


def _description(command: Any) -> list[str]:
    """``rich_utils._get_help_text``: the first paragraph, a blank line, the rest."""
    if command.deprecated:
        raise Decline("deprecated")
    help_text = inspect.cleandoc(command.help or "").partition("\f")[0]
    first, *rest = help_text.split("\n\n")
    if not first.startswith("\b"):
        first = first.replace("\n", " ")
    texts = [_rich_text(first.strip())]
    if rest:
        texts += ["", _rich_text("\n\n".join(rest))]
    return texts


def _parameter_help(param: Any, ctx: Any) -> _Columns:
    """``rich_utils._get_parameter_help``: the help, the env var, the default, required."""
    items: list[_Text] = []
    envvar = getattr(param, "envvar", None)
    if envvar is None and (
        getattr(param, "allow_from_autoenv", None)
        and getattr(ctx, "auto_envvar_prefix", None) is not None
        and param.name is not None
    ):
        envvar = f"{ctx.auto_envvar_prefix}_{param.name.upper()}"
    help_value: str | None = getattr(param, "help", None)
    if help_value:
        paragraphs = [
            part.replace("\n", " ").strip()
            if not part.startswith("\b")
            else "{}\n".format(part.strip("\b\n"))
            for part in help_value.split("\n\n")
        ]
        items.append(_Text(_rich_text("\n".join(paragraphs).strip())))
    if envvar and getattr(param, "show_envvar", None):
        shown = envvar if isinstance(envvar, str) else ", ".join(str(name) for name in envvar)
        items.append(_Text(_plain(_ENVVAR.format(shown))))
    if isinstance(param, (TyperOption, TyperArgument)):
        default = param._extract_default_help_str(ctx=ctx)
        named = isinstance(param.show_default, str)
        if named or (default is not None and (param.show_default or ctx.show_default)):
            text = param._get_default_string(
                ctx=ctx, show_default_is_str=named, default_value=default
            )
            if text:
                items.append(_Text(_plain(_DEFAULT.format(text))))
    if param.required:
        items.append(_Text(_REQUIRED))
    return _Columns(items)


def _names(param: Any, ctx: Any) -> tuple[list[list[str]], str]:
    """An option row's names (long, short, secondary long, secondary short) and its type."""
    metavar_name = None
    if isinstance(param, TyperArgument):
        metavar_name = param.metavar if param.metavar is not None else (param.name or "")
        kind = param.type.get_metavar(param=param, ctx=ctx)
        kind = f"<{param.type.name}>" if kind is None else kind
    else:
        kind = param.make_metavar(ctx=ctx)
    names: list[list[str]] = [[], [], [], []]
    for slot, opts in ((0, param.opts), (2, param.secondary_opts)):
        for opt in opts:
            if "--" in opt:
                names[slot].append(opt)
            else:
                names[slot + 1].append(metavar_name or opt)
    shown = kind if kind and "bool" not in kind.lower() else ""
    number: Any = param.type
    if (
        hasattr(number, "_describe_range")  # Click's number ranges
        and isinstance(param, TyperOption)
        and not (param.count and number.min == 0 and number.max is None)
    ):
        described = number._describe_range()
        shown += f" [{described}]" if described else ""
    return names, shown


def _options_panel(name: str, params: Sequence[Any], ctx: Any, width: int) -> list[str]:
    """``rich_utils._print_options_panel``: a panel of arguments or options."""
    rows: list[list[_Item]] = []
    for param in params:
        names, kind = _names(param, ctx)
        row: list[_Item] = [_Text(_plain(",".join(group))) for group in names]
        rows.append([*row, _Text(_plain(kind), overflow="fold"), _parameter_help(param, ctx)])
    if not rows:
        return []
    if any(param.required for param in params):
        rows = [
            [_Text("*" if param.required else ""), *row]
            for param, row in zip(params, rows, strict=True)
        ]
    return _panel(name, _Table(rows).lines(width - 4), width)


def _commands_panel(name: str, commands: Sequence[Any], longest: int, width: int) -> list[str]:
    """``rich_utils._print_commands_panel``: command names and their first paragraph."""
    rows: list[list[_Item]] = []
    for command in commands:
        if command.deprecated:
            raise Decline("deprecated command")
        paragraphs = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")
        if paragraphs[0].startswith("\b"):
            paragraphs[0] = paragraphs[0].replace("\b\n", "")
        rows.append([_Text(_plain(command.name or "")), _Text(_rich_text(paragraphs[0].strip()))])
    if not rows:
        return []
    table = _Table(rows, [_Column(width=longest, no_wrap=True), _Column(ratio=10)])
    return _panel(name, table.lines(width - 4), width)


def _panel(title: str, content: Iterable[str], width: int) -> list[str]:
    """A Rich ``Panel`` (rounded box, padding (0, 1), title on the left) around ``content``
    lines drawn ``width - 4`` wide."""
    label = " " + markup_text(title).replace("\n", " ") + " "
    if len(label) > width - 4:
        raise Decline(f"panel title {title!r} wider than the panel")
    top = "\u256d\u2500" + label + "\u2500" * (width - 4 - len(label)) + "\u2500\u256e"
    inner = width - 4
    body = ["\u2502 " + line.ljust(inner)[:inner] + " \u2502" for line in content]
    return [top, *body, "\u2570" + "\u2500" * (width - 2) + "\u256f"]


def _padded(lines: Iterable[str], width: int, top: int, bottom: int) -> list[str]:
    """``Padding(lines, (top, 1, bottom, 1))`` at ``width``."""
    blank = [" " * width]
    inner = width - 2
    return [
        *blank * top,
        *(" " + line.ljust(inner)[:inner] + " " for line in lines),
        *blank * bottom,
    ]


def _param_panels(command: Any, ctx: Any, width: int) -> list[str]:
    """The argument panels, then the option panels, each default panel first."""
    panels: dict[type, dict[str, list[Any]]] = {TyperArgument: {}, TyperOption: {}}
    for param in command.get_params(ctx):
        kind = next((k for k in panels if isinstance(param, k)), None)
        if kind is None or getattr(param, "hidden", False):
            continue
        default = _ARGUMENTS if kind is TyperArgument else _OPTIONS
        panels[kind].setdefault(getattr(param, _PANEL, None) or default, []).append(param)
    lines: list[str] = []
    for kind, default in ((TyperArgument, _ARGUMENTS), (TyperOption, _OPTIONS)):
        named = panels[kind]
        lines += _options_panel(default, named.get(default, []), ctx, width)
        for name, params in named.items():
            if name != default:
                lines += _options_panel(name, params, ctx, width)
    return lines


def _command_panels(group: Any, ctx: Any, width: int) -> list[str]:
    """The commands panels of a group (``Commands`` first), names aligned across them."""
    panels: dict[str, list[Any]] = {}
    # A group may describe a command without building it (convcli's lazy group does):
    # the listing reads only its name, help, short_help, hidden, deprecated and panel.
    describe = getattr(group, "command_summary", None) or group.get_command
    for name in group.list_commands(ctx):
        command = describe(ctx, name)
        if command and not command.hidden:
            panels.setdefault(getattr(command, _PANEL, None) or _COMMANDS, []).append(command)
    longest = max((len(c.name or "") for commands in panels.values() for c in commands), default=0)
    lines = _commands_panel(_COMMANDS, panels.get(_COMMANDS, []), longest, width)
    for name, commands in panels.items():
        if name != _COMMANDS:
            lines += _commands_panel(name, commands, longest, width)
    return lines


def help_lines(command: Any, ctx: Any, width: int) -> list[str]:
    """The lines of ``rich_format_help(obj=command, ctx=ctx, markup_mode="rich")`` on a
    plain console ``width`` columns wide; raises :class:`Decline` where Rich must draw.

    Parameters
    ----------
    command : TyperCommand or TyperGroup
        The command whose help it is.
    ctx : Context
        Its context (usage line, defaults).
    width : int
        The console's width.
    """
    lines = _padded(wrap(_plain(command.get_usage(ctx)), width - 2), width, 1, 1)
    if command.help:
        description = [part for text in _description(command) for part in wrap(text, width - 2)]
        lines += _padded(description, width, 0, 1)
    lines += _param_panels(command, ctx, width)
    if isinstance(command, TyperGroup):
        lines += _command_panels(command, ctx, width)
    if command.epilog:
        epilog = _rich_text("\n\n".join(command.epilog.split("\n\n")))
        lines += _padded(wrap(epilog, width - 2), width, 1, 1)
    return lines


def plain_help(command: Any, ctx: Any) -> str | None:
    """What Typer's Rich help writes for ``command`` when stdout is no terminal, or None
    when Rich must draw it (see the module's docstring)."""
    if getattr(command, "rich_markup_mode", None) != "rich":
        return None
    width = console_width()
    if width is None or width < MIN_WIDTH:
        return None
    try:
        return "".join(line + "\n" for line in help_lines(command, ctx, width))
    except Decline:
        return None
