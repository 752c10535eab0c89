"""Rendering: tables, JSON, CSV and plain text. The only place that formats output.

Shared helpers live here, with the one dispatcher (:func:`render` over a
:class:`ResultView`); command-specific views live in sibling modules
(``convcli.render.shape`` and so on); numbers are formatted by :mod:`convcli.numbers`.
Rich is imported only when a table is drawn.
Data goes to stdout, diagnostics to stderr; ``NO_COLOR`` is honoured by Rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from convcli._records import dataclass
from convcli.numbers import thousands as thousands  # re-exported: renderers import it from here

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text


class OutputFormat(str, Enum):
    """``--format`` choices shared by every command that prints results."""

    table = "table"
    json = "json"
    csv = "csv"
    plain = "plain"


#: The virtual width of stdout off a terminal. Rich would wrap tables at 80 columns; a wide
#: width keeps each row on one line when the output is piped or captured.
PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A Rich console on stdout (:data:`PIPE_WIDTH` columns off a terminal)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=PIPE_WIDTH, soft_wrap=False)


def stdout_is_plain() -> bool:
    """Whether :func:`stdout_console` would write plain text: stdout is no terminal and
    nothing makes Rich take it for one (``FORCE_COLOR``, ``TTY_COMPATIBLE``, a Rich proxy).

    Decided without importing Rich (~25 ms of ``convcli shape``'s start-up): a piped table
    is drawn by the caller, byte for byte as Rich would. Any doubt answers False, and Rich
    draws as before.
    """
    stream = sys.stdout
    if any(name in os.environ for name in ("FORCE_COLOR", "TTY_COMPATIBLE")):
        return False
    if hasattr(stream, "rich_proxied_file"):
        return False
    try:
        return not stream.isatty()
    except ValueError:  # closed: let Rich decide, as it always did
        return False


def _rich_changes(text: str) -> bool:
    """Whether Rich's ``console.print`` would change ``text``: a markup tag (``[``), an
    ``:emoji:`` code (two colons with no space between: its pattern
    ``:(\\S*?)(?:(?:\\-)(emoji|text))?:``), or anything but printable ASCII (control codes,
    tabs, wide cells). String methods, not a pattern: compiling one cost ``convcli shape``
    more than the whole check (issue 14)."""
    if "[" in text or not (text.isascii() and text.isprintable()):
        return True
    return any(word.count(":") > 1 for word in text.split(" "))


def _words(text: str) -> list[str]:
    """``re.findall(r"\\s*\\S+\\s*", text)`` for printable ASCII text (whose only
    whitespace is the space): each word with the spaces after it, the first with the
    spaces before it too; spaces alone are no word."""
    words: list[str] = []
    start, end = 0, len(text)
    at = end - len(text.lstrip(" "))
    while at < end:
        gap = text.find(" ", at)
        if gap == -1:
            words.append(text[start:])
            break
        at = end - len(text[gap:].lstrip(" "))
        words.append(text[start:at])
        start = at
    return words


def wrap_like_rich(text: str, width: int) -> list[str] | None:
    """The lines ``Console(width=width).print(text, highlight=False)`` writes off a terminal,
    for text Rich prints as is; None when Rich must draw it (markup, emoji codes, a word
    wider than a line, anything but printable ASCII).

    Rich breaks before a word that does not fit (its trailing spaces ride along, so a line
    can end in a space) and drops the spaces that would pass the width.

    >>> wrap_like_rich("one two  three four", 9)
    ['one two  ', 'three ', 'four']
    >>> wrap_like_rich("[dim]x[/]", 9) is None, wrap_like_rich("a :smile: b", 9) is None
    (True, True)
    """
    if _rich_changes(text):
        return None
    lines: list[str] = []
    line = ""
    for word in _words(text):
        if len(word.rstrip()) > width:
            return None  # Rich folds it inside the word
        if line and len(line) + len(word.rstrip()) > width:
            lines.append(line)
            line = ""
        line += word
    lines.append(line or text)  # spaces alone are one line, as Rich has them
    return [line[:width] for line in lines]


def stderr_console() -> Console:
    """A Rich console on stderr, for notes, progress and summaries."""
    from rich.console import Console

    return Console(stderr=True)


def print_json(data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (no markup) to stdout, indented (None: on one line)."""
    import json  # here, not at the top: `convcli shape`'s table does not need it

    sys.stdout.write(json.dumps(data, indent=indent) + "\n")


def print_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows as CSV to stdout."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def note(message: str) -> None:
    """A one-line diagnostic on stderr (not an error)."""
    sys.stderr.write(message + "\n")


# ---- the one dispatcher --------------------------------------------------------------------------
#
# A command hands render() a ResultView: its result (data-first: a to_dict() says it all)
# with the options that shape the text (channels-last, --depth, ...). render() owns the
# choice of format, so a new format is one OutputFormat member and one branch below; a
# format built from the data (YAML, say) needs nothing from the views.

CsvTable = tuple[Sequence[str], Iterable[Sequence[Any]]]


class ResultView:
    """A result as :func:`render` prints it; subclasses fill in what their result has.

    - :meth:`to_dict`: the data (``--format json``); required;
    - :meth:`csv_table`: a header and rows (``--format csv``); by default refused with
      a usage error naming :attr:`what`;
    - :meth:`plain_lines`: text without markup (``--format plain``);
    - :meth:`print_table`: the terminal view (``--format table``); by default the plain lines;
    - :meth:`notes`: lines for stderr after the result, in every format.
    """

    #: What the result is called in the message refusing a format.
    what = "this result"
    #: JSON indentation; None writes one line (a matrix reads better as [[1, 2], [3, 4]]).
    json_indent: int | None = 2

    def to_dict(self) -> Any:
        """The result as JSON-ready data."""
        raise NotImplementedError

    def csv_table(self) -> CsvTable:
        """The header and rows of ``--format csv``."""
        from convcli.errors import SpecError

        raise SpecError(f"{self.what} has no CSV form: use --format table, plain or json")

    def plain_lines(self) -> Iterable[str]:
        """The lines of ``--format plain``."""
        raise NotImplementedError

    def print_table(self) -> None:
        """Print ``--format table`` on stdout."""
        write_lines(self.plain_lines())

    def notes(self) -> Sequence[str]:
        """Diagnostics for stderr (printed after the result)."""
        return ()


def write_lines(lines: Iterable[str]) -> None:
    """Lines on stdout, each ended by a newline."""
    sys.stdout.write("".join(line + "\n" for line in lines))


def render(view: ResultView, output_format: OutputFormat | None) -> None:
    """Print ``view`` in ``output_format`` (None: table) on stdout, then its notes on stderr.

    Each format is one branch: a format that needs only the data reads ``to_dict()``.
    """
    if output_format is OutputFormat.json:
        print_json(view.to_dict(), view.json_indent)
    elif output_format is OutputFormat.csv:
        header, rows = view.csv_table()
        print_csv(header, rows)
    elif output_format is OutputFormat.plain:
        write_lines(view.plain_lines())
    else:
        view.print_table()
    for message in view.notes():
        note(message)


# ---- fitting the terminal ------------------------------------------------------------------------
#
# A table that is wider than the terminal is never squeezed: Rich would cut its numbers and
# names with an ellipsis. Each renderer offers its layouts, widest first, to print_fitting,
# which prints the first one that fits; the last one (usually `stacked`) always does. A wide
# terminal and a pipe (200 columns) keep seeing the first layout, byte for byte.

_UNBOUNDED = 100_000


def fits(console: Console, renderable: RenderableType) -> bool:
    """Whether ``renderable`` prints on ``console`` with no word or number cut.

    Text wraps between words, so it fits when its longest word does; anything else (a
    table) fits when its natural width does: then no cell is wrapped, folded or cut.
    """
    from rich.measure import Measurement
    from rich.text import Text

    options = console.options.update_width(_UNBOUNDED)
    measured = Measurement.get(console, options, renderable)
    needed = measured.minimum if isinstance(renderable, (str, Text)) else measured.maximum
    return needed <= console.width


def print_fitting(console: Console, *layouts: Sequence[RenderableType]) -> None:
    """Print the first of ``layouts`` (each a sequence of tables and texts) whose every
    item :func:`fits` the console, or else the last one."""
    chosen = layouts[-1]
    for layout in layouts[:-1]:
        if all(fits(console, item) for item in layout):
            chosen = layout
            break
    for item in chosen:
        console.print(item)


@dataclass(frozen=True)
class Record:
    """One row of a table, stacked: a heading, then lines of ``(label, value)`` fields.

    An empty label shows the value alone. ``style`` applies to the whole record.
    """

    heading: str
    lines: Sequence[Sequence[tuple[str, str]]]
    style: str = ""


_FIELD_GAP = "   "


def stacked(console: Console, records: Sequence[Record], indent: int | None = None) -> Text:
    """Records one under another, for a console too narrow for their table.

    Headings make a column on the left; each line of fields flows to the console's width
    and goes on under the previous one, a field never split unless it is wider than the
    whole line (and then only between words, never inside a number or a name). ``indent``
    sets the headings' column (records printed in groups keep it alike)::

        standard   256 x 5x5x3   conv:256,k=5
                   output 256x8x8   params 19,456   MACs 1,228,800

    Parameters
    ----------
    console : Console
        Where it will print (its width).
    records : sequence of Record
        The rows.
    indent : int or None
        The headings' column; None: the longest heading and two spaces.
    """
    from rich.text import Text

    width = console.width
    if indent is None:  # the headings' column: the longest heading and two spaces
        indent = max((len(r.heading) for r in records), default=0) + 2
    indent = min(indent, max(width // 3, 4))
    room = max(width - indent, 16)
    out = Text()
    for number, record in enumerate(records):
        rows: list[Text] = []
        for fields in record.lines:
            line = Text()
            for label, value in fields:
                if label and value:
                    piece = Text.assemble((label, "dim"), " ", value)
                else:
                    piece = Text(label, style="dim") if label else Text(value)
                if line and line.cell_len + len(_FIELD_GAP) + piece.cell_len <= room:
                    line.append(_FIELD_GAP)
                    line.append_text(piece)
                    continue
                if line:
                    rows.append(line)
                if piece.cell_len <= room:
                    line = piece
                    continue
                line = Text()
                for word in piece.split(" "):  # between words only, never inside one
                    if line and line.cell_len + 1 + word.cell_len > room:
                        rows.append(line)
                        line = Text()
                    line.append_text(Text(" ") + word if line else word)
            if line:
                rows.append(line)
        text = Text(record.heading, style="bold")
        if text.cell_len + 2 > indent:  # a long heading gets a line of its own
            text.append("\n" + " " * indent)
        else:
            text.append(" " * (indent - text.cell_len))
        text.append_text(Text("\n" + " " * indent).join(rows))
        if record.style:
            text.stylize(record.style)
        if number:
            out.append("\n")
        out.append_text(text)
    return out
