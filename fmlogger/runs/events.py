"""The one event-file reader of fmlogger's read side: checked TFRecords, no TensorFlow.

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked CRC-32C of the
length``, ``length`` payload bytes (a serialized ``Event`` proto), ``uint32 masked CRC-32C of the
payload`` (little-endian). ``iter_records`` checks both CRCs of every record and never allocates
more than the file holds, up to ``MAX_RECORD_BYTES``; a payload over 4 MiB is checked piece by
piece before it is read whole, so a forged length (a 20 GB sparse file) costs 4 MiB, not 256.
A damaged record raises ``DamagedEventFile``; a record cut off at the end of the file (a writer
still writing, or killed mid-write) ends the iteration quietly. The readers above it
(``iter_summaries`` and everything built on it) report a damaged file once with
``logging.warning`` and go on with the other files, keeping what the damaged file held before the
damage.

Example:
    >>> for tag, step, pngs in iter_images("runs/exp1/feature_maps"):   # doctest: +SKIP
    ...     print(tag, step, len(pngs))
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

from fmlogger import tags
from fmlogger._crc32c import masked_crc32c, masked_crc32c_chunks
from fmlogger.runs.png_decode import decode_png

__all__ = [
    "MAX_RECORD_BYTES",
    "DamagedEventFile",
    "Summary",
    "decode_png",
    "event_files",
    "image_tags",
    "images_at",
    "images_by_step",
    "iter_images",
    "iter_records",
    "iter_summaries",
    "iter_values",
    "read_record",
    "resolve_run",
    "steps_with_images",
    "summary_pngs",
]

MAX_RECORD_BYTES = 1 << 28
"""Largest record read (256 MiB). A length header above it is damage, whatever the file size."""

_STREAMED = 4 << 20
"""Payloads longer than this (4 MiB) have their CRC checked piece by piece before they are read."""
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_log = logging.getLogger(__name__)


class DamagedEventFile(ValueError):
    """An event file record that fails its checks.

    Attributes:
        path: the event file.
        offset: byte offset of the damaged record's 12-byte header.
        reason: what is wrong, in words.
    """

    def __init__(self, path: str, offset: int, reason: str):
        super().__init__(f"damaged event file {path} at byte {offset}: {reason}")
        self.path, self.offset, self.reason = path, offset, reason


def _read_at(f, path: str, offset: int) -> bytes | None:
    """The checked payload of the record whose header is at ``offset`` (``f`` positioned there).

    Returns None when the file ends inside the record (a record still being written)."""
    header = f.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    length, stored = _HEADER.unpack(header)
    if masked_crc32c(header[:8]) != stored:
        raise DamagedEventFile(
            path, offset, f"the length header's CRC does not match (length field {length})"
        )
    if length > MAX_RECORD_BYTES:
        raise DamagedEventFile(
            path, offset, f"record length {length:,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit"
        )
    if offset + _HEADER.size + length + _FOOTER.size > os.fstat(f.fileno()).st_size:
        return None  # checked before reading: never allocates more than the file holds
    if length > _STREAMED:
        _check_streamed(f, path, offset, length)
    payload = f.read(length)
    footer = f.read(_FOOTER.size)
    if len(payload) < length or len(footer) < _FOOTER.size:
        return None  # the file shrank while reading
    if masked_crc32c(payload) != _FOOTER.unpack(footer)[0]:
        raise DamagedEventFile(path, offset, f"the payload's CRC does not match ({length} bytes)")
    return payload


def _pieces(f, length: int) -> Iterator[bytes]:
    while length > 0 and (piece := f.read(min(length, _STREAMED))):
        length -= len(piece)
        yield piece


def _check_streamed(f, path: str, offset: int, length: int) -> None:
    """Checks a large payload's CRC piece by piece before it is read whole (a forged length in a
    big or sparse file then costs one piece of memory); leaves ``f`` at the payload's start."""
    start = f.tell()
    f.seek(start + length)
    footer = f.read(_FOOTER.size)
    f.seek(start)
    if len(footer) == _FOOTER.size and masked_crc32c_chunks(_pieces(f, length)) != _FOOTER.unpack(footer)[0]:
        raise DamagedEventFile(path, offset, f"the payload's CRC does not match ({length} bytes)")
    f.seek(start)


def iter_records(path: str, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset of the record's 12-byte header, payload)`` of every TFRecord in ``path``, checked.

    Args:
        path: an event file.
        start: byte offset of the first record to read (an offset yielded earlier, e.g. to
            continue reading a file that grows).

    Yields:
        ``(offset, payload bytes)`` in file order.

    Raises:
        DamagedEventFile: a CRC mismatch, or a length over ``MAX_RECORD_BYTES`` (raised before
            that many bytes are read). The records before it have been yielded.

    A record cut off by the end of the file ends the iteration without an error: fewer than 12
    header bytes, or a header whose CRC matches but whose record runs past the end (a writer
    still writing, or killed mid-write). Such a length is compared with the file size before
    anything is read, so a forged one allocates nothing; a length whose CRC fails is damage.

    Example:
        >>> [offset for offset, _ in iter_records(path)]   # doctest: +SKIP
        [0, 36, 1187]
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        offset = f.seek(start)
        while (payload := _read_at(f, path, offset)) is not None:
            yield offset, payload
            offset += _HEADER.size + len(payload) + _FOOTER.size


def read_record(path: str, offset: int) -> bytes:
    """The checked payload of the one record whose header is at ``offset`` (random access).

    Raises:
        DamagedEventFile: the record fails a check or runs past the end of the file.

    Example:
        >>> offset, payload = next(iter_records(path))    # doctest: +SKIP
        >>> read_record(path, offset) == payload          # doctest: +SKIP
        True
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        f.seek(offset)
        payload = _read_at(f, path, offset)
    if payload is None:
        raise DamagedEventFile(path, offset, "the record runs past the end of the file")
    return payload


def event_files(run_dir: str) -> list[str]:
    """The event files directly in ``run_dir``, oldest first (their names start with a timestamp)."""
    if not os.path.isdir(run_dir):
        return []
    names = [n for n in os.listdir(run_dir) if "tfevents" in n and os.path.isfile(os.path.join(run_dir, n))]
    return [os.path.join(run_dir, n) for n in sorted(names)]


def _parse(path: str, offset: int, payload: bytes):
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2

    try:
        return event_pb2.Event.FromString(payload)
    except DecodeError as err:
        raise DamagedEventFile(path, offset, f"the record is not an Event proto ({err})") from None


def _events(path: str, damaged: list | None) -> Iterator[tuple[int, object]]:
    """``(offset, Event)`` of one file; damage is logged once and ends this file only."""
    try:
        for offset, payload in iter_records(path):
            yield offset, _parse(path, offset, payload)
    except DamagedEventFile as err:
        _log.warning("%s; the records after it are skipped, the other event files are still read", err)
        if damaged is not None:
            damaged.append(err)


class Summary(NamedTuple):
    """One summary value and where it is: ``read_record(path, offset)`` holds its event."""

    tag: str
    step: int
    value: object
    """``summary_pb2.Summary.Value``, legacy images/scalars migrated to tensors like TensorBoard does."""
    metadata: object
    """The tag's first ``SummaryMetadata`` in the run (later events may omit it)."""
    path: str
    offset: int


def iter_summaries(
    run_dir: str,
    *,
    plugin: str | None = None,
    wanted: Callable[[str], bool] | None = None,
    damaged: list | None = None,
) -> Iterator[Summary]:
    """Every summary value in the event files of ``run_dir``, in file order, each file checked.

    Args:
        run_dir: a run folder (event files directly in it).
        plugin: only tags whose metadata names this plugin (``"images"``, ``"scalars"``, ...).
        wanted: a predicate on the tag; other tags are skipped.
        damaged: a list that gets the ``DamagedEventFile`` of each damaged file (each is also
            logged once); the values before the damage and the other files are still read.

    Example:
        >>> {s.tag for s in iter_summaries("runs/a/feature_maps", plugin="scalars")}  # doctest: +SKIP
        {'feature_map_stats/conv1/mean', ...}
    """
    from tensorboard import data_compat

    first: dict = {}
    for path in event_files(run_dir):
        for offset, event in _events(path, damaged):
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                value = data_compat.migrate_value(value)
                if value.HasField("metadata"):
                    first.setdefault(value.tag, value.metadata)
                metadata = first.get(value.tag)
                if plugin is not None and (metadata is None or metadata.plugin_data.plugin_name != plugin):
                    continue
                if wanted is not None and not wanted(value.tag):
                    continue
                yield Summary(value.tag, int(event.step), value, metadata, path, offset)


def iter_values(
    run_dir: str, *, plugin: str | None = None, wanted: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, int, object]]:
    """``(tag, step, summary value)`` of every summary in ``run_dir`` (see ``iter_summaries``)."""
    for summary in iter_summaries(run_dir, plugin=plugin, wanted=wanted):
        yield summary.tag, summary.step, summary.value


def summary_pngs(value) -> tuple:
    """The PNG bytes of an image summary value: its tensor is ``[width, height, png, png, ...]``."""
    return tuple(value.tensor.string_val[2:])


def iter_images(
    run_dir: str, *, wanted: Callable[[str], bool] | None = None, damaged: list | None = None
) -> Iterator[tuple[str, int, tuple]]:
    """``(tag, step, png bytes per sample)`` of every image summary in ``run_dir``."""
    for s in iter_summaries(run_dir, plugin="images", wanted=wanted, damaged=damaged):
        if s.value.HasField("tensor"):
            yield s.tag, s.step, summary_pngs(s.value)


def images_at(path: str, offset: int, tag: str) -> tuple:
    """The PNG bytes of image tag ``tag`` in the event at ``offset`` of ``path`` (a ``Summary``'s place).

    Raises:
        DamagedEventFile: the record fails its checks or holds no image summary ``tag``.
    """
    from tensorboard import data_compat

    event = _parse(path, offset, read_record(path, offset))
    for value in event.summary.value:
        value = data_compat.migrate_value(value)
        if value.tag == tag and value.HasField("tensor"):
            return summary_pngs(value)
    raise DamagedEventFile(path, offset, f"the event holds no image summary {tag!r}")


def steps_with_images(run_dir: str, prefix: str) -> set[int]:
    """The steps at which ``run_dir`` holds an image summary whose tag starts with ``prefix``.

    What a resumed run finds already written (a step is one event: all its images or none); a
    record cut off by a kill does not count, and a damaged file counts up to the damage.

    Example:
        >>> steps_with_images("runs/exp1/feature_maps", "feature_maps/")   # doctest: +SKIP
        {0, 1, 2}
    """
    return {s.step for s in iter_summaries(run_dir, plugin="images", wanted=lambda t: t.startswith(prefix))}


def images_by_step(run_dir: str, tag: str) -> dict[int, tuple]:
    """``{step: png bytes per sample}`` of one image tag (a step written twice: the last one wins)."""
    return {step: pngs for _, step, pngs in iter_images(run_dir, wanted=lambda t: t == tag)}


def image_tags(run_dir: str) -> dict[str, dict[int, tuple]]:
    """``{tag: {step: png bytes per sample}}`` for every image tag of a run (all in memory)."""
    out: dict[str, dict[int, tuple]] = {}
    for tag, step, pngs in iter_images(run_dir):
        out.setdefault(tag, {})[step] = pngs
    return out


def resolve_run(path: str) -> str:
    """The fmlogger run folder for ``path``: the folder itself if it holds fmlogger's state or
    event files, else ``<path>/feature_maps``.

    Raises:
        FileNotFoundError: naming the folders looked at.
    """
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, tags.STATE_FILE)):
        return path
    sub = os.path.join(path, tags.RUN_SUBDIR)
    if event_files(sub):
        return sub
    if event_files(path):
        return path
    raise FileNotFoundError(
        f"no fmlogger run in {path!r}: neither it nor {sub!r} holds event files. Pass the log_dir "
        "given to FeatureMapCallback/FeatureMapLogger, or its run folder."
    )
