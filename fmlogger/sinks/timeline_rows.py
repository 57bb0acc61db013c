"""The rows every timeline keeps, saved beside the run state so a resumed run continues them.

The rows file ``fmlogger_timelines.npz`` (``tags.TIMELINES_FILE``) is a numpy ``.npz`` without
pickles: ``format_version``, ``layers`` (the layer paths, as data, never as names inside the
archive) and per layer ``i``: ``<i>/steps``, ``<i>/indices`` (logged-step counters of the kept
rows), ``<i>/channels`` (colour channels of each row), ``<i>/tiles`` (uint8
``[rows, columns, th, tw, c]``) and ``<i>/meta`` (``[stride, count]``). It is rewritten
(atomically) after every logged step by ``fmlogger.sinks.state.RunRecord``.

Example:
    >>> import numpy as np
    >>> rows = {"conv1": TimelineRows([0, 5], [0, 1], [np.zeros((2, 4, 4, 1), np.uint8)] * 2, 1, 2)}
    >>> unpack_rows(pack_rows(rows))["conv1"].steps
    [0, 5]
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os

import numpy as np

from fmlogger import tags
from fmlogger._paths import join, read_bytes, stamp, write_atomic

log = logging.getLogger("fmlogger")

"""The timelines' rows, beside ``tags.STATE_FILE`` in the run folder."""
_ROWS_VERSION = 1


def rows_path(run_dir: str) -> str:
    return join(os.fspath(run_dir), tags.TIMELINES_FILE)


@dataclasses.dataclass
class TimelineRows:
    """The kept rows of one timeline: their steps, logged-step counters and tiles.

    Attributes:
        steps: the step of each row, oldest first.
        indices: the logged-step counter of each row (``fmlogger.render.timeline.Timeline``).
        tiles: per row, uint8 ``[columns, th, tw, c]`` (c may differ between rows: 1 or 3).
        stride, count: the timeline's subsampling stride and logged-step counter.
    """

    steps: list[int]
    indices: list[int]
    tiles: list[np.ndarray]
    stride: int
    count: int


def pack_rows(rows: dict[str, TimelineRows]) -> bytes:
    """The ``.npz`` bytes of ``rows`` (layout in the module doc)."""
    arrays = {"format_version": np.array(_ROWS_VERSION), "layers": np.array(list(rows), dtype=str)}
    for i, r in enumerate(rows.values()):
        channels = np.array([t.shape[-1] for t in r.tiles], np.int64)
        shape = r.tiles[0].shape[:3] + (int(channels.max()),)
        same = all(t.shape == shape for t in r.tiles)  # else grey rows beside RGB ones: stored as RGB
        arrays[f"{i}/tiles"] = np.stack(r.tiles if same else [np.broadcast_to(t, shape) for t in r.tiles])
        arrays[f"{i}/steps"] = np.array(r.steps, np.int64)
        arrays[f"{i}/indices"] = np.array(r.indices, np.int64)
        arrays[f"{i}/channels"] = channels
        arrays[f"{i}/meta"] = np.array([r.stride, r.count], np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_rows(data: bytes, *, skip=()) -> dict[str, TimelineRows]:
    """Reads what ``pack_rows`` wrote (layers in ``skip`` are not decoded).

    Raises:
        ValueError: for anything but a rows file of a known version with consistent shapes.
    """
    if not data.startswith(b"PK\x03\x04"):
        raise ValueError("not an .npz (zip) archive")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if int(npz["format_version"]) != _ROWS_VERSION:
                raise ValueError(f"unknown format_version {npz['format_version']!r}")
            names = [str(name) for name in npz["layers"].tolist()]
            return {name: _unpack_layer(npz, i) for i, name in enumerate(names) if name not in skip}
    except ValueError:
        raise
    except Exception as err:  # a damaged archive fails in many ways (zip, npy header, CRC)
        raise ValueError(f"{type(err).__name__}: {err}") from err


def _unpack_layer(npz, i: int) -> TimelineRows:
    tiles, steps, indices = npz[f"{i}/tiles"], npz[f"{i}/steps"], npz[f"{i}/indices"]
    channels, (stride, count) = npz[f"{i}/channels"], npz[f"{i}/meta"].tolist()
    rows = len(steps)
    ok = (
        tiles.dtype == np.uint8
        and tiles.ndim == 5
        and 0 < rows == len(tiles) == len(indices) == len(channels)
        and np.all(np.diff(indices) > 0)
        and indices[0] >= 0
        and count > indices[-1]
        and stride >= 1
        and np.all((channels >= 1) & (channels <= tiles.shape[-1]))
    )
    if not ok:
        raise ValueError(f"inconsistent rows of layer {i}")
    return TimelineRows(
        steps.tolist(),
        indices.tolist(),
        [t[..., :c] for t, c in zip(tiles, channels.tolist())],
        stride,
        count,
    )


def load_rows(
    run_dir: str, *, skip=(), expected: bool = True, warn: bool = True
) -> dict[str, TimelineRows]:
    """The saved timeline rows of a run folder (``{}`` when there are none).

    A file that cannot be read is warned about (naming it) unless not ``warn``; so is a missing
    one when ``expected`` (the state file lists timelines). Either way the timelines start afresh.
    """
    path = rows_path(run_dir)
    try:
        data = read_bytes(path)
        if data is None:
            if expected:
                log.warning("fmlogger: %s is missing; the timelines start afresh.", path)
            return {}
        return unpack_rows(data, skip=skip)
    except Exception as err:  # noqa: BLE001 - whatever is wrong with the file, start afresh
        if warn:
            log.warning("fmlogger: cannot read %s (%s); the timelines start afresh.", path, err)
        return {}


class RowsFile:
    """The rows file of one run folder as one logger writes it, keeping other loggers' layers.

    ``save`` merges the given layers into what is on disk; the other layers are read back only
    when the file changed since this object last wrote it (another logger shares the folder).

    Args:
        run_dir: the run folder.
    """

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self._others: dict[str, TimelineRows] = {}
        self._stamp: tuple[int, int] | None = None

    def save(self, rows: dict[str, TimelineRows]) -> None:
        """Writes ``rows`` and the other loggers' layers; skipped once when the file this object
        wrote has disappeared (the run folder is being removed; the next step writes it again)."""
        path = rows_path(self.run_dir)
        current = stamp(path)
        if current is None or current != self._stamp:
            self._others = load_rows(self.run_dir, skip=set(rows), expected=False, warn=False)
        others = {name: r for name, r in self._others.items() if name not in rows}
        data = pack_rows({**others, **rows})
        if self._stamp is not None and stamp(path) is None:
            self._stamp = None
            return
        write_atomic(path, data)
        self._stamp = stamp(path)
