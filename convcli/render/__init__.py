"""Rendering: tables, JSON, CSV and plain text. The only place that formats output.

Shared helpers live here; command-specific renderers live in sibling modules
(``convcli.render.shape`` and so on). Rich is imported only when a table is drawn.
Data goes to stdout, diagnostics to stderr; ``NO_COLOR`` is honoured by Rich.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class OutputFormat(str, Enum):
    """``--format`` choices shared by every command that prints results."""

    table = "table"
    json = "json"
    csv = "csv"
    plain = "plain"


def stdout_console() -> Console:
    """A Rich console on stdout.

    Off a terminal, Rich would wrap tables at 80 columns; a wide virtual width keeps
    each row on one line when the output is piped or captured.
    """
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=200, soft_wrap=False)


def stderr_console() -> Console:
    """A Rich console on stderr, for notes, progress and summaries."""
    from rich.console import Console

    return Console(stderr=True)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON (no markup) to stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def print_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows as CSV to stdout."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def thousands(value: int | float) -> str:
    """``19456`` -> ``19,456``; floats keep up to three decimals."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def note(message: str) -> None:
    """A one-line diagnostic on stderr (not an error)."""
    sys.stderr.write(message + "\n")
