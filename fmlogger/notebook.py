"""Feature maps in a Jupyter notebook, without TensorBoard.

``show(log_dir, layer)`` reads a run's event files (``fmlogger.runs``: no TensorFlow) and returns
an ``Evolution``: one image with a row per logged step (oldest at the top, the step number at
the left, like the timeline) showing one probe sample's logged image. Jupyter displays it inline
through ``_repr_png_``; ``image`` holds the pixels and ``save`` writes a PNG. A ``Frame`` returned
by ``FeatureMapLogger.log`` displays itself the same way (its samples stacked top to bottom).

Example:
    >>> import fmlogger
    >>> fmlogger.show("runs/demo", "conv1")                 # doctest: +SKIP
    <an image: steps 0..5 of feature_maps/conv1, sample 0>
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fmlogger._arrays import spread
from fmlogger._checks import check_int
from fmlogger.render.font import number_bitmaps
from fmlogger.render.png import encode_png
from fmlogger.render.renderer import stack_rows

LABEL_SCALE = 2
"""Step labels are drawn in the 3x5 digit font magnified this many times (10 px tall)."""

BACKGROUND = 255
INK = 0


@dataclasses.dataclass(frozen=True)
class Evolution:
    """One layer (or any image tag) of a run, one row per logged step.

    Attributes:
        image: uint8 ``[H, W, c]``: rows of ``[step label | logged image]``, 4 px grey gaps.
        steps: the steps shown, top to bottom.
        tag: the image tag read (``feature_maps/<layer>``, ``gradcam/<layer>``, ...).
        run_dir: the run folder read.
        sample: the probe sample shown.
        logged_steps: how many steps the run holds for the tag (more than ``len(steps)`` when
            ``max_steps`` thinned them out).
    """

    image: np.ndarray
    steps: tuple
    tag: str
    run_dir: str
    sample: int
    logged_steps: int

    def _repr_png_(self) -> bytes:
        return encode_png(self.image, level=6)

    def save(self, path: str) -> str:
        """Writes the image as a PNG file; returns ``path``."""
        with open(path, "wb") as f:
            f.write(self._repr_png_())
        return path

    def __repr__(self) -> str:
        span = f"{self.steps[0]}..{self.steps[-1]}" if len(self.steps) > 1 else str(self.steps[0])
        shown, total = len(self.steps), self.logged_steps
        thinned = f" ({shown} of {total})" if shown < total else ""
        return f"<Evolution: steps {span}{thinned} of {self.tag}, sample {self.sample}, {self.image.shape}>"


def even_subsample(steps: list, limit: int | None) -> list:
    """At most ``limit`` of ``steps`` (sorted), evenly spread, always the first and the last."""
    if limit is None or len(steps) <= limit:
        return list(steps)
    return [steps[i] for i in spread(len(steps), limit)]


def labelled_row(image: np.ndarray, step: int, label_digits: int) -> np.ndarray:
    """``image [h, w, c]`` with its step number at the left, vertically centred (digit font)."""
    bits = number_bitmaps([step], LABEL_SCALE, digits=label_digits)[0]
    height, _, channels = image.shape
    label_w = bits.shape[1] + 2 * LABEL_SCALE
    strip = np.full((max(height, bits.shape[0]), label_w), BACKGROUND, np.uint8)
    top = (strip.shape[0] - bits.shape[0]) // 2
    strip[top : top + bits.shape[0], LABEL_SCALE : LABEL_SCALE + bits.shape[1]][bits] = INK
    body = np.full((strip.shape[0], image.shape[1], channels), BACKGROUND, np.uint8)
    body[:height] = image
    return np.concatenate([np.repeat(strip[:, :, None], channels, axis=2), body], axis=1)


def _find_tag(run_dir: str, layer: str) -> tuple[str, dict]:
    from fmlogger.runs.compare import image_tag_names, layer_tag
    from fmlogger.runs.events import images_by_step

    for tag in dict.fromkeys([layer, layer_tag(layer)]):
        logged = images_by_step(run_dir, tag)
        if logged:
            return tag, logged
    listed = ", ".join(image_tag_names(run_dir)) or "none"
    raise ValueError(f"layer={layer!r} is not logged in {run_dir!r}. Image tags: {listed}.")


def show(log_dir, layer: str, sample: int = 0, *, max_steps: int | None = 32) -> Evolution:
    """A layer's logged images over training, as one image that Jupyter displays inline.

    Reads the event files with ``fmlogger.runs`` (no TensorFlow, no TensorBoard server).

    Args:
        log_dir: the ``log_dir`` given to the logger/callback, or its run folder.
        layer: a layer path as logged (``"conv1"``, ``"backbone/block_1_expand_relu"``) or any
            image tag (``"gradcam/conv3"``, ``"saliency/vanilla"``, ``"pca_rgb/conv2"``).
        sample: which probe sample (image) of each step.
        max_steps: rows at most; more logged steps are thinned evenly, keeping the first and the
            newest; None shows every step.

    Returns:
        An ``Evolution`` (``image``, ``steps``, ``save(path)``).

    Raises:
        FileNotFoundError: ``log_dir`` holds no run.
        ValueError: the layer is not logged (the message lists the image tags), or ``sample``
            is not in a step.

    Example:
        >>> evolution = show("runs/demo", "conv2", sample=1)      # doctest: +SKIP
        >>> evolution.steps, evolution.image.shape                  # doctest: +SKIP
        ((0, 1, 2, 3), (825, 227, 1))
    """
    from fmlogger.runs.events import decode_png, resolve_run

    check_int("sample", sample, 0)
    check_int("max_steps", max_steps, 1, allow_none=True)
    run_dir = resolve_run(log_dir)
    tag, logged = _find_tag(run_dir, layer)
    steps = even_subsample(sorted(logged), max_steps)
    for step in steps:
        if sample >= len(logged[step]):
            raise ValueError(
                f"sample={sample} is not in {tag!r} at step {step}: it has {len(logged[step])} sample(s)."
            )
    digits = len(str(max(steps)))
    rows = [labelled_row(decode_png(logged[step][sample]), step, digits) for step in steps]
    return Evolution(stack_rows(rows), tuple(steps), tag, run_dir, sample, len(logged))
