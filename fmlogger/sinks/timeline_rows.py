"""The rows every timeline keeps, saved beside the run state so a resumed run continues them.

The rows file ``fmlogger_timelines.rows`` (``tags.TIMELINES_FILE``) is a journal that grows by
one record per layer and logged step, so a step appends its new rows instead of rewriting every
kept one. It starts with ``MAGIC``; each record is::

    <u32 header length> <u32 tiles length> <header: JSON> <tiles: uint8 bytes> <u32 CRC-32>

(little-endian; the CRC covers header and tiles). The header holds ``layer`` (the layer path, as
data, never as a name on disk), the row's ``step`` and ``index`` (logged-step counter), the tiles'
``shape`` ``[columns, th, tw, c]``, and the timeline's ``kept`` indices, ``stride`` and ``count``
after that row was added: rows not in ``kept`` are dropped. Reading replays the records in order.
Each append is one ``write`` of whole records. A file that ends inside a record (an append cut
short by a kill) gives the rows of the records before it, with a warning; a record that fails its
CRC makes the file unreadable (reported, the timelines start afresh), as a damaged ``.npz`` did.
The file is rewritten whole (atomically: a temporary file, then a rename) at a writer's first
save, on remote folders (no appends there), and when dropped rows make up more than half of it.
The rows file of fmlogger 0.1, ``fmlogger_timelines.npz`` (``tags.TIMELINES_FILE_V1``, format
version 1: ``layers`` and per layer ``<i>/steps``, ``<i>/indices``, ``<i>/channels``,
``<i>/tiles``, ``<i>/meta``), is still read when no journal exists, and removed at the first save.

Example:
    >>> import numpy as np
    >>> rows = {"conv1": TimelineRows([0, 5], [0, 1], [np.zeros((2, 4, 4, 1), np.uint8)] * 2, 1, 2)}
    >>> unpack_rows(pack_rows(rows))["conv1"].steps
    [0, 5]
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import struct
import zlib

import numpy as np

from fmlogger import tags
from fmlogger._paths import is_remote, join, read_bytes, remove, stamp, write_atomic

log = logging.getLogger("fmlogger")

MAGIC = b"fmlogger timeline rows 2\n"
"""The first bytes of a rows file (format version 2)."""
_NPZ_VERSION = 1
_FRAME = struct.Struct("<II")
_CRC = struct.Struct("<I")
_SLACK = 1 << 16  # bytes of dropped rows tolerated before a rewrite, beyond the kept rows' own


def rows_path(run_dir: str) -> str:
    return join(os.fspath(run_dir), tags.TIMELINES_FILE)


def _npz_path(run_dir: str) -> str:
    return join(os.fspath(run_dir), tags.TIMELINES_FILE_V1)


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


def _record(layer: str, rows: TimelineRows, i: int) -> bytes:
    """The record of row ``i`` of ``rows``; its ``kept`` are the rows up to it (``indices`` ascend)."""
    tiles = np.ascontiguousarray(rows.tiles[i], dtype=np.uint8)
    head = json.dumps({
        "layer": layer, "step": int(rows.steps[i]), "index": int(rows.indices[i]),
        "kept": [int(k) for k in rows.indices[: i + 1]], "stride": int(rows.stride),
        "count": int(rows.count), "shape": [int(d) for d in tiles.shape],
    }).encode("utf-8")
    body = tiles.tobytes()
    return _FRAME.pack(len(head), len(body)) + head + body + _CRC.pack(zlib.crc32(body, zlib.crc32(head)))


def _records(rows: dict[str, TimelineRows], written: dict[str, dict[int, np.ndarray]]) -> bytes:
    """The records of every row not in ``written`` (``{layer: {index: the tiles written}}``)."""
    return b"".join(
        _record(name, r, i)
        for name, r in rows.items()
        for i, (index, tiles) in enumerate(zip(r.indices, r.tiles))
        if written.get(name, {}).get(index) is not tiles
    )


def pack_rows(rows: dict[str, TimelineRows]) -> bytes:
    """A whole rows file holding ``rows`` (layout in the module doc)."""
    return MAGIC + _records(rows, {})


def _checked(layer, steps, indices, tiles, stride, count) -> TimelineRows:
    ok = (
        0 < len(steps) == len(indices) == len(tiles)
        and all(t.dtype == np.uint8 and t.ndim == 4 and t.shape[-1] >= 1 for t in tiles)
        and len({t.shape[:3] for t in tiles}) == 1
        and indices[0] >= 0
        and np.all(np.diff(indices) > 0)
        and count > indices[-1]
        and stride >= 1
    )
    if not ok:
        raise ValueError(f"inconsistent rows of layer {layer}")
    return TimelineRows(
        [int(s) for s in steps], [int(i) for i in indices], list(tiles), int(stride), int(count)
    )


def _unpack_journal(data: bytes, skip) -> tuple[dict[str, TimelineRows], int | None]:
    """The rows, and the byte at which the file ends inside a record (an append cut short), if so."""
    rows: dict[str, dict[int, tuple[int, np.ndarray]]] = {}
    meta: dict[str, tuple[int, int]] = {}
    pos, view, torn = len(MAGIC), memoryview(data), None
    while pos < len(data):
        head_len, body_len = _FRAME.unpack_from(data, pos) if pos + _FRAME.size <= len(data) else (0, 0)
        start = pos + _FRAME.size
        end = start + head_len + body_len
        if end + _CRC.size > len(data):
            torn = pos
            break
        if zlib.crc32(view[start:end]) != _CRC.unpack_from(data, end)[0]:
            raise ValueError(f"the record at byte {pos} fails its CRC")
        head = json.loads(bytes(view[start : start + head_len]).decode("utf-8"))
        pos = end + _CRC.size
        name = head["layer"]
        if not isinstance(name, str):
            raise ValueError(f"the record at byte {pos} names no layer")
        if name in skip:
            continue
        shape = tuple(int(d) for d in head["shape"])
        tiles = np.frombuffer(data, np.uint8, body_len, start + head_len).reshape(shape).copy()
        kept = rows.setdefault(name, {})
        kept[int(head["index"])] = (int(head["step"]), tiles)
        if any(int(k) not in kept for k in head["kept"]):
            raise ValueError(f"the record at byte {pos} keeps rows of layer {name!r} never written")
        rows[name] = {int(k): kept[int(k)] for k in head["kept"]}
        meta[name] = (int(head["stride"]), int(head["count"]))
    out = {}
    for name, kept in rows.items():
        order = sorted(kept)
        steps, tiles = [kept[i][0] for i in order], [kept[i][1] for i in order]
        out[name] = _checked(repr(name), steps, order, tiles, *meta[name])
    return out, torn


def _unpack_npz(data: bytes, skip) -> dict[str, TimelineRows]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        if int(npz["format_version"]) != _NPZ_VERSION:
            raise ValueError(f"unknown format_version {npz['format_version']!r}")
        names = [str(name) for name in npz["layers"].tolist()]
        out = {}
        for i, name in enumerate(names):
            if name in skip:
                continue
            tiles, channels = npz[f"{i}/tiles"], npz[f"{i}/channels"]
            if tiles.ndim != 5 or len(channels) != len(tiles) or not np.all(
                (channels >= 1) & (channels <= tiles.shape[-1])
            ):
                raise ValueError(f"inconsistent rows of layer {i}")
            stride, count = npz[f"{i}/meta"].tolist()
            rows = [t[..., :c] for t, c in zip(tiles, channels.tolist())]
            out[name] = _checked(i, npz[f"{i}/steps"], npz[f"{i}/indices"], rows, stride, count)
        return out


def unpack_rows(data: bytes, *, skip=()) -> dict[str, TimelineRows]:
    """Reads a rows file: the journal ``pack_rows`` and appends write, or fmlogger 0.1's ``.npz``
    (layers in ``skip`` are not decoded). A journal that ends inside a record gives the rows of
    the records before it.

    Raises:
        ValueError: for anything but a rows file of a known version with consistent records.
    """
    return _unpack(data, skip)[0]


def _unpack(data: bytes, skip) -> tuple[dict[str, TimelineRows], int | None]:
    try:
        if data.startswith(MAGIC):
            return _unpack_journal(data, skip)
        if data.startswith(b"PK\x03\x04"):
            return _unpack_npz(data, skip), None
    except ValueError:
        raise
    except Exception as err:  # a damaged file fails in many ways (JSON, shapes, zip, npy header)
        raise ValueError(f"{type(err).__name__}: {err}") from err
    raise ValueError("not a timeline rows file")


def load_rows(
    run_dir: str, *, skip=(), expected: bool = True, warn: bool = True
) -> dict[str, TimelineRows]:
    """The saved timeline rows of a run folder (``{}`` when there are none).

    Reads ``tags.TIMELINES_FILE``, or ``tags.TIMELINES_FILE_V1`` where only that exists. A file
    that cannot be read is warned about (naming it) unless not ``warn``; so is a missing one when
    ``expected`` (the state file lists timelines). Either way the timelines start afresh. A
    journal that ends inside a record (an append cut short by a kill) is warned about too, and
    the rows before that record are kept.
    """
    path = rows_path(run_dir)
    try:
        data = read_bytes(path)
        if data is None:
            path = _npz_path(run_dir)
            data = read_bytes(path)
        if data is None:
            if expected:
                log.warning("fmlogger: %s is missing; the timelines start afresh.", rows_path(run_dir))
            return {}
        rows, torn = _unpack(data, skip)
        if torn is not None and warn:
            log.warning(
                "fmlogger: %s ends inside a record at byte %d (a write cut short); the timelines "
                "go on from the rows before it.", path, torn,
            )
        return rows
    except Exception as err:  # noqa: BLE001 - whatever is wrong with the file, start afresh
        if warn:
            log.warning("fmlogger: cannot read %s (%s); the timelines start afresh.", path, err)
        return {}


class RowsFile:
    """The rows file of one run folder as one logger writes it, keeping other loggers' layers.

    ``save`` appends the records of the rows not written yet (a row is known by its tiles array:
    ``Timeline`` keeps each row's array, and a restarted timeline makes new ones). The file is
    rewritten whole at the first save, on remote folders, and when more than half of it is rows
    dropped since; the other loggers' layers are then read back from it if it changed since this
    object wrote it.

    Args:
        run_dir: the run folder.
    """

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self._stamp: tuple[int, int] | None = None
        self._written: dict[str, dict[int, np.ndarray]] = {}  # per layer, index -> tiles saved
        self._others: dict[str, TimelineRows] = {}  # the other loggers' layers, as last read

    def save(self, rows: dict[str, TimelineRows]) -> None:
        """Writes ``rows`` (every kept row of the layers given); skipped once when the file this
        object wrote has disappeared (the run folder is being removed; the next step writes it again)."""
        path = rows_path(self.run_dir)
        current = stamp(path)
        if self._stamp is not None and current is None:
            self._stamp, self._written = None, {}
            return
        others = {name: r for name, r in self._others.items() if name not in rows}
        live = sum(t.nbytes for r in (*others.values(), *rows.values()) for t in r.tiles)
        append = self._stamp is not None and not is_remote(path) and current[1] <= 2 * live + _SLACK
        unchanged = current is not None and current == self._stamp
        self._stamp = None  # a write that fails part-way is followed by a whole rewrite
        if append:
            with open(path, "ab") as f:
                f.write(_records(rows, self._written))
        else:
            if not unchanged:  # another writer (or none yet): read its layers back
                self._others = others = load_rows(self.run_dir, skip=set(rows), expected=False, warn=False)
            write_atomic(path, pack_rows({**others, **rows}))
            if not self._written:  # the first save: fmlogger 0.1's file is replaced by this one
                remove(_npz_path(self.run_dir))
        self._written.update({name: dict(zip(r.indices, r.tiles)) for name, r in rows.items()})
        self._stamp = stamp(path)
