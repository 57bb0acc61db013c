"""Writing images, scalars and text to one TensorBoard run with ``tf.summary``.

Images are encoded here (``fmlogger._png``, zlib level 1) and written as the tensor that
``tf.summary.image`` itself writes, ``[width, height, png_0, png_1, ...]`` with the image plugin's
metadata, so TensorBoard shows them as usual and every sample is kept (``tf.summary.image`` keeps
only ``max_outputs=3`` unless told otherwise).

Example:
    >>> writer = SummaryWriter("runs/exp1/feature_maps")      # doctest: +SKIP
    >>> writer.image("feature_maps/conv1", images, step=0)     # doctest: +SKIP
    >>> writer.flush()                                         # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from fmlogger._png import encode_png
from fmlogger._tf import tensorflow


class SummaryWriter:
    """A lazily created ``tf.summary`` file writer for one run folder."""

    def __init__(self, run_dir: str):
        self.run_dir = os.fspath(run_dir)
        self._writer = None
        self.event_file: str | None = None
        """The event file this writer appends to (None before the first write or when unknown)."""

    def _get(self):
        if self._writer is None:
            tf = tensorflow()
            os.makedirs(self.run_dir, exist_ok=True)
            before = set(os.listdir(self.run_dir)) if "://" not in self.run_dir else set()
            self._writer = tf.summary.create_file_writer(self.run_dir)
            if "://" not in self.run_dir:
                new = [n for n in set(os.listdir(self.run_dir)) - before if ".tfevents." in n]
                self.event_file = os.path.join(self.run_dir, new[0]) if len(new) == 1 else None
        return self._writer

    def reopen_if_removed(self) -> None:
        """Starts a new event file when the current one (or its folder) was deleted mid-run.

        TensorFlow's writer keeps appending to a deleted file without an error, so everything
        written after the deletion would be lost silently. Call this before writing a step.

        Raises:
            FileNotFoundError: after re-opening, naming the file that disappeared (the caller's
                error policy decides whether that stops training); the step can then be written.
        """
        if self._writer is None or self.event_file is None or os.path.exists(self.event_file):
            return
        lost = self.event_file
        what = "the event file" if os.path.isdir(self.run_dir) else "the run folder (with its event file)"
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the file is gone; nothing left to flush into it
            pass
        self._writer = None
        self.event_file = None
        self._get()
        raise FileNotFoundError(
            f"{what} {lost} was removed while training; the steps it held are gone. Writing "
            f"from this step on to a new event file: {self.event_file or self.run_dir}"
        )

    def image(self, tag: str, images: np.ndarray, step: int, description: str = "") -> None:
        """Writes uint8 images ``[n, h, w, c]`` (c in 1, 3, 4) as one image summary of n samples."""
        from tensorboard.plugins.image import metadata as image_metadata

        tf = tensorflow()
        n, height, width = images.shape[:3]
        pngs = [encode_png(images[i]) for i in range(n)]
        tensor = tf.constant([str(width).encode(), str(height).encode()] + pngs, dtype=tf.string)
        meta = image_metadata.create_summary_metadata(display_name=tag, description=description)
        with self._get().as_default():
            tf.summary.write(tag, tensor, step=step, metadata=meta)

    def scalar(self, tag: str, value: float, step: int) -> None:
        tf = tensorflow()
        with self._get().as_default():
            tf.summary.scalar(tag, value, step=step)

    def text(self, tag: str, text: str, step: int) -> None:
        tf = tensorflow()
        with self._get().as_default():
            tf.summary.text(tag, text, step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flushes and closes; a later write opens a new event file in the same folder."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.event_file = None
