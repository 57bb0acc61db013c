"""Which tags each live logger writes in each run folder, to warn when two would interleave.

Two loggers (or callbacks) may share a ``log_dir``: each writes its own event file (TensorFlow
names them uniquely by time, host, process and a counter), and TensorBoard merges the files of a
run folder. Their images stay apart as long as they log different layers. When two live loggers
write the same tag into the same run folder, their steps interleave under one card; this module
notices that and says how to separate them (``run_name=``). Across processes (two scripts given
the same ``log_dir``), each marks the run folder with a hidden ``<host>.<pid>`` file while it
writes; a live mark by another process on this host is warned about, a stale one (a killed
process) removed. The marks go through ``fmlogger._paths`` like every file of the run folder, so
a remote run folder (``gs://``, ...) gets them too.

Example:
    >>> import tempfile; run = tempfile.mkdtemp()
    >>> class Logger: ...
    >>> first, second = Logger(), Logger()
    >>> claim(run, ["feature_maps/conv1"], first)
    []
    >>> claim(run, ["feature_maps/conv1", "feature_maps/conv2"], second)
    ['feature_maps/conv1']
    >>> release(run, first); release(run, second)

A logger holds a ``Claims`` for its run folder: ``add`` its layers, ``mark_written`` after each
step, ``release`` on close.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import weakref

from fmlogger import tags
from fmlogger._paths import exists, is_remote, isdir, join, listdir, remove, write_atomic

log = logging.getLogger("fmlogger")

_CLAIMS: dict[str, "weakref.WeakKeyDictionary"] = {}

PID_PREFIX = ".fmlogger-writer."
"""Hidden marker files ``<run_dir>/.fmlogger-writer.<host>.<pid>``: which processes write a run folder."""


def _key(run_dir: str) -> str:
    return run_dir if is_remote(run_dir) else os.path.realpath(run_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def _mine() -> str:
    return f"{PID_PREFIX}{socket.gethostname().replace('.', '_')}.{os.getpid()}"


def mark(run_dir: str) -> None:
    """Marks an existing ``run_dir`` as written by this process (an empty ``PID_PREFIX<host>.<pid>``
    file in it); nothing for a missing folder, or when the mark cannot be written."""
    with contextlib.suppress(Exception):  # OSError; a remote layer's own errors
        if isdir(run_dir) and not exists(join(run_dir, _mine())):
            write_atomic(join(run_dir, _mine()), b"")


def other_processes(run_dir: str) -> list[int]:
    """``mark``s ``run_dir`` and returns the live pids of other processes on this host that marked
    it; stale marks (a process that ended, even by kill -9) are removed. Missing or unreadable
    folders give ``[]``."""
    mark(run_dir)
    host, mine = socket.gethostname().replace(".", "_"), _mine()
    try:
        names = listdir(run_dir)
    except Exception:  # noqa: BLE001 - OSError; a remote layer's own errors
        return []
    others = []
    for name in names:
        mark_host, _, pid = name[len(PID_PREFIX):].rpartition(".")
        if not name.startswith(PID_PREFIX) or name == mine or mark_host != host or not pid.isdigit():
            continue
        if _alive(int(pid)):
            others.append(int(pid))
        else:
            with contextlib.suppress(Exception):
                remove(join(run_dir, name))
    return sorted(others)


def claim(run_dir: str, run_tags, owner) -> list[str]:
    """Records that ``owner`` writes ``run_tags`` into ``run_dir``; returns (and warns about) the
    tags another live owner already writes there. Warns too when another live process on this host
    writes into ``run_dir`` (``other_processes``)."""
    pids = other_processes(run_dir)
    if pids:
        log.warning(
            "fmlogger: another process (pid %s) is logging into %s too; the steps of both may "
            "interleave under the same tags. Pass run_name='...' (a different run folder) to one of them.",
            ", ".join(map(str, pids)), run_dir,
        )
    owners = _CLAIMS.setdefault(_key(run_dir), weakref.WeakKeyDictionary())
    mine = set(run_tags)
    shared = sorted({t for other, theirs in owners.items() if other is not owner for t in theirs} & mine)
    owners[owner] = mine
    if shared:
        log.warning(
            "fmlogger: another logger already writes %s into %s; the steps of both will interleave "
            "under the same tags. Pass run_name='...' (a different run folder) to one of them.",
            ", ".join(shared), run_dir,
        )
    return shared


def release(run_dir: str, owner) -> None:
    """Forgets ``owner``'s tags in ``run_dir`` (its writer was closed)."""
    owners = _CLAIMS.get(_key(run_dir))
    if owners is not None:
        owners.pop(owner, None)
    if not owners:  # this process's last logger there: drop its mark
        with contextlib.suppress(Exception):
            remove(join(run_dir, _mine()))


class Claims:
    """One logger's claims on its run folder: the ``feature_maps/`` tags it writes (``claim``) and,
    once a step is written, this process's mark (``mark``).

    Example:
        >>> import tempfile
        >>> claims = Claims(tempfile.mkdtemp())
        >>> claims.add(["conv1"]); sorted(claims.tags)
        ['feature_maps/conv1']
        >>> claims.release()
    """

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.tags: set[str] = set()

    def add(self, names) -> None:
        """Claims the ``feature_maps/`` tags of layer ``names`` (warning as ``claim`` does); new ones only."""
        new = {tags.image_tag(name) for name in names} - self.tags
        if new:
            self.tags |= new
            claim(self.run_dir, sorted(self.tags), self)

    def mark_written(self) -> None:
        """Marks the run folder as written by this process, once something is claimed (it exists then)."""
        if self.tags:
            mark(self.run_dir)

    def release(self) -> None:
        """Forgets this logger's tags (its writer was closed); a later ``add`` claims them again."""
        release(self.run_dir, self)
        self.tags = set()
