"""Streaming event-file reading without TensorFlow, for the CLI (board, compare, export).

``fmlogger.runs.read.read_run`` loads a whole run through TensorBoard's accumulator; the CLI only
needs image summaries of some tags, or just their steps, so it streams the TFRecord files and
parses each record with TensorBoard's own ``Event`` proto (no TensorFlow import).

Example:
    >>> for tag, step, pngs in iter_images("runs/exp1/feature_maps"):   # doctest: +SKIP
    ...     print(tag, step, len(pngs))
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator

import numpy as np

from fmlogger import tags


def event_files(run_dir: str) -> list[str]:
    """The event files directly in ``run_dir``, oldest first (their names start with a timestamp)."""
    if not os.path.isdir(run_dir):
        return []
    names = [n for n in os.listdir(run_dir) if "tfevents" in n and os.path.isfile(os.path.join(run_dir, n))]
    return [os.path.join(run_dir, n) for n in sorted(names)]


def _records(path: str) -> Iterator[bytes]:
    """TFRecord payloads (length, crc, data, crc); stops quietly at a truncated last record."""
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield data


def iter_values(run_dir: str, *, plugin: str | None = None, wanted=None) -> Iterator[tuple[str, int, object]]:
    """``(tag, step, summary value)`` of every tensor summary in ``run_dir``, in file order.

    Args:
        plugin: only tags whose metadata names this plugin (e.g. ``"images"``).
        wanted: a predicate on the tag; other tags are skipped before their tensors are parsed.
    """
    from tensorboard.compat.proto import event_pb2

    plugins: dict[str, str] = {}
    for path in event_files(run_dir):
        for record in _records(path):
            event = event_pb2.Event.FromString(record)
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                    plugins[value.tag] = value.metadata.plugin_data.plugin_name
                if plugin is not None and plugins.get(value.tag) != plugin:
                    continue
                if wanted is not None and not wanted(value.tag):
                    continue
                yield value.tag, int(event.step), value


def iter_images(run_dir: str, *, wanted=None) -> Iterator[tuple[str, int, tuple]]:
    """``(tag, step, png bytes per sample)`` of every image summary in ``run_dir``."""
    for tag, step, value in iter_values(run_dir, plugin="images", wanted=wanted):
        if value.HasField("tensor"):
            blobs = list(value.tensor.string_val)
            yield tag, step, tuple(blobs[2:])


def images_by_step(run_dir: str, tag: str) -> dict[int, tuple]:
    """``{step: png bytes per sample}`` of one image tag (a step written twice: the last one wins)."""
    return {step: pngs for _, step, pngs in iter_images(run_dir, wanted=lambda t: t == tag)}


def image_tags(run_dir: str) -> dict[str, dict[int, tuple]]:
    """``{tag: {step: png bytes per sample}}`` for every image tag of a run."""
    out: dict[str, dict[int, tuple]] = {}
    for tag, step, pngs in iter_images(run_dir):
        out.setdefault(tag, {})[step] = pngs
    return out


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 ``[h, w, c]``: with Pillow when installed, else TensorFlow's decoder."""
    try:
        from PIL import Image
    except ImportError:
        from fmlogger.runs.read import decode_png as tf_decode

        return tf_decode(data)
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image)
    return array[:, :, None] if array.ndim == 2 else array


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


# provisional: replaced by the reader branch (the checked reader). Only the API the dashboard
# codes against: iter_records / read_record / DamagedEventFile. This stand-in checks the length
# header's CRC, not the payload's.
class DamagedEventFile(ValueError):
    """An event file whose record at ``offset`` cannot be read (``reason`` says why)."""

    def __init__(self, path: str, offset: int, reason: str):
        super().__init__(f"{path}: damaged record at byte {offset}: {reason}")
        self.path, self.offset, self.reason = path, offset, reason


def _header(f, path: str, offset: int) -> int | None:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    header = f.read(12)
    if len(header) < 12:
        return None
    (length,) = struct.unpack("<Q", header[:8])
    if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
        raise DamagedEventFile(path, offset, "length CRC mismatch")
    return length


def iter_records(path: str, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset of the record's header, payload)`` from byte ``start`` on; stops quietly at a
    truncated last record."""
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        while True:
            length = _header(f, path, offset)
            if length is None:
                return
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield offset, data
            offset += 16 + length


def read_record(path: str, offset: int) -> bytes:
    """The payload of the record whose header starts at ``offset``."""
    with open(path, "rb") as f:
        f.seek(offset)
        length = _header(f, path, offset)
        data = f.read(length or 0)
        if length is None or len(data) < length:
            raise DamagedEventFile(path, offset, "truncated record")
        return data
