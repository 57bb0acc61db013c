"""One run folder's event files, indexed by record offset and re-scanned incrementally.

The index keeps, per image tag and step, only where the record lies (event file, byte offset),
plus the tag's sample count, size and description, and the values of the scalar tags asked for.
Image bytes stay on disk until a browser asks for one image: ``RunIndex.image`` reads that one
record back (a small cache keeps the last records parsed, since one record holds every layer of a
step). ``update`` reads only what was appended since the last call, so new steps appear while
training goes on; a damaged file is reported in ``problems`` and not read past the damage.

Example:
    >>> index = RunIndex("runs/exp1/feature_maps", image_prefixes=("feature_maps/",))  # doctest: +SKIP
    >>> index.update()                                                                # doctest: +SKIP
    True
    >>> png = index.image("feature_maps/conv1", step=0, sample=0)                      # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading

from google.protobuf.message import DecodeError

from fmlogger.runs.events import DamagedEventFile, event_files, iter_records, read_record

RECORD_OVERHEAD = 16
"""Bytes of a TFRecord around its payload: length (8), length CRC (4), payload CRC (4)."""


@dataclasses.dataclass
class ImageTag:
    """Where the steps of one image tag are on disk.

    Attributes:
        steps: ``{step: (file number, record offset, serial)}``; the serial grows with every record
            indexed, so a step written again (a resumed run) gets a new one (browsers cache by it).
        samples: images per step (probe samples) in the newest record.
        width, height: the size of those images, in pixels.
        description: the summary's description (channels shown, normalization), newest seen; the
            description of one step is read back from its record (``RunIndex.description``).
    """

    steps: dict = dataclasses.field(default_factory=dict)
    samples: int = 0
    width: int = 0
    height: int = 0
    description: str = ""

    def listing(self) -> dict:
        steps = sorted(self.steps)
        return {
            "steps": steps,
            "versions": [self.steps[s][2] for s in steps],
            "samples": self.samples,
            "width": self.width,
            "height": self.height,
            "description": self.description,
        }


class RecordCache:
    """The last parsed ``Event`` records, at most ``max_bytes`` of payload in all (least recent out)."""

    def __init__(self, max_bytes: int = 32 << 20):
        self.max_bytes = max_bytes
        self._events: collections.OrderedDict = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def event(self, path: str, offset: int):
        from tensorboard.compat.proto import event_pb2

        key = (path, offset)
        with self._lock:
            if key in self._events:
                self._events.move_to_end(key)
                return self._events[key][0]
        payload = read_record(path, offset)
        event = event_pb2.Event.FromString(payload)
        with self._lock:
            if key not in self._events and len(payload) <= self.max_bytes:
                self._events[key] = (event, len(payload))
                self._bytes += len(payload)
                while self._bytes > self.max_bytes:
                    _, (_, size) = self._events.popitem(last=False)
                    self._bytes -= size
        return event


def _scalar(value) -> float | None:
    from tensorboard.util import tensor_util

    if value.HasField("tensor"):
        array = tensor_util.make_ndarray(value.tensor)
        return float(array.reshape(-1)[0]) if array.size == 1 and array.dtype.kind in "fiub" else None
    return float(value.simple_value) if value.WhichOneof("value") == "simple_value" else None


def inside(path: str, root: str) -> bool:
    """Whether ``path``, with every link resolved, lies in the folder ``root`` (already resolved)."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class RunIndex:
    """The offset index of one run folder (see the module docstring).

    Args:
        run_dir: the run folder.
        root: the resolved log folder; event files that resolve outside it are never read.
        image_prefixes: image tags to index (others are skipped).
        scalar_prefixes: scalar tags whose values to keep.
        cache: the record cache shared by the runs of one dashboard.
    """

    def __init__(
        self,
        run_dir: str,
        *,
        root: str,
        image_prefixes: tuple = (),
        scalar_prefixes: tuple = (),
        cache: RecordCache | None = None,
    ):
        self.run_dir = run_dir
        self.root = root
        self.image_prefixes = tuple(image_prefixes)
        self.scalar_prefixes = tuple(scalar_prefixes)
        self.cache = cache or RecordCache()
        self.images: dict[str, ImageTag] = {}
        self.scalars: dict[str, dict[int, float]] = {}
        self.problems: list[str] = []
        self._files: list[str] = []
        self._numbers: dict[str, int] = {}
        self._next: dict[str, int] = {}
        self._stopped: set[str] = set()
        self._plugins: dict[str, str] = {}
        self._serial = 0
        self._lock = threading.RLock()
        self._scan_lock = threading.Lock()

    def update(self) -> bool:
        """Indexes the records appended since the last call (new files too); True if any."""
        changed = False
        with self._scan_lock:
            for path in event_files(self.run_dir):
                if path in self._stopped:
                    continue
                if not inside(path, self.root):
                    self._stop(path, f"{os.path.basename(path)} points outside the log folder; not read.")
                    continue
                if path not in self._next:
                    self._numbers[path] = len(self._files)
                    self._files.append(path)
                    self._next[path] = 0
                try:
                    for offset, payload in iter_records(path, start=self._next[path]):
                        self._add(self._numbers[path], offset, payload)
                        self._next[path] = offset + RECORD_OVERHEAD + len(payload)
                        changed = True
                except DamagedEventFile as err:
                    self._stop(path, f"{os.path.basename(path)}: damaged at byte {err.offset} "
                               f"({err.reason}); steps after it are not shown.")
                except DecodeError:
                    self._stop(path, f"{os.path.basename(path)}: a record at byte {self._next[path]} is "
                               "no TensorBoard event; steps after it are not shown.")
                except OSError as err:
                    self._stop(path, f"{os.path.basename(path)}: {err.strerror or err}.")
        return changed

    def _stop(self, path: str, problem: str) -> None:
        self._stopped.add(path)
        with self._lock:
            self.problems.append(problem)

    def _add(self, number: int, offset: int, payload: bytes) -> None:
        from tensorboard.compat.proto import event_pb2

        event = event_pb2.Event.FromString(payload)
        if not event.HasField("summary"):
            return
        step = int(event.step)
        with self._lock:
            self._serial += 1
            for value in event.summary.value:
                tag = value.tag
                if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                    self._plugins[tag] = value.metadata.plugin_data.plugin_name
                if tag.startswith(self.image_prefixes) and self._plugins.get(tag) == "images":
                    self._add_image(tag, step, value, (number, offset, self._serial))
                elif tag.startswith(self.scalar_prefixes):
                    number_value = _scalar(value)
                    if number_value is not None:
                        self.scalars.setdefault(tag, {})[step] = number_value

    def _add_image(self, tag: str, step: int, value, where: tuple) -> None:
        blobs = value.tensor.string_val
        if len(blobs) < 3:
            return
        entry = self.images.setdefault(tag, ImageTag())
        entry.steps[step] = where
        entry.samples = len(blobs) - 2
        try:
            entry.width, entry.height = int(blobs[0]), int(blobs[1])
        except ValueError:
            entry.width = entry.height = 0
        if value.metadata.summary_description:
            entry.description = value.metadata.summary_description

    def image_tags(self) -> dict[str, dict]:
        """``{tag: ImageTag.listing()}`` in the order the tags were first written."""
        with self._lock:
            return {tag: entry.listing() for tag, entry in self.images.items()}

    def scalar_series(self) -> dict[str, list]:
        """``{tag: [[step, value], ...]}`` sorted by step."""
        with self._lock:
            return {tag: sorted(points.items()) for tag, points in self.scalars.items()}

    def has(self, tag: str, step: int) -> bool:
        """Whether the image tag ``tag`` has a record at ``step``."""
        with self._lock:
            return tag in self.images and step in self.images[tag].steps

    def samples(self, tag: str) -> int:
        """Images per step of ``tag`` (0 for a tag not indexed)."""
        with self._lock:
            return self.images[tag].samples if tag in self.images else 0

    def _value(self, tag: str, step: int):
        with self._lock:
            number, offset, _ = self.images[tag].steps[step]
            path = self._files[number]
        event = self.cache.event(path, offset)
        return next((value for value in event.summary.value if value.tag == tag), None)

    def image(self, tag: str, step: int, sample: int) -> bytes | None:
        """The PNG bytes of one logged image, read from disk now; None if that record lacks it.

        Raises:
            KeyError: the tag or step is not indexed.
            DamagedEventFile, OSError: the record cannot be read back.
        """
        value = self._value(tag, step)
        blobs = value.tensor.string_val if value is not None else []
        return blobs[2 + sample] if 0 <= sample < len(blobs) - 2 else None

    def description(self, tag: str, step: int) -> str:
        """The description written with that step (channels shown, normalization, values).

        Raises:
            KeyError, DamagedEventFile, OSError: as ``image``.
        """
        value = self._value(tag, step)
        return value.metadata.summary_description if value is not None else ""
