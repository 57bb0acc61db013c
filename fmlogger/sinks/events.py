"""Writing images, scalars and text to one TensorBoard run, with no TensorFlow needed.

Events go through TensorBoard's own pure-Python pieces: its ``Event``/``Summary`` protos, its
record framing (``tensorboard.summary.writer.record_writer.RecordWriter``) and, for URLs, its file
layer (``tensorboard.compat.tf.io.gfile``: TensorFlow's file systems when TensorFlow is installed,
so ``gs://`` works there, else TensorBoard's own, ``s3://``); local files are Python files. The
same bytes on every Keras backend. Three things differ from TensorBoard's ``EventFileWriter``:

* the record checksums (CRC-32C, ``fmlogger._crc32c``) use the C library ``google_crc32c``;
  TensorBoard's is a Python loop (~4 MB/s here: ~50 ms of GIL-holding work per 200 kB step);
* events are written on the calling thread (the logger's background writer), not queued to a
  second thread, so ``flush`` means "on disk" and a failure reaches the caller;
* a failed write (a full disk) raises ``EventFileError`` and gives the file up at its last complete
  step: nothing is ever appended behind a broken record, and the next step opens a new file. While
  the disk stays full, each attempt's new file is removed again (it holds no step).

Images are encoded here (``fmlogger.render.png``, zlib level 1) and written as the tensor that
``tf.summary.image`` itself writes, ``[width, height, png_0, png_1, ...]`` with the image plugin's
metadata, so TensorBoard shows them as usual and every sample is kept (``tf.summary.image`` keeps
only ``max_outputs=3`` unless told otherwise).

Example:
    >>> import numpy as np, tempfile
    >>> writer = SummaryWriter(tempfile.mkdtemp())
    >>> writer.write_step(0, images=[("feature_maps/conv1", np.zeros((2, 4, 4, 1), np.uint8), "")]) > 0
    True
    >>> writer.close()
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Iterable

import numpy as np

from fmlogger._crc32c import masked_crc32c
from fmlogger._paths import check_remote, gfile, is_remote, join, makedirs
from fmlogger.render.png import encode_png


def _record_writer(file):
    """TensorBoard's ``RecordWriter`` over ``file``, checksums by ``fmlogger._crc32c``."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    class Records(RecordWriter):
        def write(self, data: bytes) -> None:
            header = struct.pack("<Q", len(data))
            crcs = struct.pack("<I", masked_crc32c(header)), struct.pack("<I", masked_crc32c(data))
            self._writer.write(header + crcs[0] + data + crcs[1])

    return Records(file)


_counter = iter(range(1 << 62))
_counter_lock = threading.Lock()


class EventFileError(OSError):
    """Writing a step to an event file failed (a full disk, a quota, an I/O error).

    The file was closed at its last complete step (on a local disk cut back to it, or removed if
    it held no step), so every reader sees the steps before; the next write starts a new file.
    """


class _EventFile:
    """One open event file: named and started (``file_version``) as ``EventFileWriter`` does.

    Local files are written with Python's ``open``; ``durable`` is the size of the complete
    records flushed so far, what ``discard`` cuts the file back to after a failed write.
    """

    def __init__(self, run_dir: str):
        from tensorboard.compat.proto import event_pb2

        self._event_pb2 = event_pb2
        self.remote = is_remote(run_dir)
        makedirs(run_dir)
        with _counter_lock:
            uid = next(_counter)
        # the uid is zero-padded: files of one second sort in the order they were opened, as
        # TensorBoard's DirectoryWatcher (and ``runs.events.event_files``) read them
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{uid:06d}"
        self.path = join(run_dir, name)
        file = gfile().GFile(self.path, "wb") if self.remote else open(self.path, "wb")  # noqa: SIM115
        self._records = _record_writer(file)
        self.durable = 0
        self.steps = 0
        """Steps flushed into this file."""
        self._pending = 0
        self._pending_steps = 0
        self.add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add(self, event) -> None:
        data = event.SerializeToString()
        self._pending += len(data) + 16  # the TFRecord framing: length, 2 CRCs
        self._records.write(data)

    def add_summary(self, step: int, summary_bytes: bytes) -> None:
        event = self._event_pb2.Event(wall_time=time.time(), step=int(step))
        event.summary.ParseFromString(summary_bytes)
        self.add(event)
        self._pending_steps += 1

    def flush(self) -> None:
        self._records.flush()
        self.durable += self._pending
        self.steps += self._pending_steps
        self._pending = self._pending_steps = 0

    def close(self) -> None:
        self._records.close()

    def discard(self) -> str:
        """Closes the file after a failed write; returns what became of it, in words.

        A local file is cut back to its last complete flushed record, or removed when it holds no
        step (so a full disk leaves no empty event file per attempt). A remote one is left as it is.
        """
        try:
            self._records.close()  # may write part of the buffer again, or fail again
        except Exception:  # noqa: BLE001 - the write already failed; the file is given up
            pass
        if self.remote:
            return f"the event file {self.path} is closed where the write failed"
        try:
            if self.steps == 0:
                os.remove(self.path)
                return f"the event file {self.path}, which held no step yet, is removed"
            os.truncate(self.path, self.durable)
        except OSError as err:
            return f"the event file {self.path} could not be cut back to its last step ({err})"
        return f"the event file {self.path} keeps its {self.steps} complete step(s)"


class SummaryWriter:
    """A lazily opened event file for one run folder (images, scalars, text; any Keras backend).

    Raises:
        ValueError: for a remote ``run_dir`` whose URL scheme no installed file layer writes.
    """

    def __init__(self, run_dir: str):
        self.run_dir = os.fspath(run_dir)
        if is_remote(self.run_dir):
            check_remote(self.run_dir)
        self._writer: _EventFile | None = None
        self.event_file: str | None = None
        """The event file this writer appends to (None before the first write)."""
        self._lock = threading.Lock()  # the logger's worker thread and the caller may both write
        self._metadata: dict[tuple[str, str, str], bytes] = {}

    def _get(self) -> _EventFile:
        if self._writer is None:
            self._writer = _EventFile(self.run_dir)
            self.event_file = self._writer.path
        return self._writer

    def reopen_if_removed(self) -> None:
        """Starts a new event file when the current one (or its folder) was deleted mid-run.

        An open file that was deleted still takes writes without an error, so everything written
        after the deletion would be lost silently. Call this before writing a step.

        Raises:
            FileNotFoundError: after re-opening, naming the file that disappeared (the caller's
                error policy decides whether that stops training); the step can then be written.
        """
        with self._lock:
            if self._writer is None or is_remote(self.run_dir) or os.path.exists(self.event_file):
                return
            lost = self.event_file
            what = "the event file" if os.path.isdir(self.run_dir) else "the run folder (with its event file)"
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file is gone; nothing left to flush into it
                pass
            self._writer = None
            self._get()
        raise FileNotFoundError(
            f"{what} {lost} was removed while training; the steps it held are gone. Writing "
            f"from this step on to a new event file: {self.event_file}"
        )

    def image(self, tag: str, images: np.ndarray, step: int, description: str = "") -> None:
        """Writes uint8 images ``[n, h, w, c]`` (c in 1, 3, 4) as one image summary of n samples."""
        self.write_step(step, images=[(tag, images, description)])

    def text(self, tag: str, text: str, step: int) -> None:
        """Writes ``text`` (Markdown) as TensorBoard's text plugin shows it (``tf.summary.text``'s tensor)."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.text import metadata

        summary = summary_pb2.Summary()
        value = summary.value.add(tag=tag)
        value.metadata.CopyFrom(metadata.create_summary_metadata(display_name=None, description=None))
        value.tensor.CopyFrom(
            tensor_pb2.TensorProto(
                dtype=types_pb2.DT_STRING,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                string_val=[text.encode("utf-8")],
            )
        )
        self._write(step, summary.SerializeToString())

    def write_step(
        self,
        step: int,
        *,
        images: Iterable[tuple[str, np.ndarray, str]] = (),
        scalars: Iterable[tuple[str, float]] = (),
        pngs: Iterable[tuple[str, int, int, list, str]] = (),
    ) -> int:
        """Writes many image and scalar summaries of one step as one event.

        What TensorBoard reads back is what ``tf.summary.image`` and ``tf.summary.scalar`` write
        (same tensors, same plugin metadata).

        Args:
            step: the TensorBoard step.
            images: ``(tag, uint8 images [n, h, w, c], description)`` triples, encoded here.
            scalars: ``(tag, value)`` pairs.
            pngs: already encoded images: ``(tag, width, height, [png bytes, ...], description)``.

        Returns:
            The size in bytes of the serialized summary written.

        Example:
            >>> writer.write_step(3, images=[("feature_maps/conv1", grid, "")],   # doctest: +SKIP
            ...                   scalars=[("feature_map_stats/conv1/mean", 0.4)])
        """
        encoded = [
            (tag, int(array.shape[2]), int(array.shape[1]), [encode_png(a) for a in array], description)
            for tag, array, description in images
        ]
        data = self.serialize(encoded + list(pngs), scalars)
        self._write(step, data)
        return len(data)

    def _write(self, step: int, summary_bytes: bytes) -> None:
        with self._lock:
            writer = self._get()
            try:
                writer.add_summary(step, summary_bytes)
            except Exception as err:  # noqa: BLE001 - reported as an EventFileError
                self._give_up(writer, err, f"writing step {step}")

    def _give_up(self, writer: _EventFile, err: Exception, what: str) -> None:
        """Closes ``writer`` at its last complete step and raises ``EventFileError`` (lock held)."""
        fate = writer.discard()
        self._writer = None
        self.event_file = None
        raise EventFileError(
            f"{what} failed ({type(err).__name__}: {err}); {fate}. The next step is written to a "
            f"new event file in {self.run_dir}."
        ) from err

    def serialize(self, pngs, scalars) -> bytes:
        """One serialized ``Summary`` proto with image (``pngs`` as in ``write_step``) and scalar values."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        summary = summary_pb2.Summary()
        for tag, width, height, blobs, description in pngs:
            value = summary.value.add(tag=tag)
            value.metadata.MergeFromString(self._plugin_metadata("images", tag, description))
            value.tensor.dtype = types_pb2.DT_STRING
            value.tensor.tensor_shape.dim.add(size=len(blobs) + 2)
            value.tensor.string_val.extend([str(width).encode(), str(height).encode(), *blobs])
        scalar_shape = tensor_shape_pb2.TensorShapeProto()
        for tag, number in scalars:
            value = summary.value.add(tag=tag)
            value.metadata.MergeFromString(self._plugin_metadata("scalars", tag, ""))
            value.tensor.CopyFrom(
                tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_FLOAT, tensor_shape=scalar_shape, float_val=[float(number)]
                )
            )
        return summary.SerializeToString()

    def _plugin_metadata(self, plugin: str, tag: str, description: str) -> bytes:
        key = (plugin, tag, description)
        if key not in self._metadata:
            if plugin == "images":
                from tensorboard.plugins.image import metadata
            else:
                from tensorboard.plugins.scalar import metadata
            display = tag if plugin == "images" else None
            proto = metadata.create_summary_metadata(display_name=display, description=description)
            self._metadata[key] = proto.SerializeToString()
        return self._metadata[key]

    def flush(self) -> None:
        """Writes what was added to disk.

        Raises:
            EventFileError: the write failed; the file is closed at its last complete step (see
                ``EventFileError``) and the next write opens a new one.
        """
        with self._lock:
            if self._writer is not None:
                try:
                    self._writer.flush()
                except Exception as err:  # noqa: BLE001 - reported as an EventFileError
                    self._give_up(self._writer, err, "flushing the event file")

    def close(self) -> None:
        """Flushes and closes; a later write opens a new event file in the same folder."""
        with self._lock:
            if self._writer is not None:
                try:
                    self._writer.close()
                except Exception as err:  # noqa: BLE001 - reported as an EventFileError
                    self._give_up(self._writer, err, "closing the event file")
                self._writer = None
                self.event_file = None
