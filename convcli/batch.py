"""Many files: :func:`find_inputs`, :func:`plan_batch` and :func:`run_batch`, which calls
the unit of work (:func:`convcli.process.process_file`) once per file, in this process
(``-j 1``) or on a pool of worker processes, and handles SIGINT/SIGTERM for both.

A batch names every output first (refusing collisions before any work), then runs the
files. Nothing here prints: remarks come back in the results, failures as
:class:`ConvcliError`, progress through callbacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from convcli import _signals, imageio, storage
from convcli._threads import cpu_count, keep_freed_memory, set_thread_share
from convcli.errors import ConvcliError, SpecError
from convcli.kernels import KernelStep, PoolStep

# The unit of work lives in convcli.process; its names stay importable from here.
from convcli.process import (
    ApplyOptions,
    ApplyResult,
    MatrixInput,
    Outcome,
    check_result_format,
    matrix_to_chw,
    process_file,
    process_one,
)

__all__ = [
    "DEFAULT_NAME",
    "NAME_FIELDS",
    "STATUSES",
    "ApplyOptions",
    "ApplyResult",
    "BatchInput",
    "BatchItem",
    "BatchReport",
    "MatrixInput",
    "find_inputs",
    "matrix_to_chw",
    "plan_batch",
    "process_one",
    "remove_dead_temporaries",
    "run_batch",
    "steps_slug",
]

Step = KernelStep | PoolStep

# --------------------------------------------------------------------------------------------
# Many files
# --------------------------------------------------------------------------------------------

#: ``--name`` default: ``{dir}`` is empty except under a folder given with ``--recursive``,
#: where it keeps the sub-folders (so photos/a/x.png and photos/b/x.png do not collide).
DEFAULT_NAME = "{dir}{stem}-{step}.{ext}"

#: The fields ``--name`` may use.
NAME_FIELDS: tuple[str, ...] = ("stem", "ext", "step", "parent", "dir")

#: A batch item's status: not yet run, written, skipped (output exists), failed, or not
#: run because the batch stopped (``--fail-fast``, Ctrl-C).
STATUSES: tuple[str, ...] = ("pending", "done", "skipped", "failed", "cancelled")

# File extension for an output format given with --to (what people name such files).
_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif"}

_SLUG_LENGTH = 60


@dataclass
class BatchInput:
    """An input file of a batch, and the sub-folder it was found in.

    Attributes
    ----------
    path : str
    folder : str
        ``"a/b/"`` for a file found in ``a/b`` under a folder given with ``--recursive``,
        ``""`` otherwise (the ``{dir}`` of ``--name``).
    """

    path: str
    folder: str = ""


@dataclass
class BatchItem:
    """One file of a batch: where it goes and what came of it.

    Attributes
    ----------
    input, output : str
    status : str
        One of :data:`STATUSES`.
    error : str or None
        Why it failed, one line.
    note : str or None
        Why it was skipped (``"output exists"``: when the batch was planned, or written
        meanwhile by another run), or ``"finished as the batch stopped"``.
    notes : list of str
        :attr:`ApplyResult.notes` of a file done.
    seconds : float
        Time spent on it (in its worker).
    retries : int
        On Dask: how often it was started again (its worker died, or its task raised).
    """

    input: str
    output: str
    status: str = "pending"
    error: str | None = None
    note: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0


@dataclass
class BatchReport:
    """A finished (or stopped) batch.

    Attributes
    ----------
    items : list of BatchItem
        In input order.
    seconds : float
        Wall time of :func:`run_batch`.
    jobs : int
        Worker processes used (1: in this process).
    interrupted : bool
        Ctrl-C (SIGINT) or SIGTERM stopped it.
    signal : int or None
        Which signal stopped it (the CLI exits with 128 + it: 130, 143).
    stopped : bool
        ``fail_fast`` stopped it at a failure.
    cluster : str or None
        The Dask cluster it ran on (``"local:2"``, ``"tcp://host:8786"``); None: here.
    """

    items: list[BatchItem]
    seconds: float = 0.0
    jobs: int = 1
    interrupted: bool = False
    signal: int | None = None
    stopped: bool = False
    cluster: str | None = None

    def count(self, status: str) -> int:
        """How many items have ``status``."""
        return sum(item.status == status for item in self.items)


def find_inputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    exclude: str | os.PathLike[str] | None = None,
    ignored: list[str] | None = None,
) -> list[BatchInput]:
    """The files a batch works on: files as given, folders' images in name order.

    Parameters
    ----------
    paths : sequence of paths or URLs
        Files (taken whatever their suffix, missing ones too: they fail as files do) and
        folders (their images, by suffix; hidden files skipped). fsspec URLs
        (``s3://bucket/raw/``, ``'s3://bucket/**/*.jpg'``) are listed through
        :mod:`convcli.storage`; ``file://`` URLs are taken as paths.
    recursive : bool
        Descend into sub-folders (hidden ones and symbolic links to folders are skipped).
    exclude : path, optional
        A folder never descended into (the output folder, so a second run does not read
        the first run's outputs).
    ignored : list, optional
        Receives the files a folder scan left out because they are not images (hidden
        files are not counted), for one note.

    Returns
    -------
    list of BatchInput
        Each file once (the first mention wins).
    """
    suffixes = imageio.image_suffixes()
    out = "-O/--out-dir"
    excluded = None if exclude is None else _key(storage.local_path(str(exclude), out), out)
    found: list[BatchInput] = []
    seen: set[str] = set()
    left_out: list[str] = [] if ignored is None else ignored
    for given in map(str, paths):
        if storage.is_url(given):
            objects, skipped = storage.find_objects(given, suffixes, recursive=recursive)
            # The output prefix is left out of a listing that contains it (as os.walk
            # never descends into the output folder); an object named alone is taken.
            root = _key(storage.local_path(re.split(r"[*?\[]", given)[0]))
            inside = excluded is not None and _under(excluded, root)
            candidates = [
                (storage.local_path(url), folder)
                for url, folder in objects
                if not (inside and _under(_key(storage.local_path(url)), excluded))
            ]
            left_out.extend(map(storage.local_path, skipped))
        elif os.path.isdir(given):
            candidates = []
            for path, folder in _folder_files(given, recursive, excluded):
                if Path(path).suffix.lower() in suffixes:
                    candidates.append((path, folder))
                else:
                    left_out.append(path)
        else:
            candidates = [(given, "")]
        for path, folder in candidates:
            key = path if storage.is_url(path) else os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                found.append(BatchInput(path, folder))
    return found


def _under(key: str, folder: str | None) -> bool:
    """Whether the file or object ``key`` (see :func:`_key`) is inside ``folder``'s (the
    output prefix, which a listing of the inputs' prefix would otherwise include)."""
    if folder is None:
        return False
    separator = "/" if storage.is_url(folder) else os.sep
    return key.startswith(folder.rstrip(separator) + separator)


def _is_file(path: str) -> bool:
    # Anything but a folder is taken, and fails as it would given alone: a broken symbolic
    # link as a missing file, a pipe or a device as not a regular file (a FIFO named x.png
    # was once dropped without a word).
    return not os.path.isdir(path)


def _folder_files(given: str, recursive: bool, excluded: str | None) -> Iterator[tuple[str, str]]:
    """Every file of a folder (hidden ones skipped) in name order, and its sub-folder
    (``"a/b/"`` under ``given`` with ``recursive``, else ``""``)."""
    if not recursive:
        for entry in sorted(os.scandir(given), key=lambda e: e.name):
            if not entry.name.startswith(".") and _is_file(entry.path):
                yield entry.path, ""
        return
    for root, folders, files in os.walk(given, onerror=_unlisted):
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and _key(os.path.join(root, name)) != excluded
        )
        relative = os.path.relpath(root, given)
        folder = "" if relative == "." else Path(relative).as_posix() + "/"
        for name in sorted(files):
            path = os.path.join(root, name)
            if not name.startswith(".") and _is_file(path):
                yield path, folder


def _unlisted(error: OSError) -> None:
    """A sub-folder ``-r`` cannot list: said before any work (os.walk skipped it without
    a word, and its files were never accounted for)."""
    reason = (error.strerror or str(error)).lower()
    raise ConvcliError(
        f"cannot list folder '{error.filename}' ({reason}): its files would be left out; "
        "fix its permissions, or give the folders to read one by one"
    )


def steps_slug(steps: Sequence[Step]) -> str:
    """The ``{step}`` of ``--name``: the steps' slugs joined by ``_``, at most 60 characters.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> steps_slug([parse_step("gaussian:1.5"), parse_step("sobel")])
    'gaussian-1.5_sobel'
    """
    import hashlib

    slug = "_".join(step.slug for step in steps) or "identity"
    if len(slug) <= _SLUG_LENGTH:
        return slug
    digest = hashlib.sha1(slug.encode()).hexdigest()[:8]
    return f"{slug[: _SLUG_LENGTH - 9]}-{digest}"


def _check_name(template: str) -> None:
    """Refuse a ``--name`` that cannot name files before anything is named with it."""
    import string

    if not template.strip():
        raise SpecError(f"--name {template!r}: give a file name, e.g. {DEFAULT_NAME!r}")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise SpecError(f"--name {template!r}: {error}") from None
    known = ", ".join("{" + known + "}" for known in NAME_FIELDS)
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        shown = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if name not in NAME_FIELDS:
            raise SpecError(f"--name {template!r}: unknown field {shown}; use {known}")
        if spec or conversion:  # '{stem:>20}' pads names with spaces: never what was meant
            raise SpecError(f"--name {template!r}: {shown} is formatted; fields are plain: {known}")


def _no_suffix(path: str) -> ConvcliError:
    """An input that cannot name its output: it is not there (a folder or prefix that does
    not exist is taken as a file, whose name has no suffix), or its name has no suffix."""
    there = storage.exists(path) if storage.is_url(path) else os.path.lexists(path)
    if not there:
        what = "object or folder" if storage.is_url(path) else "file or folder"
        return ConvcliError(f"INPUT '{path}': no such {what}")
    return SpecError(f"'{path}' has no suffix to name its output by; give --to FORMAT")


def _output_name(template: str, source: BatchInput, slug: str, options: ApplyOptions) -> str:
    path = Path(source.path)
    if options.to:
        ext = _EXTENSIONS.get(options.to, options.to.lower())
    elif path.suffix:
        ext = path.suffix[1:]
    else:
        raise _no_suffix(source.path)
    fields = {
        "stem": path.stem,
        "ext": ext,
        "step": slug,
        "parent": path.absolute().parent.name,
        "dir": source.folder,
    }
    try:
        name = template.format(**fields)
    except (ValueError, IndexError, KeyError) as error:
        raise SpecError(f"--name {template!r}: {error}") from None
    relative = Path(name)
    if not name or name.endswith("/") or relative.is_absolute() or ".." in relative.parts:
        raise SpecError(
            f"--name {template!r} gives {name!r} for '{source.path}'; it must name a file "
            "inside the output folder"
        )
    format_name = (options.to or "").upper() or imageio.format_for_path(name)
    if format_name is None:
        raise SpecError(
            f"--name {template!r} gives {name!r} for '{source.path}', whose suffix names no "
            "format convcli writes; end it with .{ext} or a known suffix, or give --to FORMAT"
        )
    # What process_one would refuse file after file, refused before any work.
    check_result_format(
        imageio.is_matrix_path(source.path), format_name, f"output '{name}' for '{source.path}': "
    )
    return name


def plan_batch(
    inputs: Sequence[BatchInput],
    out_dir: str | os.PathLike[str],
    steps: Sequence[Step],
    options: ApplyOptions = ApplyOptions(),
    *,
    name: str = DEFAULT_NAME,
) -> list[BatchItem]:
    """Name every output, before any work: refuse collisions, skip existing outputs.

    Parameters
    ----------
    inputs : sequence of BatchInput
        From :func:`find_inputs`.
    out_dir : path
        The output folder (created by :func:`run_batch`).
    steps : sequence of KernelStep or PoolStep
        For ``{step}``.
    options : ApplyOptions
        ``to`` sets ``{ext}``; without ``force`` an existing output is skipped.
    name : str
        The ``--name`` template; fields :data:`NAME_FIELDS`.

    Returns
    -------
    list of BatchItem
        ``pending``, or ``skipped`` (with a note) when the output exists.

    Raises
    ------
    SpecError
        An unknown field or a name outside the folder; two inputs that would write the
        same output; an output that is one of the inputs; an input whose name has no
        suffix (without ``options.to``).
    ConvcliError
        An input without a suffix that does not exist (a missing folder or prefix).
    """
    _check_name(name)
    slug = steps_slug(steps)
    items: list[BatchItem] = []
    out_text = storage.local_path(str(out_dir), "-O/--out-dir")
    remote = storage.is_url(out_text)
    if remote:
        out_text = storage.canonical(out_text)
        # One listing of the prefix, not one request per file (a million-file resume).
        if options.force:
            storage.check_prefix(out_text)  # a store that fails, failing once
        existing = set() if options.force else storage.existing_objects(out_text)
    outputs = _Outputs(inputs, None if remote else out_text)
    root = "" if remote else os.path.realpath(out_text)
    for source in inputs:
        relative = _output_name(name, source, slug, options)
        if remote:
            output = storage.join(out_text, relative)
        else:
            output = os.path.join(out_text, relative)
            _check_inside(out_text, root, relative, name, source.path)
        outputs.add(source.path, output)
        item = BatchItem(source.path, output)
        there = output in existing if remote else os.path.lexists(output)
        if there and not options.force:
            item.status, item.note = "skipped", "output exists"
        items.append(item)
    return items


class _Outputs:
    """The outputs a plan has named, each refused when it is one file with an output named
    before or with an input.

    Some disks take two names for one file: ``X-box-3.PNG`` and ``x-box-3.png`` on macOS's
    and Windows' by default, ``café`` with its é as one character or as e and an accent on
    macOS's. :func:`_key` (``os.path.normcase`` does nothing off Windows) does not see
    that. So names equal once folded (:func:`_folded`: Unicode normalization and case
    folding) but not alike are put to the output folder's disk, each pair of parts that
    differ once (:func:`convcli.imageio.one_file_by_both_names`); a batch without such
    names never asks.
    """

    def __init__(self, inputs: Sequence[BatchInput], out_dir: str | None) -> None:
        self.out_dir = out_dir  # None: an object store, whose keys are taken as written
        self.inputs = {_key(source.path): source.path for source in inputs}
        self.writers: dict[str, tuple[str, str]] = {}  # key: (input, output)
        self.writers_folded: dict[str, tuple[str, tuple[str, str]]] = {}  # folded: (key, ...)
        self.inputs_folded = {_folded(key): (key, path) for key, path in self.inputs.items()}
        self._one_file: dict[tuple[str, str], bool] = {}  # the disk's answers, by pair of parts

    def _same_file(self, key: str, other: str) -> bool:
        """Whether the output folder's disk takes the paths ``key`` and ``other`` (equal
        once folded) for one file: every pair of their parts that differ is asked once."""
        parts, others = Path(key).parts, Path(other).parts
        if self.out_dir is None or len(parts) != len(others):
            return False
        for part, twin in zip(parts, others, strict=True):
            if part == twin:
                continue
            if (part, twin) not in self._one_file:
                self._one_file[part, twin] = imageio.one_file_by_both_names(
                    self.out_dir, part, twin
                )
            if not self._one_file[part, twin]:
                return False
        return True

    def _named(self, exact: dict[str, Any], folded: dict[str, Any], key: str) -> tuple[Any, str]:
        """What ``key`` names in ``exact``, else (where the disk takes both names for one
        file) in ``folded``, and how the disk took it ("" when named alike)."""
        if key in exact:
            return exact[key], ""
        other, found = folded.get(_folded(key), (None, None))
        if other is None or not self._same_file(other, key):
            return None, ""
        alike = "case" if key.casefold() == other.casefold() else "how accents are encoded"
        return found, f"this disk ignores {alike}"

    def add(self, source: str, output: str) -> None:
        """Refuse ``output`` if it is a file named before or an input (:class:`SpecError`)."""
        key = _key(output)
        writer, how = self._named(self.writers, self.writers_folded, key)
        if writer is not None:
            also = f" (as '{writer[1]}': {how})" if how else ""
            raise SpecError(
                f"'{writer[0]}' and '{source}' would both write '{output}'{also}; "
                "put {parent} or {dir} (with --recursive) in --name"
            )
        name, how = self._named(self.inputs, self.inputs_folded, key)
        if name is not None:
            also = f" ('{name}': {how})" if how else ""
            raise SpecError(
                f"the output of '{source}' would be '{output}', an input{also}; "
                "convcli never overwrites an input"
            )
        self.writers[key] = (source, output)
        self.writers_folded[_folded(key)] = (key, (source, output))


def _folded(key: str) -> str:
    """A name as a disk that ignores case and how accents are encoded might take it (NFC,
    then Unicode case folding): two names alike here are put to the disk."""
    import unicodedata

    return unicodedata.normalize("NFC", key).casefold()


def _key(path: str, option: str = "INPUT") -> str:
    """What makes two names the same file or object (collisions, inputs overwritten):
    ``s3a://b/x`` is ``s3://b/x`` and ``local:///tmp/x`` is ``/tmp/x`` (an input named
    the other way was once overwritten with --force)."""
    if storage.is_url(path):
        path = storage.local_path(storage.same_object_key(path, option), option)
        if storage.is_url(path):
            return path
    return os.path.normcase(os.path.realpath(path))


def _check_inside(
    out_dir: str | os.PathLike[str], root: str, relative: str, template: str, source: str
) -> None:
    """Refuse an output whose folder leads out of the output folder through a symbolic link
    (``--name "sub/{stem}.{ext}"`` with ``OUT/sub`` linking elsewhere). The output file
    itself may be a link: the rename replaces the link, never what it points to."""
    folder = os.path.dirname(relative)
    if not folder:
        return
    where = os.path.realpath(os.path.join(out_dir, folder))
    if where == root or where.startswith(root.rstrip(os.sep) + os.sep):
        return
    link = Path(out_dir)
    for part in Path(folder).parts:
        link = link / part
        if link.is_symlink():
            break
    raise SpecError(
        f"--name {template!r} gives {relative!r} for '{source}', and '{link}' is a symbolic "
        f"link out of the output folder (to '{where}'); convcli writes inside -O only"
    )


# --------------------------------------------------------------------------------------------
# Running a batch: in this process (-j 1) or on worker processes
# --------------------------------------------------------------------------------------------

#: Seconds a worker has, after SIGTERM, to abandon its file before it is killed (a worker
#: stops between two NumPy calls: a strip of rows, a block of a PNG; milliseconds).
STOP_GRACE = 5.0


def _written_since(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime >= since - 0.1  # file times lag the clock a little
    except OSError:
        return False


def run_batch(
    items: Sequence[BatchItem],
    steps: Sequence[Step],
    options: ApplyOptions = ApplyOptions(),
    *,
    jobs: int | None = None,
    fail_fast: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[BatchItem], None] | None = None,
    dask: str | None = None,
) -> BatchReport:
    """Run :func:`process_one` on every pending item, on ``jobs`` worker processes.

    Parameters
    ----------
    items : sequence of BatchItem
        From :func:`plan_batch`; updated in place.
    steps, options
        As for :func:`process_one` (``options.threads``, if None, becomes each worker's
        share of the cores).
    jobs : int, optional
        Worker processes (default: one per core); 1 runs in this process.
    fail_fast : bool
        Stop at the first failure: queued files are not started, running ones finish.
    on_start : callable (files to run, jobs), optional
        Called once the workers are up (before: a progress bar's thread must not exist
        when the workers are forked).
    on_result : callable (BatchItem), optional
        Called in this process as each file is done, skipped (its output appeared since
        the plan) or failed, in completion order.
    dask : str, optional
        Run the files as tasks on a Dask cluster instead (``jobs`` is then ignored): a
        scheduler address, ``local[:N]`` or ``auto`` (see :mod:`convcli.cluster`).

    Returns
    -------
    BatchReport

    Notes
    -----
    Results do not depend on ``jobs``: each file is processed alone, in the same way.

    Signals (in the main thread; see :mod:`convcli._signals`): SIGINT or SIGTERM stops the
    batch. Queued files never start; each worker abandons its file (its temporary file
    removed) and leaves; files that finished meanwhile keep their result; the report has
    ``interrupted`` and ``signal`` set and the unfinished files ``cancelled``. Every output
    is then either complete or absent. Workers ignore SIGINT (Ctrl-C reaches the whole
    process group; this process decides) and receive SIGTERM when this process dies, even
    by SIGKILL (Linux; elsewhere they leave after their current file).
    """
    started, started_at = time.perf_counter(), time.time()
    todo = [item for item in items if item.status == "pending"]
    if not all(storage.shared_by_processes(item.output) for item in todo):
        if dask is not None:
            raise SpecError("--dask: memory:// lives in one process, which Dask workers cannot see")
        jobs = 1  # the workers' memory:// would vanish with them
    jobs = max(1, min(jobs or cpu_count(), len(todo) or 1))
    report = BatchReport(list(items), jobs=jobs)
    if options.threads is None and dask is None:
        options = replace(options, threads=max(1, cpu_count() // jobs))

    def record(item: BatchItem, outcome: Outcome) -> bool:
        """Store a file's outcome and tell it; True when the batch must stop (fail-fast)."""
        item.status, item.error, item.note, item.notes, item.seconds = outcome
        if on_result is not None:
            on_result(item)
        return fail_fast and item.status == "failed"

    # A cluster is reached (or started) before any folder is made.
    urls = [name for item in todo for name in (item.input, item.output)]
    with _dask_session(dask if todo else None, storage.packages(urls)) as run:
        _make_folders(todo)
        # Everything here is bookkeeping a signal must not cut, but the work of a file in
        # this process (-j 1); the pool's loop polls for a signal instead.
        with _signals.handled(), _signals.deferred():
            try:
                if run is not None:
                    report.stopped = _run_on_dask(
                        run, todo, steps, options, report, on_start, record
                    )
                elif jobs == 1:
                    keep_freed_memory()
                    if on_start is not None:
                        on_start(len(todo), jobs)
                    for item in todo:
                        with _signals.interruptible():
                            outcome = process_file(item.input, item.output, steps, options)
                        if record(item, outcome):
                            report.stopped = True
                            break
                else:
                    report.stopped = _run_in_workers(todo, steps, options, jobs, on_start, record)
            except _signals.Interrupted:
                pass
            signum = _signals.take()
            if signum is not None:
                report.interrupted, report.signal = True, signum
                _signals.remove_leftovers()
            _settle(todo, started_at)
    report.seconds = time.perf_counter() - started
    return report


def _make_folders(todo: Sequence[BatchItem]) -> None:
    """The output folders of the files to write (object stores have none to make)."""
    local = [item.output for item in todo if not storage.is_url(item.output)]
    for folder in sorted({os.path.dirname(output) or "." for output in local}):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise ConvcliError(
                f"cannot create output folder '{folder}': {_why(folder, error)}"
            ) from None


def _why(folder: str, error: OSError) -> str:
    """Why ``folder`` could not be made: a file in the way, a folder that makes none
    (``/proc``), or the system's reason (permission denied...)."""
    standing = imageio.nearest_existing(Path(folder))
    if standing is not None and not standing.is_dir():
        return f"'{standing}' is a file, not a folder"
    if isinstance(error, FileNotFoundError) and standing is not None:
        return f"folder '{standing}' takes no new folders"
    return (error.strerror or str(error)).lower()


def _settle(todo: Sequence[BatchItem], started_at: float) -> None:
    """After a stop: files not run are ``cancelled``, unless their output was published
    just before their worker stopped (a rename or a put is whole): the report says what
    is there."""
    cancelled = [item for item in todo if item.status == "pending"]
    remote = [item.output for item in cancelled if storage.is_url(item.output)]
    published: set[str] = set()
    for prefix in sorted({output.rsplit("/", 1)[0] for output in remote}):
        with contextlib.suppress(ConvcliError):  # the store is gone: say cancelled
            published |= storage.existing_objects(prefix)
    for item in cancelled:
        item.status = "cancelled"
        if storage.is_url(item.output):
            written = item.output in published
        else:
            written = _written_since(item.output, started_at)
        if written:
            item.status, item.note = "done", "finished as the batch stopped"


@contextlib.contextmanager
def _dask_session(address: str | None, preload: Sequence[str]) -> Iterator[Any]:
    """A connected :class:`convcli.cluster.DaskRun` for ``--dask`` (None without it),
    closed at the end (a cluster convcli started goes with it; another keeps running);
    the workers of a LocalCluster import ``preload`` before their first file."""
    if address is None:
        yield None
        return
    from convcli import cluster

    run = cluster.connect(address, preload)
    try:
        yield run
    finally:
        run.close()


def _run_on_dask(
    run: Any,
    todo: Sequence[BatchItem],
    steps: Sequence[Step],
    options: ApplyOptions,
    report: BatchReport,
    on_start: Callable[[int, int], None] | None,
    record: Callable[[BatchItem, Outcome], bool],
) -> bool:
    """:func:`run_batch` on a Dask cluster (a :class:`convcli.cluster.DaskRun`); True when
    stopped by a failure (fail-fast)."""
    report.jobs, report.cluster = run.workers, run.label
    if on_start is not None:
        on_start(len(todo), report.jobs)
    try:
        return run.run(todo, steps, options, record)  # type: ignore[no-any-return]
    finally:
        if run.cluster is not None:
            # Our LocalCluster stops now, before the report is settled: a task running
            # when the batch stopped cannot publish its output after the report. Its
            # workers are on this machine, so their process ids tell their leftovers.
            run.close()
            for item in todo:
                if item.retries or item.status != "done":
                    remove_dead_temporaries(item.output)


def remove_dead_temporaries(output: str) -> list[Path]:
    """Remove the temporary files left for ``output`` by processes that are gone (a Dask
    worker of a LocalCluster killed mid-write); those of live processes stay. Returns the
    removed files.

    Only for workers on this machine: a process id means nothing on another host.
    """
    import glob

    if storage.is_url(output):
        return []  # an object store has no temporaries: a put is whole
    target = Path(output)
    removed = []
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*-*.part"):
        pid = leftover.name[len(target.name) + 2 :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


# --------------------------------------------------------------------------------------------
# The worker pool
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    """A worker process, the parent's end of its pipe, and the file it works on."""

    process: Any  # multiprocessing.Process
    connection: Any  # multiprocessing.connection.Connection
    item: BatchItem | None = None
    since: float = 0.0  # when the item was handed over (time.time())


def _worker_main(
    connection: Any,
    inherited: Sequence[Any],
    steps: Sequence[Step],
    options: ApplyOptions,
    parent: int,
) -> None:
    """A worker: files from the pipe, outcomes back, until None, EOF or SIGTERM.

    It leaves through ``os._exit``: no exit handlers (they could wait on a lock a thread
    of the parent held when it forked), and a SIGTERM has already cleaned up.
    """
    _signals.become_worker()
    code = 0
    try:
        for end in inherited:  # the parent's ends of the pipes, copied by fork: without
            end.close()  # them a pipe reads EOF when the parent dies
        _signals.die_with_parent(parent)
        set_thread_share(options.threads)
        keep_freed_memory()
        while True:
            task = connection.recv()
            if task is None:
                break
            outcome = process_file(task[0], task[1], steps, options)
            with _signals.deferred():
                connection.send(outcome)
    except _signals.Interrupted as stop:
        _signals.remove_leftovers()
        code = stop.exit_code
    except (EOFError, OSError):  # the parent went away
        code = 1
    os._exit(code)


def _start_worker(
    context: Any, steps: Sequence[Step], options: ApplyOptions, others: Sequence[_Worker]
) -> _Worker:
    parent_end, child_end = context.Pipe()
    # A forked child holds copies of every pipe end open here: it closes the parent's.
    inherited = [parent_end] + [w.connection for w in others]
    if context.get_start_method() != "fork":
        inherited = []
    process = context.Process(
        target=_worker_main,
        args=(child_end, inherited, steps, options, os.getpid()),
        name="convcli-worker",
        daemon=True,
    )
    process.start()
    child_end.close()
    return _Worker(process, parent_end)


def _remove_temporaries(item: BatchItem, pid: int) -> None:
    """Remove the temporary file a killed worker left for ``item`` (only its own: the
    process id is in the name, so another run's files are never touched)."""
    for leftover in imageio.temporaries_of(item.output, pid):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _death(process: Any) -> str:
    """Why a worker died, for its file's failure."""
    import signal

    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        why = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker process killed by {name}{why}"
    if code is not None and code - 128 in _signals.SIGNALS:
        return f"worker process stopped by {signal.Signals(code - 128).name}"
    return f"worker process exited with code {code}"


def _run_in_workers(
    todo: Sequence[BatchItem],
    steps: Sequence[Step],
    options: ApplyOptions,
    jobs: int,
    on_start: Callable[[int, int], None] | None,
    record: Callable[[BatchItem, Outcome], bool],
) -> bool:
    """The worker pool of :func:`run_batch`; True when stopped by a failure (fail-fast).

    Runs with signals deferred: it polls for one (every 0.1 s at most) and then stops the
    workers, keeping the results of the files that finished meanwhile.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    # fork: workers start in milliseconds with everything imported. Nothing else runs in
    # this process yet (the progress bar starts in on_start, after the fork).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    queue = deque(todo)
    workers: list[_Worker] = []
    stopped = False
    try:
        for _ in range(jobs):
            workers.append(_start_worker(context, steps, options, workers))
        if on_start is not None:
            on_start(len(todo), jobs)
        while not _signals.received():
            for worker in workers:
                if worker.item is None and queue and not stopped:
                    worker.item, worker.since = queue.popleft(), time.time()
                    with contextlib.suppress(OSError):  # a dead worker: seen below
                        worker.connection.send((worker.item.input, worker.item.output))
            if not any(worker.item for worker in workers):
                break
            waited = [w.connection for w in workers if w.item] + [
                w.process.sentinel for w in workers
            ]
            ready = set(wait(waited, timeout=0.1))
            if _signals.received():
                break
            for worker in list(workers):
                outcome = None
                if worker.item is not None and worker.connection in ready:
                    with contextlib.suppress(EOFError, OSError):
                        outcome = worker.connection.recv()
                if outcome is not None and worker.item is not None:
                    item, worker.item = worker.item, None
                    stopped = record(item, outcome) or stopped
                elif worker.process.sentinel in ready or not worker.process.is_alive():
                    workers.remove(worker)  # killed (out of memory...): its file fails
                    stopped = _bury(worker, record) or stopped
                    if queue and not stopped and len(workers) < jobs:
                        workers.append(_start_worker(context, steps, options, workers))
    except BaseException:
        _stop_workers(workers, record)
        raise
    if _signals.received():
        _stop_workers(workers, record)
    else:
        _close_workers(workers, record)
    return stopped


def _bury(worker: _Worker, record: Callable[[BatchItem, Outcome], bool]) -> bool:
    """A worker that died: reap it, remove its temporary file and fail its file (True when
    that stops the batch).

    A worker can die after publishing its output and before telling: without ``--force``
    the output is a hard link to the finished temporary file, made before that file is
    removed. That output is whole, and the file is then done, as :func:`_settle` says of
    a file published just before a signal.
    """
    worker.process.join()
    worker.connection.close()
    item = worker.item
    if item is None:
        return False
    _remove_temporaries(item, worker.process.pid)
    if not storage.is_url(item.output) and _written_since(item.output, worker.since):
        return record(item, ("done", None, "finished as its worker died", [], 0.0))
    return record(item, ("failed", _death(worker.process), None, [], 0.0))


def _close_workers(workers: list[_Worker], record: Callable[[BatchItem, Outcome], bool]) -> None:
    """The end of a batch: idle workers are told to leave."""
    for worker in workers:
        with contextlib.suppress(OSError):
            worker.connection.send(None)
    deadline = time.monotonic() + STOP_GRACE
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
    if any(worker.process.is_alive() for worker in workers):
        _stop_workers(workers, record)
    for worker in workers:
        worker.connection.close()


def _stop_workers(workers: list[_Worker], record: Callable[[BatchItem, Outcome], bool]) -> None:
    """Stop the workers now: SIGTERM (each abandons its file, removing its temporary file,
    and leaves), SIGKILL after :data:`STOP_GRACE` seconds (its temporary file is removed
    here). A file finished before the stop keeps its result."""
    from multiprocessing.connection import wait

    for worker in workers:
        with contextlib.suppress(OSError):
            worker.process.terminate()
    running = list(workers)
    deadline = time.monotonic() + STOP_GRACE
    while running:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait([worker.process.sentinel for worker in running], timeout=left)
        running = [worker for worker in running if worker.process.is_alive()]
    for worker in running:
        worker.process.kill()
    for worker in workers:
        worker.process.join()
        item = worker.item
        if item is not None:
            outcome = None
            with contextlib.suppress(EOFError, OSError):
                if worker.connection.poll(0):  # sent before the signal reached it
                    outcome = worker.connection.recv()
            if outcome is not None:
                record(item, outcome)
            elif worker in running:  # killed: it could not clean up
                _remove_temporaries(item, worker.process.pid)
        worker.item = None
        worker.connection.close()
