"""SIGINT and SIGTERM, handled the same way by every command and by a batch's workers.

The CLI's one error boundary (:meth:`convcli.cli.ConvcliGroup.main`) runs every command
inside :func:`handled`, and its body inside :func:`interruptible`. There, the first SIGINT
(Ctrl-C) or SIGTERM (``kill``) raises :class:`Interrupted` in the main thread: ``finally``
blocks run (an atomic write removes its temporary file, thread pools drain), and the
boundary prints one line and exits with 128 + the signal number (130, 143). Signals after
the first are ignored: stopping is bounded (a strip of rows, a batch's workers), and a
second Ctrl-C must not cut the cleanup of the first in half.

The places that must not be cut are kept whole in two ways:

- inside a :func:`deferred` section (the boundary's own reporting, creating a temporary
  file and recording it, a batch's bookkeeping and pool loop) a signal is only noted: it
  is raised when the section ends or when an :func:`interruptible` stretch begins, or
  read by a loop that polls :func:`received`;
- files recorded with :func:`remove_on_stop` (temporary files) are deleted by
  :func:`remove_leftovers` once an interruption has unwound, so a signal landing in an
  atomic write's own cleanup leaves nothing behind either.

An Interrupted that never arrives is raised again: C code that runs the handler may
clear what it raised (CPython's ``compile()`` does, and it runs whenever a module is
imported without cached bytecode). The next section's end, :func:`checkpoint` (just
before an output is published) or the end of the :func:`interruptible` stretch raises
it once more, so the command still stops, without publishing the output it was writing.

A signal that was ignored when convcli started (a shell's background job has SIGINT
ignored; ``nohup``) stays ignored, as Python itself does for SIGINT and coreutils do.

Pure standard library; ``convcli shape`` imports it (``signal`` and ``threading`` are
loaded by then anyway).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "SIGNALS",
    "Interrupted",
    "become_worker",
    "checkpoint",
    "deferred",
    "die_with_parent",
    "for_process",
    "forget",
    "handled",
    "interruptible",
    "received",
    "remove_leftovers",
    "remove_on_stop",
    "take",
]

#: The signals that stop a command.
SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

_WORDS = {int(signal.SIGINT): "interrupted", int(signal.SIGTERM): "terminated"}


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped the work. A BaseException, as KeyboardInterrupt is, so
    that ``except Exception`` does not swallow it.

    Attributes
    ----------
    signum : int
    exit_code : int
        128 + ``signum``: 130 for SIGINT, 143 for SIGTERM, as shells report them.
    word : str
        ``interrupted`` (SIGINT) or ``terminated`` (SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def word(self) -> str:
        return describe(self.signum)[0]

    def __str__(self) -> str:
        return "{} ({})".format(*describe(self.signum))


def describe(signum: int) -> tuple[str, str]:
    """``("interrupted", "SIGINT")`` or ``("terminated", "SIGTERM")``."""
    return _WORDS.get(int(signum), "stopped"), signal.Signals(signum).name


class _State:
    """One per process (a forked worker makes its own, see :func:`become_worker`)."""

    def __init__(self, leftovers: set[str] | None = None) -> None:
        self.depth = 0  # nesting of handled()
        self.previous: dict[int, Any] = {}  # handlers to restore when the outermost ends
        self.signum: int | None = None  # the first signal received
        self.raised = False  # ... and whether it was raised (or taken) already
        self.thrown = False  # ... raised by the handler and not yet taken: it may vanish
        self.deferring = 0  # nesting of deferred(), main thread only
        self.leftovers: set[str] = set() if leftovers is None else leftovers


_state = _State()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum: int, frame: object) -> None:
    state = _state
    if state.signum is not None:
        return  # already stopping: let the cleanup finish
    state.signum = signum
    if not state.deferring:
        state.raised = state.thrown = True
        raise Interrupted(signum)


def _raise_pending() -> None:
    """Raise the signal noted in a deferred section, or again one whose Interrupted vanished.

    C code that runs Python's handlers may clear what they raise (CPython 3.11's
    ``compile()``, parsing a module that has no bytecode cached). An Interrupted still on
    its way (a ``finally`` block's cleanup runs this) is not lost.
    """
    state = _state
    if state.signum is None:
        return
    if not state.raised or (state.thrown and not _on_its_way()):
        state.raised, state.thrown = True, False
        raise Interrupted(state.signum)


def _on_its_way() -> bool:
    """Whether an Interrupted is being handled here, or is what the exception being
    handled arose from (an OSError caught in a ``finally`` block's cleanup)."""
    error = sys.exc_info()[1]
    while error is not None:
        if isinstance(error, Interrupted):
            return True
        error = error.__context__
    return False


def _enter() -> None:
    global _state
    if _state.depth == 0:
        fresh = _State(_state.leftovers)
        for number in SIGNALS:
            previous = signal.getsignal(number)
            if previous is not signal.SIG_IGN:  # ignored by whoever started us: keep it so
                fresh.previous[number] = previous
        _state = fresh
        for signum in fresh.previous:
            signal.signal(signum, _handler)
    _state.depth += 1


def _leave() -> None:
    global _state
    _state.depth -= 1
    if _state.depth == 0:
        if _state.signum is not None:
            remove_leftovers()
        else:
            _state.signum = 0  # a signal arriving now is ignored, until the handlers are back
        for number, handler in _state.previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        _state = _State(_state.leftovers)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (the first one, once) while this runs.

    Nests: the outermost installs the handlers and puts the previous ones back at its end.
    Outside the main thread it does nothing (Python runs handlers in the main thread only).
    """
    if not _in_main_thread():
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def for_process() -> None:
    """The console script's start: handlers for the rest of the process's life, and every
    signal deferred outside the command's own :func:`interruptible` body, so that one
    arriving while convcli reports or exits is never raised as a traceback."""
    if _in_main_thread():
        _enter()
        _state.deferring += 1


class deferred:  # noqa: N801 (a context manager used like a function)
    """A section a signal must not cut: a signal arriving inside is noted, and raised as
    the outermost section ends (unless :func:`take` took it, or an exception is already on
    its way)."""

    __slots__ = ("_counted",)

    def __enter__(self) -> None:
        self._counted = _in_main_thread()
        if self._counted:
            _state.deferring += 1

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if self._counted:
            _state.deferring -= 1
            if not _state.deferring and kind is None:
                _raise_pending()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Long work a signal may cut, inside :func:`deferred` sections: a signal noted before
    it starts, or arriving during it, raises :class:`Interrupted` (at its end, if what
    the handler raised vanished)."""
    if not _in_main_thread():
        yield
        return
    saved, _state.deferring = _state.deferring, 0
    try:
        _raise_pending()
        yield
        _raise_pending()  # one whose Interrupted vanished on the way
    finally:
        _state.deferring = saved


def checkpoint() -> None:
    """Raise a signal that is due but has not reached this code (its Interrupted vanished
    on the way): called just before an output is published. Nothing inside a
    :func:`deferred` section or outside the main thread."""
    if _in_main_thread() and not _state.deferring:
        _raise_pending()


def received() -> int | None:
    """The signal received so far (for loops that poll), or None."""
    return _state.signum or None


def take() -> int | None:
    """The signal received so far, now dealt with: it will not be raised."""
    if _state.signum is not None:
        _state.raised, _state.thrown = True, False
    return _state.signum or None


def remove_on_stop(path: str) -> None:
    """Delete ``path`` in :func:`remove_leftovers`, unless :func:`forget` comes first."""
    _state.leftovers.add(path)


def forget(path: str) -> None:
    """``path`` was renamed into place or removed: no longer a leftover."""
    _state.leftovers.discard(path)


def remove_leftovers() -> None:
    """Delete the files recorded by :func:`remove_on_stop` (those that still exist)."""
    for path in list(_state.leftovers):
        with contextlib.suppress(OSError):
            os.unlink(path)
        _state.leftovers.discard(path)


def become_worker() -> None:
    """First thing in a batch's worker process: a state of its own; SIGINT ignored (Ctrl-C
    reaches the whole process group and the parent alone decides); SIGTERM raises
    :class:`Interrupted`, by which the worker abandons its file and leaves."""
    global _state
    early = _state.signum  # a signal that came between the fork and now
    _state = _State()
    _state.depth = 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _handler)
    if early:
        os.kill(os.getpid(), signal.SIGTERM)


def die_with_parent(parent: int) -> None:
    """Receive SIGTERM when process ``parent`` ends, even by SIGKILL.

    Linux's ``prctl(PR_SET_PDEATHSIG)``; elsewhere an orphaned worker finds out through
    its pipe (when idle, or when it reports the file it finished). Call it in the child
    after the fork: if the parent died before, SIGTERM comes at once.
    """
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
