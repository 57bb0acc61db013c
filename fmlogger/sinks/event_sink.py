"""The TensorBoard sink: one run folder, each step's images and scalars as one event.

``EventSink`` wraps ``fmlogger.sinks.events.SummaryWriter`` (created lazily: nothing touches the
disk before the first write) and keeps the Projector files of the run folder
(``fmlogger.sinks.projector.ProjectorWriter``) for the embedding view's entries.

Example:
    >>> import numpy as np, tempfile
    >>> from fmlogger.sinks.base import ImageSummary, Output
    >>> sink = EventSink(tempfile.mkdtemp(), "feature_maps")
    >>> image = ImageSummary("feature_maps/conv1", np.zeros((1, 4, 4, 1), np.uint8))
    >>> sink.write(0, [Output(images=[image], scalars=[("feature_map_stats/conv1/mean", 0.0)])])
    []
    >>> sink.close()
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence

from fmlogger._checks import check_folder_name
from fmlogger._paths import check_remote, is_remote, join, nearest_existing
from fmlogger.sinks.base import Failure, Output, ProjectorEntry, Sink
from fmlogger.sinks.events import SummaryWriter

log = logging.getLogger("fmlogger")


def check_log_dir(log_dir) -> str:
    """Fails fast, naming the path and the OS error, when ``log_dir`` cannot be created/written."""
    try:
        path = os.fspath(log_dir)
    except TypeError as err:
        raise TypeError(f"log_dir must be a path. Received: log_dir={log_dir!r}") from err
    if not isinstance(path, str):
        raise TypeError(f"log_dir must be a str path, not bytes. Received: log_dir={log_dir!r}")
    if not path.strip():
        raise ValueError("log_dir must be a non-empty path. Received: log_dir=''")
    if "\0" in path:
        raise ValueError(f"log_dir must not contain a NUL character. Received: log_dir={path!r}")
    if is_remote(path):  # a URL: a file layer that knows its scheme, or a clear error now
        check_remote(path)
        return path
    probe = nearest_existing(path)
    if not os.path.isdir(probe):
        raise ValueError(f"log_dir={path!r} cannot be created: {probe!r} is a file, not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"log_dir={path!r} is not writable: no write permission on {probe!r}.")
    return path


class EventSink(Sink):
    """Writes steps into ``<log_dir>/<run_name>`` as TensorBoard events (and Projector files).

    Args:
        log_dir: the TensorBoard log folder (checked now, created on the first write).
        run_name: the run sub-folder.

    Raises:
        ValueError, PermissionError: when ``log_dir`` cannot be created or written, or
            ``run_name`` is not one folder name (``..``, a separator, an absolute path, NUL, empty).
    """

    def __init__(self, log_dir, run_name: str):
        check_folder_name("run_name", run_name)
        self.log_dir = check_log_dir(log_dir)
        self.writer = SummaryWriter(join(self.log_dir, run_name))
        self._projector = None

    @property
    def run_dir(self) -> str:
        return self.writer.run_dir

    @property
    def location(self) -> str:
        return self.writer.run_dir

    def check_writable(self) -> None:
        """Creates the run folder and a scratch file in it; raises naming the path and the OS error."""
        if is_remote(self.run_dir):
            return
        try:
            os.makedirs(self.run_dir, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.run_dir, prefix=".fmlogger-write-check-"):
                pass
        except OSError as err:
            kind = PermissionError if isinstance(err, PermissionError) else OSError
            raise kind(
                f"log_dir={self.log_dir!r} is not writable: creating {self.run_dir!r} failed with "
                f"{type(err).__name__}: {err.strerror or err} (errno {err.errno})."
            ) from err

    def intact(self) -> bool:
        """False when the event file being written was removed (the run folder deleted mid-run).

        The next ``write`` starts a new one and reports the loss; until then nothing else should
        be written into a folder that may be being deleted.
        """
        event_file = self.writer.event_file
        return event_file is None or is_remote(event_file) or os.path.exists(event_file)

    def start(self, step: int) -> list[Failure]:
        """Replaces a deleted event file (or run folder) by a new one, so ``step`` is written there;
        returns the loss as a failure."""
        try:
            self.writer.reopen_if_removed()
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            return [(f"writing step {step} to {self.run_dir}", err)]
        return []

    def write(self, step: int, outputs: Sequence[Output]) -> list[Failure]:
        """Writes every image and scalar of ``outputs`` as one event, then any Projector entries."""
        failures: list[Failure] = []
        where = f"writing step {step} to {self.run_dir}"
        pngs, scalars = [], []
        for out in outputs:
            scalars += out.scalars
            for image in out.images:
                try:
                    height, width = image.images.shape[1:3]
                    pngs.append((image.tag, width, height, image.encoded(), image.description))
                except Exception as err:  # noqa: BLE001
                    failures.append((f"encoding {image.tag!r}", err))
        try:
            if pngs or scalars:
                self.writer.write_step(step, pngs=pngs, scalars=scalars)
        except Exception as err:  # noqa: BLE001
            failures.append((where, err))
        for out in outputs:
            if out.projector is not None:
                failures += self._write_projector(step, out.projector)
        return failures

    def _write_projector(self, step: int, entry: ProjectorEntry) -> list[Failure]:
        from fmlogger.sinks.projector import ProjectorWriter

        self._projector = self._projector or ProjectorWriter(self.run_dir, keep_last=entry.keep_last)
        failures: list[Failure] = []
        if entry.sprite is not None:
            try:
                if not self._projector.write_sprite(entry.sprite, data_format=entry.data_format):
                    log.info("fmlogger: embedding inputs are not images; the Projector gets no sprite.")
            except Exception as err:  # noqa: BLE001
                failures.append(("writing the Projector sprite", err))
        try:
            self._projector.add(step, entry.tensors, entry.columns or None)
        except Exception as err:  # noqa: BLE001
            failures.append((f"writing Projector files to {self.run_dir}", err))
        return failures

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
