"""The runs of a log folder the dashboard may show, found by a checked walk of that folder.

An fmlogger run is a folder under the log folder holding ``fmlogger_state.json`` and at least one
event file; its name is its path relative to the log folder with ``/`` separators, as TensorBoard
names runs (``"."`` for the log folder itself). Keras' ``train`` and ``validation`` runs beside it
(``keras.callbacks.TensorBoard`` on the same ``log_dir``) are indexed for their ``epoch_*`` scalars.
Run names reach the routes only as keys of this catalog: a request names a run, the catalog looks
it up, and no path is ever built from request input. Symbolic links are not followed out of the
log folder (links to folders are not walked; event and state files that resolve outside it are
skipped).

Example:
    >>> catalog = Catalog("runs")          # doctest: +SKIP
    >>> catalog.refresh()                  # doctest: +SKIP
    >>> sorted(catalog.runs())             # doctest: +SKIP
    ['exp1/feature_maps', 'exp2/feature_maps']
"""

from __future__ import annotations

import os
import threading
import time

from fmlogger import tags
from fmlogger._paths import is_remote
from fmlogger.dashboard.index import RecordCache, RunIndex, inside
from fmlogger.runs.events import event_files
from fmlogger.sinks.state import load_state

IMAGE_PREFIXES = (
    tags.IMAGE_PREFIX,
    tags.TIMELINE_PREFIX,
    tags.PCA_RGB_PREFIX,
    tags.SALIENCY_PREFIX,
    tags.GRADCAM_PREFIX,
    tags.ACTMAX_PREFIX,
    tags.EMBEDDING_PCA_PREFIX,
    tags.EMBEDDING_TSNE_PREFIX,
)
"""The image tags of fmlogger runs that the dashboard indexes."""

KERAS_RUNS = ("train", "validation")
KERAS_SCALAR_PREFIX = "epoch_"
KERAS_STEP_OFFSET = 1
"""Keras writes epoch ``e`` (0-based) at step ``e``, after ``e + 1`` epochs; fmlogger's step ``k`` is
after ``k`` epochs (0 = untrained). The dashboard plots Keras' step ``e`` at ``e + 1``."""


class Run:
    """One fmlogger run: its index, its Keras siblings and its state file (re-read when changed)."""

    def __init__(self, name: str, folder: str, index: RunIndex):
        self.name = name
        self.folder = folder
        self.index = index
        self.keras: dict[str, RunIndex] = {}
        self._state: dict = {}
        self._state_key = None

    def state(self) -> dict:
        """``fmlogger_state.json`` (probe fingerprint, render settings, layers); {} if unreadable."""
        path = os.path.join(self.folder, tags.STATE_FILE)
        try:
            stat = os.stat(path)
        except OSError:
            return {}
        key = (stat.st_mtime_ns, stat.st_size)
        if key != self._state_key and inside(path, self.index.root):
            loaded = load_state(self.folder)
            self._state = loaded if isinstance(loaded, dict) else {}
            self._state_key = key
        return self._state


class Catalog:
    """The fmlogger runs under ``logdir``, re-walked at most every ``rescan_s`` seconds.

    Args:
        logdir: TensorBoard's log folder (a local path; others give an empty catalog).
        rescan_s: the least time between two walks (and incremental index updates).
    """

    def __init__(self, logdir: str | None, *, rescan_s: float = 2.0):
        self.logdir = logdir or ""
        self.rescan_s = rescan_s
        self.cache = RecordCache()
        self._runs: dict[str, Run] = {}
        self._last = None
        self._lock = threading.Lock()

    @property
    def root(self) -> str | None:
        """The resolved log folder, or None when it is not a local folder."""
        if not self.logdir or is_remote(self.logdir) or not os.path.isdir(self.logdir):
            return None
        return os.path.realpath(self.logdir)

    def runs(self) -> dict[str, Run]:
        """``{run name: Run}`` as of the last refresh, sorted by name."""
        return self._runs

    def get(self, name) -> Run | None:
        """The run of that name, or None (also for a name that is no string)."""
        return self._runs.get(name) if isinstance(name, str) else None

    def has_runs(self) -> bool:
        """Whether the log folder holds an fmlogger run now (a walk only: no event file is read)."""
        root = self.root
        return bool(root and self._walk(root))

    def refresh(self, *, force: bool = False) -> dict[str, Run]:
        """Walks the log folder and updates every run's index, unless done in the last ``rescan_s``."""
        with self._lock:
            now = time.monotonic()
            if not force and self._last is not None and now - self._last < self.rescan_s:
                return self._runs
            root = self.root
            found = self._walk(root) if root else {}
            runs = {}
            for name, folder in sorted(found.items()):
                run = self._runs.get(name) or Run(
                    name, folder, RunIndex(folder, root=root, image_prefixes=IMAGE_PREFIXES,
                                           scalar_prefixes=(tags.STATS_PREFIX,), cache=self.cache)
                )
                self._pair_keras(run, root)
                run.index.update()
                for keras in run.keras.values():
                    keras.update()
                runs[name] = run
            self._runs = runs
            self._last = time.monotonic()
            return runs

    @staticmethod
    def _walk(root: str) -> dict[str, str]:
        found = {}
        for folder, folders, files in os.walk(root):  # does not descend into links to folders
            folders.sort()
            if tags.STATE_FILE in files and any("tfevents" in f for f in files):
                name = os.path.relpath(folder, root).replace(os.sep, "/")
                found[name] = folder
        return found

    def _pair_keras(self, run: Run, root: str) -> None:
        parent = os.path.dirname(run.folder)
        if run.folder == root or not inside(parent, root):
            return
        for name in KERAS_RUNS:
            folder = os.path.join(parent, name)
            if name in run.keras or os.path.islink(folder) or not event_files(folder):
                continue
            run.keras[name] = RunIndex(
                folder, root=root, scalar_prefixes=(KERAS_SCALAR_PREFIX,), cache=self.cache
            )

    def keras_run_name(self, run: Run, keras: str) -> str:
        """TensorBoard's name of a Keras run beside ``run`` (``exp1/train``)."""
        parent = os.path.dirname(run.name) if run.name != "." else ""
        return f"{parent}/{keras}" if parent else keras
