"""Code that runs on the Dask workers of the LocalCluster convcli starts (``--dask local``).

Its own module because it subclasses Dask's ``WorkerPlugin`` at import: only
:mod:`convcli.cluster` imports it, after Dask is known to be installed.
"""

from __future__ import annotations

import signal
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["IgnoreInterrupt"]


class IgnoreInterrupt(WorkerPlugin):  # type: ignore[misc]
    """The worker processes ignore SIGINT. Ctrl-C reaches the whole process group and the
    convcli process decides (as with its own pool): it cancels the tasks and closes the
    cluster.

    Given to every worker at its start (restarted ones too); ``setup`` runs in the
    worker's main thread, where signal dispositions are set. A Ctrl-C in the second a
    worker process takes to start, before its setup, still reaches it.
    """

    name = "convcli-ignore-sigint"

    def setup(self, worker: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class KeepFreedMemory(WorkerPlugin):  # type: ignore[misc]
    """The worker processes of a LocalCluster convcli starts keep the memory they free for
    the next file, as the local pool's workers do (:func:`convcli._threads.keep_freed_memory`:
    a quarter of a worker's CPU on 1080p files went to faulting pages in again). Only
    there: the workers of a cluster given by address belong to its owner."""

    name = "convcli-keep-freed-memory"

    def setup(self, worker: Any) -> None:
        from convcli._threads import keep_freed_memory

        keep_freed_memory()
