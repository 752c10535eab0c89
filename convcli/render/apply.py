"""Rendering for ``convcli apply``: matrix results as numbers, the ``--explain`` notes, and a
batch's progress bar, failure lines, summary and per-file report.

NumPy is imported inside the functions (``--help`` must not pay for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convcli._records import dataclass
from convcli.errors import visible
from convcli.geometry import dims_text
from convcli.numbers import format_number, json_nested
from convcli.render import CsvTable, OutputFormat, ResultView, render, stdout_console

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from convcli.batch import BatchItem, BatchReport
    from convcli.process import ApplyResult


def matrix_json(values: np.ndarray) -> dict[str, Any]:
    """``{"shape": [...], "data": [...]}`` with whole numbers as ints."""
    return {"shape": list(values.shape), "data": json_nested(values)}


@dataclass(frozen=True)
class MatrixView(ResultView):
    """A matrix result: plain numbers (the default, as a ``.txt`` output holds them), CSV
    without a header (as a ``.csv`` output), one-line JSON, or a Rich table."""

    values: np.ndarray
    what = "a matrix result"
    json_indent = None  # a matrix reads better as [[19, 25], [37, 43]] than one per line

    def to_dict(self) -> dict[str, Any]:
        return matrix_json(self.values)

    def csv_table(self) -> CsvTable:
        # The same text as a .csv output file: no header row, so the first row takes its
        # place; a blank row separates channels.
        from convcli.imageio import matrix_text

        rows = [
            line.split(",") if line else [] for line in matrix_text(self.values, ",").split("\n")
        ]
        return rows[0], rows[1:-1]

    def plain_lines(self) -> list[str]:
        from convcli.imageio import matrix_text

        return matrix_text(self.values).splitlines()

    def print_table(self) -> None:
        _print_table(self.values)


def print_matrix(values: np.ndarray, output_format: OutputFormat | None) -> None:
    """Print a matrix result on stdout in the chosen format (default: plain numbers)."""
    render(MatrixView(values), output_format or OutputFormat.plain)


def _print_table(values: np.ndarray) -> None:
    from rich.table import Table
    from rich.text import Text

    from convcli.errors import ConvcliError
    from convcli.limits import MAX_TABLE_CELLS

    if values.size > MAX_TABLE_CELLS:
        raise ConvcliError(
            f"the {dims_text(values.shape)} result has {values.size:,} values, more than "
            f"--format table draws ({MAX_TABLE_CELLS:,}); use plain, csv or json"
        )

    console = stdout_console()
    channels = [values] if values.ndim == 2 else list(values)
    for index, channel in enumerate(channels, start=1):
        # A channel's title is a line of its own above its numbers, as kernels and learn
        # label their channels: as the table's title it was wrapped to the table's width,
        # inside a word ("channe" / "l 1") for a 2x2 result.
        if len(channels) > 1:
            console.print(Text(f"channel {index}", style="table.title"))
        table = Table(show_header=False, box=None, padding=(0, 1))
        for _ in range(channel.shape[1]):
            table.add_column(justify="right")
        for row in channel:
            table.add_row(*(format_number(float(v)) for v in row))
        console.print(table)


def explain_lines(result: ApplyResult) -> list[str]:
    """What ``--explain`` prints on stderr: per step, its operation, pads and algorithm."""
    lines = [f"input: {result.input} ({result.kind}, {dims_text(result.in_shape)} as CxHxW)"]
    for report in result.reports:
        line = (
            f"step {report.index} '{report.text}': {report.operation}; "
            f"{dims_text(report.in_shape)} -> {dims_text(report.out_shape)}"
        )
        if report.pads is not None:
            top, bottom, left, right = report.pads
            line += (
                f"; pads top {top}, bottom {bottom}, left {left}, right {right} ({report.border})"
            )
        lines.append(line)
        for label, name, reason in report.algorithms:
            prefix = f"{label}: " if label else ""
            lines.append(f"  {prefix}algorithm {name}: {reason}")
    if result.strips:
        lines.append(
            f"strips: filtered in {result.strips} strip{'s' * (result.strips != 1)} of rows, "
            "each read with the "
            "rows its kernels reach above and below (the same pixels as the whole at once)"
        )
    if result.map_reason:
        lines.append(f"map: {result.map_reason}")
    if result.output is not None:
        lines.append(f"output: {result.output} ({result.output_description})")
    if result.timings:
        phases = ", ".join(f"{name} {_ms(seconds)}" for name, seconds in result.timings.items())
        lines.append(f"time: {phases} (total {_ms(result.seconds)} after start-up)")
    return lines


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def _failure_line(item: BatchItem) -> str:
    """``failed: photos/x.png: corrupt PNG file (...)``, the file named once."""
    error = item.error or "failed"
    if error.startswith(item.input):
        return f"failed: {error}"
    return f"failed: {item.input}: {error}"


def _note_lines(item: BatchItem) -> list[str]:
    return [
        f"note: {note}" if note.startswith(item.input) else f"note: {item.input}: {note}"
        for note in item.notes
    ]


def skipped_line(item: BatchItem) -> str:
    """The note for an output that exists (without --force or --skip-existing)."""
    return (
        f"note: skipped {item.input}: '{item.output}' exists "
        "(--force replaces it, --skip-existing skips quietly)"
    )


def skipped_lines(items: Sequence[BatchItem]) -> list[str]:
    """The notes for outputs that exist at planning: one line for one, one line for many
    (a re-run of a big batch must not print a line per file)."""
    skipped = [item for item in items if item.status == "skipped"]
    if len(skipped) <= 1:
        return [skipped_line(item) for item in skipped]
    return [
        f"note: {len(skipped)} outputs exist, skipped (the first: '{skipped[0].output}'; "
        "--force replaces them, --skip-existing skips quietly)"
    ]


def ignored_line(ignored: Sequence[str]) -> str:
    """One note for the files a folder scan left out because they are not images."""
    count = len(ignored)
    files = "file is not an image" if count == 1 else "files are not images"
    more = f" and {count - 1} more" if count > 1 else ""
    return f"note: {count} {files} (by suffix), left out: '{ignored[0]}'{more}"


def retry_lines(report: BatchReport) -> list[str]:
    """Notes for the files Dask started again (a worker died, or the task raised)."""
    return [
        f"note: {item.input}: started {item.retries + 1} times on the cluster "
        "(a worker died or its task raised)"
        for item in report.items
        if item.retries
    ]


class BatchProgress:
    """What a batch shows on stderr while it runs.

    A Rich progress bar (files done / total, files per second, time left) when stderr is
    a terminal and not ``quiet``; failures (always) and notes (unless ``quiet``) as lines,
    printed above the bar. Pass :meth:`start` and :meth:`advance` to
    :func:`convcli.batch.run_batch`, and call :meth:`stop` at the end.
    """

    def __init__(
        self, *, quiet: bool = False, bar: bool | None = None, skip_notes: bool = True
    ) -> None:
        import sys

        self.quiet = quiet
        self.skip_notes = skip_notes and not quiet
        self.bar = (not quiet and sys.stderr.isatty()) if bar is None else bar
        self._progress: Any = None
        self._task: Any = None

    def start(self, total: int, jobs: int) -> None:
        """Show the bar (called by the batch once its workers are up)."""
        if not self.bar or total == 0:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from convcli.render import stderr_console

        workers = "1 process" if jobs == 1 else f"{jobs} processes"
        self._progress = Progress(
            TextColumn(f"filtering ({workers})"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self._task = self._progress.add_task("batch", total=total, rate="")
        self._progress.start()

    def print(self, line: str) -> None:
        """A line on stderr, above the bar if there is one; invisible characters (a newline
        or ESC in a file's name) are shown escaped, so one line stays one line."""
        import sys

        line = visible(line)
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            sys.stderr.write(line + "\n")

    def advance(self, item: BatchItem) -> None:
        """One file finished: tell its failure or notes, move the bar."""
        if item.status == "failed":
            self.print(_failure_line(item))
        elif item.status == "skipped":  # its output appeared since the plan
            if self.skip_notes:
                self.print(skipped_line(item))
        elif not self.quiet:
            for line in _note_lines(item):
                self.print(line)
        if self._progress is not None:
            self._progress.advance(self._task)
            task = self._progress.tasks[0]
            speed = task.finished_speed or task.speed
            self._progress.update(self._task, rate=f"{speed:.1f}/s" if speed else "")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


#: A single input's bar appears once its filtering looks longer than this (seconds).
SLOW_SECONDS = 2.0


class ImageProgress:
    """A single input's progress on stderr: rows filtered out of the input's rows.

    Shown only when stderr is a terminal and not ``quiet``, and only once the filtering
    looks slow: when the strips done so far project more than ``slow_seconds`` in all, or
    when that long has passed (a picture filtered whole, e.g. through the FFT, tells no
    rows until it ends). Pass it as ``progress=`` to :func:`convcli.process.process_one`
    and call :meth:`stop` at the end.

    Parameters
    ----------
    quiet : bool
        ``-q``: never shown.
    bar : bool or None
        Show it at all; None: when stderr is a terminal.
    slow_seconds : float
        How slow is slow.
    console : rich.console.Console or None
        Where to draw (default: stderr's console).
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        bar: bool | None = None,
        slow_seconds: float = SLOW_SECONDS,
        console: Any = None,
    ) -> None:
        import sys
        import threading

        self.bar = (not quiet and sys.stderr.isatty()) if bar is None else bar and not quiet
        self.slow_seconds = slow_seconds
        self._console = console
        self._lock = threading.Lock()
        self._started: float | None = None
        self._timer: threading.Timer | None = None
        self._progress: Any = None
        self._task: Any = None
        self._done = 0

    def __call__(self, rows_done: int, rows: int) -> None:
        """Told by the filtering: ``rows_done`` of ``rows`` are filtered."""
        import threading
        import time

        if not self.bar:
            return
        now = time.monotonic()
        with self._lock:
            self._done = rows_done
            if self._started is None:
                self._started = now
                self._timer = threading.Timer(self.slow_seconds, self._show, (rows,))
                self._timer.daemon = True
                self._timer.start()
                return
            elapsed = now - self._started
            slow = rows_done and elapsed * rows / rows_done > self.slow_seconds
            if rows_done >= rows and self._timer is not None:
                self._timer.cancel()  # filtered in time: encoding needs no bar
        if slow and rows_done < rows:
            self._show(rows)
        if self._progress is not None:
            self._progress.update(self._task, completed=rows_done)

    def _show(self, rows: int) -> None:
        with self._lock:
            if self._progress is not None or self._started is None or self._done >= rows:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            from convcli.render import stderr_console

            self._progress = Progress(
                TextColumn("filtering"),
                BarColumn(),
                TextColumn("{task.completed:,} of {task.total:,} rows"),
                TimeRemainingColumn(),
                console=self._console or stderr_console(),
                transient=True,
            )
            self._task = self._progress.add_task("rows", total=rows, completed=self._done)
            self._progress.start()

    def stop(self) -> None:
        """The input is done (or failed): no bar any more."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._started = None
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def batch_summary(report: BatchReport) -> str:
    """The one line at the end: ``200 done, 1 skipped, 0 failed in 12.3 s (16.3 files/s, 2
    processes)``, said first when the batch was stopped."""
    done, failed = report.count("done"), report.count("failed")
    parts = [f"{done} done", f"{report.count('skipped')} skipped", f"{failed} failed"]
    cancelled = report.count("cancelled")
    if cancelled:
        parts.append(f"{cancelled} not run")
    rate = (done + failed) / report.seconds if report.seconds > 0 else 0.0
    workers = "1 process" if report.jobs == 1 else f"{report.jobs} processes"
    if report.cluster is not None:
        workers = f"{report.jobs} Dask worker{'s' if report.jobs > 1 else ''} on {report.cluster}"
    line = f"{', '.join(parts)} in {_ms(report.seconds)} ({rate:.1f} files/s, {workers})"
    if report.interrupted:
        from convcli._signals import describe

        word, name = describe(report.signal or 2)
        return (
            f"{word} ({name}): {line}; every output written is complete, "
            "unfinished ones were removed"
        )
    if report.stopped:
        return f"stopped at the first failure (--fail-fast): {line}"
    return line


def batch_records(report: BatchReport) -> list[dict[str, Any]]:
    """One record per file, its fields in :func:`record_fields`' order: input, output,
    status, error, note (why a file was skipped), notes (what stderr told of it), seconds;
    on Dask, retries."""
    records: list[dict[str, Any]] = []
    for item in report.items:
        record = {
            "input": item.input,
            "output": item.output,
            "status": item.status,
            "error": item.error,
            "note": item.note,
            "notes": list(item.notes),  # what stderr told of this file (a step's warning...)
            "seconds": round(item.seconds, 4),
        }
        if report.cluster is not None:
            record["retries"] = item.retries
        records.append(record)
    return records


def record_fields(report: BatchReport) -> list[str]:
    """The fields of :func:`batch_records`: JSON's per-file keys and CSV's columns."""
    fields = ["input", "output", "status", "error", "note", "notes", "seconds"]
    return fields + ["retries"] if report.cluster is not None else fields


#: The columns a reader scans in the plain and table reports (CSV has every field).
_REPORT_COLUMNS = ["input", "output", "status", "error", "notes"]

#: Between a file's notes in the ``notes`` cell of the csv, plain and table reports: a line
#: break (CSV quotes the cell, and a spreadsheet shows one note per line; plain shows it
#: as ``\n``). A note's own invisible characters are escaped, so the break is only this.
NOTES_SEPARATOR = "\n"


@dataclass(frozen=True)
class BatchView(ResultView):
    """A batch's per-file report (``--format`` with ``-O``).

    CSV: JSON's per-file fields (:func:`record_fields`), the notes joined by
    :data:`NOTES_SEPARATOR`. Plain and table: ``input``, ``output``, ``status``,
    ``error``, ``notes``.

    JSON: ``{"files": [{"input", "output", "status", "error", "note", "notes", "seconds"},
    ...],
    "summary": {"done", "skipped", "failed", "cancelled", "seconds", "jobs", "interrupted",
    "stopped"}}``; status is ``done``, ``skipped``, ``failed`` or ``cancelled``. On Dask each
    file also has ``retries`` and the summary ``cluster``.
    """

    report: BatchReport
    what = "a batch report"

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        summary: dict[str, Any] = {status: report.count(status) for status in STATUS_ORDER}
        summary.update(
            seconds=round(report.seconds, 3),
            jobs=report.jobs,
            interrupted=report.interrupted,
            stopped=report.stopped,
        )
        if report.cluster is not None:
            summary["cluster"] = report.cluster
        return {"files": batch_records(report), "summary": summary}

    def _rows(self, columns: list[str] = _REPORT_COLUMNS) -> list[list[str]]:
        records = batch_records(self.report)
        return [[_cell(record[key]) for key in columns] for record in records]

    def csv_table(self) -> CsvTable:
        columns = record_fields(self.report)
        return columns, self._rows(columns)

    def plain_lines(self) -> list[str]:
        # One line per file: a tab or a newline in a name is shown escaped (CSV quotes it).
        return ["\t".join(map(visible, row)).rstrip("\t") for row in self._rows()]

    def print_table(self) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(*_REPORT_COLUMNS, box=None, padding=(0, 1))
        for *cells, notes in self._rows():  # Text: "x[/y].png" is a name, never markup
            table.add_row(*(Text(visible(cell)) for cell in cells), Text(notes))
        stdout_console().print(table)


def _cell(value: str | list[str] | float | None) -> str:
    """A report's value as a cell: the notes joined by :data:`NOTES_SEPARATOR`, each one
    line; a name or an error as it is; a number as JSON writes it; None as empty."""
    if isinstance(value, list):
        return NOTES_SEPARATOR.join(visible(note) for note in value)
    if isinstance(value, int | float):
        return repr(value)
    return value or ""


def print_batch_report(report: BatchReport, output_format: OutputFormat) -> None:
    """The per-file report on stdout (``--format`` with ``-O``): see :class:`BatchView`."""
    render(BatchView(report), output_format)


#: Statuses counted in a summary, in this order.
STATUS_ORDER: tuple[str, ...] = ("done", "skipped", "failed", "cancelled")
