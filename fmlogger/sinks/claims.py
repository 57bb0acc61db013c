"""Which tags each live logger writes in each run folder, to warn when two would interleave.

Two loggers (or callbacks) may share a ``log_dir``: each writes its own event file (TensorFlow
names them uniquely by time, host, process and a counter), and TensorBoard merges the files of a
run folder. Their images stay apart as long as they log different layers. When two live loggers
write the same tag into the same run folder, their steps interleave under one card; this module
notices that and says how to separate them (``run_name=``).

Example:
    >>> class Logger: ...
    >>> first, second = Logger(), Logger()
    >>> claim("/tmp/runs/feature_maps", ["feature_maps/conv1"], first)
    []
    >>> claim("/tmp/runs/feature_maps", ["feature_maps/conv1", "feature_maps/conv2"], second)
    ['feature_maps/conv1']
    >>> release("/tmp/runs/feature_maps", first); release("/tmp/runs/feature_maps", second)
"""

from __future__ import annotations

import logging
import os
import weakref

from fmlogger._paths import is_remote

log = logging.getLogger("fmlogger")

_CLAIMS: dict[str, "weakref.WeakKeyDictionary"] = {}


def _key(run_dir: str) -> str:
    return run_dir if is_remote(run_dir) else os.path.realpath(run_dir)


def claim(run_dir: str, run_tags, owner) -> list[str]:
    """Records that ``owner`` writes ``run_tags`` into ``run_dir``; returns (and warns about) the
    tags another live owner already writes there."""
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
