"""A batch on a Dask cluster (``convcli apply ... -O OUT --dask ADDRESS``).

Each Dask task runs :func:`convcli.process.process_file` on a few files in turn
(:func:`run_files`; :func:`files_per_task` says how many: eight, more for very many files,
fewer for very few), the same unit of work as the local worker pool, so the outputs are
byte for byte those of ``-j 1``.
Dask does the scheduling: ``client.map`` submits the tasks, ``as_completed`` feeds the
report and the progress bar, file by file, as results arrive (recorded results are let go
in batches: :class:`_Releases`), ``retries=`` and the scheduler's
``distributed.scheduler.allowed-failures`` bound how often a task is tried again (a task
whose worker died is moved to another worker; one that kills more than allowed-failures
workers fails with ``KilledWorker``). A task of several files that failed is submitted
again one file per task, so that only the file that failed is reported failed.
SIGINT/SIGTERM cancel the pending tasks and leave a cluster convcli did not start running.

``ADDRESS`` follows Dask's own habits: ``tcp://host:8786`` (or ``host:8786``, as
``dask worker`` takes it); ``local`` or ``local:N`` starts a ``LocalCluster`` of N worker
processes (one thread each, forked ready from a fork server started as soon as the
command's options are checked, before this process imports NumPy, the core or distributed:
:func:`start_early`; without Dask's profiler and with its housekeeping slowed:
:func:`_local_settings`) for this run; ``auto`` does what
``distributed.Client()`` does: the scheduler in ``DASK_SCHEDULER_ADDRESS`` (Dask's
``scheduler-address`` setting) if there is one, else a ``LocalCluster``.

Dask is imported only here, and this module only with ``--dask``. The task function
(:func:`run_files`) is found by reference on the workers, so they need convcli installed:
the worker's version is checked against this one before any work.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from convcli import _signals, storage
from convcli.errors import ConvcliError, SpecError

if TYPE_CHECKING:  # the unit of work (NumPy, Pillow) is imported by the task that runs it
    from convcli.process import ApplyOptions, Outcome, Step

__all__ = ["DaskRun", "connect", "files_per_task", "parse_address", "run_files", "start_early"]

#: ``retries=`` of every task: how often a task that raised (not a file that failed:
#: those are outcomes, not exceptions) is tried again.
RETRIES = 2

#: Every worker thread gets at least this many tasks (:func:`files_per_task`): the last
#: ones balance the load between the workers.
TASKS_PER_THREAD = 4

#: Files a task holds at least, when every worker thread still gets its
#: :data:`TASKS_PER_THREAD` tasks (:func:`files_per_task`). A task costs 1.5-3 ms of CPU
#: in the client and the scheduler whatever it holds (Dask's docs: up to 1 ms a task of
#: the scheduler's own, and tasks of ~100 ms advised), as much as a 0.26 MP file's whole
#: work; measured on a warm LocalCluster of two workers (``benchmarks/dask_tasks.py``).
MIN_FILES_PER_TASK = 8

#: Seconds to wait for a scheduler or a LocalCluster's workers.
CONNECT_TIMEOUT = 30

#: Recorded results are let go (their retry counts read from the scheduler, then released:
#: :meth:`DaskRun._let_go`) in one round trip at most this many seconds after they were
#: recorded (:class:`_Releases`), or as soon as :data:`LET_GO_COUNT` are waiting. Let go
#: after each result instead, the round trip (a function sent to the scheduler, ~7 ms)
#: came once per file, and on a LocalCluster the scheduler lives in this process, on the
#: cores its workers use. The window's cost: a result recorded and not yet released is
#: computed again by Dask if its worker dies within it (the file is read, filtered and
#: written once more, finds the output its first run wrote whole, and is told ``done``,
#: started twice); at most the results of one second, or 64, per worker death.
LET_GO_SECONDS = 1.0
LET_GO_COUNT = 64

#: The one line for ``--dask`` without its extra.
NO_DASK = "--dask needs Dask: pip install 'convcli[dask]'"

_LOCAL = re.compile(r"^local(?::([-+]?\d+))?$")  # a sign: told the range, not the forms
_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://", "inproc://")


def parse_address(text: str) -> tuple[str, int | None]:
    """``--dask``'s value: ``("local", N or None)``, ``("auto", None)`` or
    ``(scheduler address, None)``.

    Examples
    --------
    >>> parse_address("local:2"), parse_address("10.0.0.5:8786")
    (('local', 2), ('tcp://10.0.0.5:8786', None))
    """
    value = text.strip()
    local = _LOCAL.match(value)
    if local:
        workers = int(local.group(1)) if local.group(1) else None
        if workers is not None and not 1 <= workers <= 1024:
            raise SpecError(f"--dask {text!r}: local:N takes 1 to 1024 workers")
        return "local", workers
    if value == "auto":
        return "auto", None
    scheme, _, rest = value.rpartition("://") if "://" in value else ("tcp", "", value)
    if "@" in rest:  # user:password@host: never echoed, never taken
        raise SpecError(
            f"--dask '{scheme}://...@{rest.rpartition('@')[2]}': credentials are not taken "
            "from the address; Dask's TLS settings give a secure connection"
        )
    unknown_scheme = "://" in value and not value.startswith(_SCHEMES)
    if unknown_scheme or not _address_port(rest, scheme):
        raise SpecError(
            f"--dask {text!r}: give a scheduler address (tcp://host:8786), local, local:N or auto"
        )
    return f"{scheme}://{rest}", None


def _address_port(rest: str, scheme: str) -> bool:
    """Whether ``host:port`` has a port from 1 to 65535 (inproc:// addresses have none)."""
    if scheme == "inproc":
        return True
    match = re.match(r"^[\w.\-\[\]:]+:(\d+)$", rest)
    return match is not None and 1 <= int(match.group(1)) <= 65535


@functools.lru_cache(maxsize=1)
def _share_threads(threads: int | None) -> None:
    """Once per worker process: BLAS and the strips share the worker's cores."""
    from convcli._threads import set_thread_share

    set_thread_share(threads)


def files_per_task(files: int, threads: int) -> int:
    """How many files each task of a batch of ``files`` holds, on ``threads`` worker threads.

    Dask's own habit for a sequence (``dask.bag.from_sequence`` without a partition size:
    one item per partition up to 100 items, then ``ceil(sqrt(n) / sqrt(100))``), but at
    least :data:`MIN_FILES_PER_TASK`, and bounded so that every worker thread still gets
    at least :data:`TASKS_PER_THREAD` tasks (which comes first).

    Examples
    --------
    >>> [files_per_task(n, 2) for n in (1, 20, 100, 400, 10_000, 1_000_000)]
    [1, 2, 8, 8, 10, 100]
    >>> files_per_task(10_000, 300)  # 1,250 tasks: four for each of 300 threads
    8
    """
    habit = 1 if files <= 100 else math.ceil(math.sqrt(files) / math.sqrt(100))
    most = files // (TASKS_PER_THREAD * max(1, threads))
    return max(1, min(max(habit, MIN_FILES_PER_TASK), most))


def run_files(
    sources: Sequence[str],
    outputs: Sequence[str],
    steps: Sequence[Step],
    options: ApplyOptions,
    version: str,
) -> list[Outcome]:
    """One Dask task: its files through :func:`convcli.process.process_file`, in turn.

    Parameters
    ----------
    sources, outputs : sequence of str
        Paths (seen by the worker) or fsspec URLs, one output per source.
    steps : sequence of KernelStep or PoolStep
    options : ApplyOptions
    version : str
        The client's convcli version: a worker running another one refuses the files
        (their bytes could differ) instead of writing them.

    Returns
    -------
    list of Outcome
        One per file, in order; shorter when the task was cancelled (the batch stopped)
        between two files: the rest are not started, their outcomes are never read.
    """
    # Imported here, not above: importing this module stays light (start_early).
    from convcli import __version__, process

    if version != __version__:
        why = f"worker runs convcli {__version__}, the client {version}"
        return [("failed", why, None, [], 0.0) for _ in sources]
    _share_threads(options.threads)
    outcomes: list[Outcome] = []
    for source, output in zip(sources, outputs, strict=True):
        if outcomes and _cancelled():
            break
        outcomes.append(process.process_file(source, output, steps, options))
    return outcomes


def _cancelled() -> bool:
    """Whether the task running in this thread was cancelled (the client stopped the
    batch: Ctrl-C, --fail-fast); Dask lets a running task finish, so one of several files
    asks before each file after the first. False outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
        task = worker.state.tasks.get(worker.get_current_task())
    except (ImportError, ValueError, KeyError):  # not in a Dask worker's task
        return False
    return task is None or task.state == "cancelled"


def _failure(error: BaseException, retries: int, task: _Task | None = None) -> str:
    """A task's exception as one line (a worker that kept dying, or an escaped error);
    ``retries`` is :meth:`DaskRun._retries`' count (for KilledWorker: the deaths), and
    ``task``'s :attr:`_Task.deaths` those of a task of several files that held the file
    before (it fails whole, and its files are run again one per task)."""
    name = type(error).__name__
    if name == "KilledWorker":
        earlier = task.deaths if task is not None else 0
        shared = ""
        if task is not None and earlier:
            files = "file" if task.mates == 1 else "files"
            shared = f" ({earlier} of them in a task with {task.mates} other {files})"
        return (
            f"its worker died {retries + earlier} times while running it{shared}; Dask gave "
            "up (distributed.scheduler.allowed-failures)"
        )
    text = " ".join(str(error).split())
    return f"{name}: {text}" if text else name


@dataclass(eq=False)
class _Task:
    """The files (:class:`convcli.batch.BatchItem`) of one Dask task, in order.

    A task of several files that failed is run again one file per task; each of those
    remembers what the first went through: ``before``, how often a task holding the file
    was started before (added to the file's retries); ``deaths``, how often its worker
    died then (told in a failure); ``mates``, how many other files that task held.
    """

    items: list[Any]
    before: int = 0
    deaths: int = 0
    mates: int = 0


class _Releases:
    """The futures of recorded results, let go (:meth:`DaskRun._let_go`) in batches: by a
    thread at most :data:`LET_GO_SECONDS` after they were recorded, or at once when
    :data:`LET_GO_COUNT` are waiting, and all at :meth:`close`.

    The thread bounds how long the scheduler keeps a recorded result when no other result
    comes (a slow file on every worker); the loop that records never waits for it but
    for the lock, held through one round trip.
    """

    def __init__(self, let_go: Callable[[list[Any]], None]) -> None:
        self.let_go = let_go  # reads the retries, releases, empties the list
        self.ended: list[Any] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._often, name="convcli-let-go", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def add(self, future: Any) -> None:
        with self.lock:
            self.ended.append(future)
            if len(self.ended) >= LET_GO_COUNT:
                self.let_go(self.ended)

    def _often(self) -> None:
        while not self.stopping.wait(LET_GO_SECONDS):
            with self.lock:
                if self.ended:
                    self.let_go(self.ended)

    def close(self, rest: Any) -> None:
        """Stop the thread and let go of everything, ``rest`` (futures) too."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        with self.lock:
            self.ended.extend(rest)
            self.let_go(self.ended)


@dataclass(eq=False)
class DaskRun:
    """A connected client (and the LocalCluster it started, if any).

    Attributes
    ----------
    client : distributed.Client
    cluster : distributed.LocalCluster or None
        Closed with the run; a cluster given by address is left running.
    label : str
        ``"local:2"`` or the scheduler's address, for the report.
    settings : contextlib.ExitStack
        Dask settings made for the run (a LocalCluster's), undone when it closes.
    """

    client: Any
    cluster: Any
    label: str
    settings: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    closed: bool = False

    @property
    def workers(self) -> int:
        """Worker threads on the cluster now (the batch's parallelism)."""
        return max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        """Close the client, and the LocalCluster if convcli started it (once)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # a gone scheduler: nothing to close
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
        self.settings.close()

    def check_versions(self) -> None:
        """One Error if a worker lacks convcli or runs another version."""
        from convcli import __version__

        def worker_version() -> str | None:  # sent by value: convcli may be missing there
            try:
                import convcli

                return str(convcli.__version__)
            except ImportError:
                return None

        for worker, version in sorted(self.client.run(worker_version).items()):
            if version is None:
                raise ConvcliError(
                    f"Dask worker {worker} has no convcli: install convcli=={__version__} "
                    "on every worker (pip install 'convcli[dask]')"
                )
            if version != __version__:
                raise ConvcliError(
                    f"Dask worker {worker} runs convcli {version}, this client {__version__}: "
                    "install the same version on every worker"
                )

    def run(
        self,
        todo: Sequence[Any],
        steps: Sequence[Step],
        options: ApplyOptions,
        record: Callable[[Any, Outcome], bool],
        per_task: int | None = None,
    ) -> bool:
        """Run the items (:class:`convcli.batch.BatchItem`) as tasks of a few files,
        recording each file's outcome as its task's results arrive; True when ``record``
        asked to stop (fail-fast).

        A signal (see :mod:`convcli._signals`) or a stop cancels the tasks not finished.

        Parameters
        ----------
        todo : sequence of BatchItem
            The files to run, their outputs named.
        steps : sequence of KernelStep or PoolStep
            The prepared steps, shipped to every task.
        options : ApplyOptions
            The options, shipped to every task.
        record : callable
            Called in this process for each file as its task ends, ``record(item,
            outcome)``; returns True to stop the batch (``--fail-fast``).
        per_task : int, optional
            Files per task; default :func:`files_per_task` for this batch and cluster.
        """
        from distributed import as_completed

        if options.threads is None and self.cluster is not None:
            options = replace(options, threads=1)
        size = per_task or files_per_task(len(todo), self.workers)
        submit = functools.partial(self._submit, steps=steps, options=options)
        tasks = submit([_Task(list(todo[at : at + size])) for at in range(0, len(todo), size)])
        waiting = {key: future for key, (future, _) in tasks.items()}  # held until recorded
        killed: set[Any] = set()  # the keys Dask gave up on (KilledWorker)
        releases = _Releases(functools.partial(self._let_go, tasks=tasks, killed=killed))
        stopped = False
        try:
            with _signals.interruptible():
                completed = as_completed(waiting.values(), with_results=True, raise_errors=False)
                releases.start()
                for future, result in completed:
                    with _signals.deferred():
                        task = tasks[future.key][1]
                        outcomes = self._outcomes(future, result, killed, task)
                        if outcomes is None:  # failed whole: its files again, one a task
                            again = submit(self._split(task, future.key, killed))
                            tasks.update(again)
                            for key, (single, _) in again.items():
                                waiting[key] = single
                                completed.add(single)
                        releases.add(waiting.pop(future.key))
                        for item, outcome in zip(task.items, outcomes or (), strict=False):
                            stopped = record(item, outcome) or stopped
                        if stopped:
                            break
        finally:
            with contextlib.suppress(Exception):  # the scheduler is gone: nothing to cancel
                self.client.cancel([future for future in waiting.values() if not future.done()])
            releases.close(waiting.values())
        return stopped

    def _submit(
        self, tasks: list[_Task], steps: Sequence[Step], options: ApplyOptions
    ) -> dict[Any, tuple[Any, _Task]]:
        """Submit each task (:func:`run_files` on its files): its future and itself, by
        key."""
        from convcli import __version__

        futures = self.client.map(
            run_files,
            [[item.input for item in task.items] for task in tasks],
            [[item.output for item in task.items] for task in tasks],
            steps=steps,
            options=options,
            version=__version__,
            pure=False,
            retries=RETRIES,
        )
        return {future.key: (future, task) for future, task in zip(futures, tasks, strict=True)}

    def _split(self, task: _Task, key: Any, killed: set[Any]) -> list[_Task]:
        """A task of several files that failed, as tasks of one file each, carrying
        how often it was started and how often its worker died."""
        retries = self._retries([key]).get(key, 0)
        starts = task.before + retries - (key in killed) + 1
        deaths = retries if key in killed else 0
        mates = len(task.items) - 1
        return [_Task([item], starts, task.deaths + deaths, mates) for item in task.items]

    def _let_go(
        self, ended: list[Any], tasks: dict[Any, tuple[Any, _Task]], killed: set[Any]
    ) -> None:
        """Read how often each ended task was started again into its items, then release
        the futures (and empty ``ended``): a result the scheduler still held would be
        computed again, its files read, filtered and written again, by Dask each time a
        worker holding it died."""
        if not ended:
            return
        keys = [future.key for future in ended]
        retries = self._retries(keys)
        for key in keys:
            task = tasks[key][1]
            # A task Dask gave up on was started once per worker death, not once more.
            count = task.before + max(0, retries.get(key, 0) - (key in killed))
            for item in task.items:
                item.retries = max(item.retries, count)
        with contextlib.suppress(Exception):  # the scheduler is gone: nothing to release
            for future in ended:
                future.release()
        ended.clear()

    def _outcomes(
        self, future: Any, result: Any, killed: set[Any], task: _Task
    ) -> list[Outcome] | None:
        """The outcomes of a task's files: its result, or a failure made of the error
        (``as_completed`` gives an erred task's ``(type, exception, traceback)``, a
        cancelled one's ``CancelledError``); None for a task of several files that erred
        (they are run again one per task; one that Dask cancelled, its scheduler lost,
        fails whole).

        Judged by what arrived, not by ``future.status``: a worker that dies after the
        result reached us takes the scheduler's copy with it, and the future goes back
        to pending while Dask computes it again (CI once saw a finished task's three
        outcomes reported as the failure ``list: [...]``)."""
        key = future.key
        if isinstance(result, list):  # run_files' own result
            outcomes: list[Outcome] = result
            found = [at for at, outcome in enumerate(outcomes)
                     if outcome[:3] == ("skipped", None, "output exists")]  # fmt: skip
            if found and (task.before or self._ran_before(key)):
                # Started again (its worker died after the write, or after the task
                # ended but before its result reached us: Dask computes a lost result
                # again; or a task of several files failed and this one holds one of
                # them), it found the output an earlier run wrote whole.
                for at in found:
                    task.items[at].retries = max(task.items[at].retries, task.before, 1)
                    outcomes[at] = ("done", None, None, outcomes[at][3], outcomes[at][4])
            return outcomes
        error = result[1] if isinstance(result, tuple) else result
        if type(error).__name__ == "KilledWorker":
            killed.add(key)
        if len(task.items) > 1 and isinstance(result, tuple):  # erred, not cancelled
            return None
        why = _failure(error, self._retries([key]).get(key, 0), task)
        return [("failed", why, None, [], 0.0) for _ in task.items]  # one, or cancelled by Dask

    def _ran_before(self, key: Any) -> bool:
        """Whether a task ran before this result (asked for one key, rarely): a worker
        died while it ran, or its result was lost with a worker and computed again."""

        def ran(dask_scheduler: Any, key: Any) -> bool:
            task = dask_scheduler.tasks.get(key)
            results = sum(1 for step in dask_scheduler.story(key) if step[2] == "memory")
            return results > 1 or (task is not None and task.suspicious > 0)

        try:
            return bool(self.client.run_on_scheduler(ran, key=key))
        except Exception:  # the scheduler is gone: the outcome stands
            return False

    def _retries(self, keys: list[Any]) -> dict[Any, int]:
        """How often each task was started again: after its worker died (the scheduler's
        ``suspicious`` count) or after it raised (``retries=`` used)."""

        def count(dask_scheduler: Any, keys: list[Any], granted: int) -> dict[Any, int]:
            found = {}
            for key in keys:
                task = dask_scheduler.tasks.get(key)
                if task is not None:
                    left = task.retries if task.retries is not None else granted
                    found[key] = task.suspicious + max(0, granted - left)
            return found

        try:
            return self.client.run_on_scheduler(count, keys=keys, granted=RETRIES)  # type: ignore[no-any-return]
        except Exception:  # the scheduler is gone: no count, the outcomes stand
            return {}


#: What every worker of a LocalCluster needs, imported once in the fork server the workers
#: are forked from: Dask's worker, and convcli's task (:func:`run_files`) with the whole
#: unit of work it runs (:mod:`convcli.process`: NumPy, Pillow, the core).
WORKER_MODULES = ("distributed", "convcli.cluster", "convcli.process", "convcli._dask_worker")


#: Dask's settings for the LocalCluster convcli starts that cut what its servers do besides
#: the files (measured: ``benchmarks/dask_batch.py``): every server (the scheduler and the
#: nannies in this process, each worker) wakes its event loop for them, and on a
#: LocalCluster they all share the cores the files need. The statistical profiler samples
#: the running task's stack every 10 ms for the dashboard's profile page, and convcli
#: starts no dashboard; the tick (every 20 ms) only measures the event loop's delays for a
#: warning convcli's silenced logs never show; the system monitor (every 0.5 s: the
#: process's CPU and memory, the host's network and disk counters) feeds the dashboard's
#: charts and the heartbeats' metrics. A cluster given by address keeps its owner's.
QUIET_SETTINGS: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
}


def _local_settings(preload: Sequence[str]) -> contextlib.ExitStack:
    """Dask's settings for the LocalCluster convcli starts, in effect until the returned
    stack is closed (with the run: a worker that died is started again under them), and
    the fork server its workers will be forked from, started now.

    Called before ``distributed`` is imported here: its defaults join ``dask.config``
    first (:func:`_distributed_defaults`), as its import would make them, so that the
    settings made here are undone to them.

    Its workers are forked from a fork server (Dask's
    ``distributed.worker.multiprocessing-method: forkserver``) that imported
    :data:`WORKER_MODULES` and ``preload`` once: with Dask's default (``spawn``) each
    worker is a fresh interpreter importing distributed, NumPy, Pillow and convcli for
    itself, its first file waiting for them, and closing one took most of a second.
    :func:`_start_fork_server` starts it at once (if :func:`start_early` has not), so that
    its imports run while this process imports distributed. The server lives as long as
    this process: a later LocalCluster here forks from it, with its imports and its
    environment (Dask still hands every worker ``distributed.nanny.environ``).
    :data:`QUIET_SETTINGS` hold for the run too.
    """
    import multiprocessing

    import dask

    _distributed_defaults()
    settings = contextlib.ExitStack()
    # Dask sets MALLOC_TRIM_THRESHOLD_ for its workers (to give memory back); setting it
    # turns off glibc's sliding mmap threshold, so every image-sized NumPy array is a
    # fresh mmap, page-faulted in: a 1080p blur took ~2x as long in a worker. convcli's
    # arrays live one file long, the process's memory is flat: let glibc keep them.
    config: dict[str, Any] = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        **QUIET_SETTINGS,
    }
    forked = "forkserver" in multiprocessing.get_all_start_methods()  # not on Windows
    if forked:
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    settings.enter_context(dask.config.set(config))
    if forked:
        _start_fork_server([*WORKER_MODULES, *preload])
    return settings


def _distributed_defaults() -> None:
    """Join distributed's default settings to ``dask.config`` as ``import distributed``
    does (its ``config.py``: ``update_defaults`` with its ``distributed.yaml``), without
    the rest of that import (~0.4 s). Joined again by the import, they stay the same, and
    a value set before (by the user, or for the run) is kept."""
    import importlib.util
    from pathlib import Path

    import dask
    import yaml  # type: ignore[import-untyped]  # a dependency of dask

    spec = importlib.util.find_spec("distributed")
    if spec is None or not spec.submodule_search_locations:
        raise ConvcliError(NO_DASK)
    path = Path(next(iter(spec.submodule_search_locations))) / "distributed.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same values, 6x sooner
    dask.config.update_defaults(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))


def pre_spawn_environ() -> dict[str, str]:
    """The environment a Dask nanny sets before it starts a worker process, as
    ``distributed.nanny.Nanny`` computes it: ``distributed.nanny.pre-spawn-environ``
    (a variable already set in this process wins, a null leaves it out) and a fixed
    ``PYTHONHASHSEED`` (6640) unless one is set (not 0), for the same hashes in every
    worker. Read from ``dask.config``, distributed's defaults joined."""
    import dask

    wanted = dask.config.get("distributed.nanny.pre-spawn-environ")
    environ = {name: os.environ.get(name, str(value)) for name, value in wanted.items()
               if value is not None}  # fmt: skip
    if environ.get("PYTHONHASHSEED") in (None, "0"):
        environ["PYTHONHASHSEED"] = "6640"
    return environ


def _start_fork_server(modules: Sequence[str]) -> None:
    """Start the fork server of the LocalCluster's workers now, importing ``modules``.

    Dask starts it with its first worker, once this process has imported distributed
    and started the scheduler; its own imports (a fresh interpreter importing
    distributed, NumPy, Pillow and convcli, ~0.4 s) then come after those, while a core
    waits. Started here (by :func:`start_early`, or by :func:`connect`), it imports them
    while this process imports its own.

    Ctrl-C reaches the whole process group, the server too: SIGINT is blocked while it
    is spawned, so it stays blocked in the server and the workers forked from it (they
    leave Ctrl-C to this process; a Ctrl-C during the server's imports was a
    KeyboardInterrupt traceback on the batch's stderr), and one that came meanwhile
    reaches this process when it is unblocked.

    Its environment is the one Dask would have given it: a forked worker keeps the
    server's, and what ``pre-spawn-environ`` holds must be there when a process starts
    (glibc's malloc settings, the hash seed) or imports NumPy (``OMP_NUM_THREADS``), so
    this process's environment gets them first, as each nanny does before it starts a
    worker (and does again). Dask's first worker sets its own list of modules for a
    server started later (this one died): the workers of such a server import convcli in
    their first file.
    """
    import multiprocessing
    from multiprocessing import forkserver, resource_tracker

    os.environ.update(pre_spawn_environ())
    # The last import freezes the ones before (Python's advice before forking).
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload([*modules, "convcli._frozen_preload"])
    # Its resource tracker first: starting it unblocks SIGINT (CPython blocks and then
    # unblocks it around the tracker's own spawn, the way this blocks it).
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _local_cluster(factory: Any, workers: int | None) -> Any:
    """A LocalCluster of ``workers`` processes (one thread each), quiet on stderr, whose
    workers leave Ctrl-C to this process (:class:`convcli._dask_worker.IgnoreInterrupt`)
    and keep freed memory (:class:`convcli._dask_worker.KeepFreedMemory`);
    Dask's settings are :func:`_local_settings`'."""
    from convcli._dask_worker import IgnoreInterrupt, KeepFreedMemory

    return factory(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # Without a dashboard the scheduler still serves its HTTP routes, on 8787 by
        # default: taken (another cluster on the machine), Dask warns on stderr.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=50,  # logging.CRITICAL: stderr is the report's
        plugins={IgnoreInterrupt(), KeepFreedMemory()},
    )


def start_early(address: str, names: Sequence[str]) -> None:
    """Start now what a LocalCluster for ``--dask ADDRESS`` waits for longest, its
    workers' fork server (:func:`_local_settings`), so that the server's imports (~0.4 s)
    run while this process imports the unit of work and lists and plans the batch;
    :func:`connect` later finds it running. Nothing for a scheduler's address.

    Light to call: this module imports neither Dask's ``distributed`` nor NumPy.

    Parameters
    ----------
    address : str
        ``--dask``'s value (checked here, before any listing).
    names : sequence of str
        The batch's inputs and output folder as given: their file systems
        (:func:`convcli.storage.packages`) are imported by the server too.

    Raises
    ------
    ConvcliError
        Dask not installed (one line naming the extra), or a malformed address.
    """
    where, _ = parse_address(address)
    if _is_local(where):
        # The server stays; the settings are the run's (connect makes them again).
        _local_settings(storage.packages(names)).close()


def _is_local(where: str) -> bool:
    """Whether ``--dask``'s parsed address means a LocalCluster (``local``, or ``auto``
    without Dask's ``scheduler-address``); :class:`ConvcliError` naming the extra when
    Dask is not installed (Dask's config answers for ``auto``)."""
    try:
        import dask
    except ImportError:
        raise ConvcliError(NO_DASK) from None
    return where == "local" or (where == "auto" and not dask.config.get("scheduler-address", None))


def connect(address: str, preload: Sequence[str] = ()) -> DaskRun:
    """A client for ``--dask ADDRESS`` (see the module docstring), its workers' convcli
    versions checked.

    Parameters
    ----------
    address : str
        ``--dask``'s value.
    preload : sequence of str
        Modules the workers of a LocalCluster import before their first file, besides
        :data:`WORKER_MODULES`: the file systems of the batch's URLs (``s3fs``).

    Raises
    ------
    ConvcliError
        Dask not installed (one line naming the extra), no scheduler at the address, no
        worker, or a worker without this convcli version.
    """
    where, workers = parse_address(address)
    local = _is_local(where)
    # A LocalCluster's settings and fork server come first: the server's imports then
    # run while this process imports distributed.
    settings = _local_settings(preload) if local else contextlib.ExitStack()
    cluster = None
    label = where if where != "local" else f"local:{workers or 'auto'}"
    try:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConvcliError(NO_DASK) from None
        # stderr is the report's: the client's own warnings (a result lost with a worker,
        # "rescheduling") are told by the report as the file's retries. Set after the
        # import, whose logging settings (distributed.yaml's) would undo it.
        logging.getLogger("distributed.client").setLevel(logging.ERROR)
        if local:
            cluster = _local_cluster(LocalCluster, workers)
            client = Client(cluster, timeout=CONNECT_TIMEOUT)
        else:
            client = Client(None if where == "auto" else where, timeout=CONNECT_TIMEOUT)
            label = client.scheduler.address
    except BaseException as error:
        if cluster is not None:
            cluster.close()
        settings.close()
        if isinstance(error, (OSError, TimeoutError)):
            raise ConvcliError(f"--dask {address}: cannot reach the scheduler ({error})") from None
        raise
    run = DaskRun(client, cluster, label, settings)
    try:
        run.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        run.check_versions()
    except BaseException as error:
        run.close()
        if isinstance(error, TimeoutError):
            raise ConvcliError(f"--dask {address}: no worker joined the scheduler") from None
        raise
    return run
