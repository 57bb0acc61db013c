"""Reading a whole run back into memory, with fmlogger's checked event reader (no TensorFlow).

What ``read_run`` returns is what TensorBoard's ``EventAccumulator`` holds for the same files
with no sampling (``size_guidance={TENSORS: 0}``): every image and scalar summary, in step order
(the order of the files for equal steps), the first description of each image tag. A damaged
event file is reported once (``logging.warning``) and the rest of the run is still read.

Example:
    >>> run = read_run("runs/exp1/feature_maps")                       # doctest: +SKIP
    >>> [(e.step, e.images.shape) for e in run.images["feature_maps/conv1"]]   # doctest: +SKIP
    [(0, (4, 61, 61, 1)), (1, (4, 61, 61, 1))]
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from fmlogger.runs.events import decode_png, iter_summaries, summary_pngs

__all__ = ["ImageEvent", "Run", "decode_png", "read_run"]


@dataclasses.dataclass(frozen=True)
class ImageEvent:
    """One image summary: its step, decoded images ``[n, h, w, c]`` and the PNG bytes."""

    step: int
    images: np.ndarray
    pngs: tuple


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything in one run folder: ``images[tag]`` and ``scalars[tag]`` lists ordered by step."""

    images: dict
    scalars: dict
    descriptions: dict


def _decoded(tag: str, step: int, pngs: tuple) -> np.ndarray:
    try:
        return np.stack([decode_png(p) for p in pngs])
    except ValueError as err:
        raise ValueError(f"image tag {tag!r} at step {step}: {err}") from None


def read_run(run_dir: str, *, decode: bool = True) -> Run:
    """Loads every image and scalar summary under ``run_dir`` (all steps, no sampling).

    Args:
        run_dir: a run folder (the event files directly in it are read, oldest first).
        decode: decode the PNGs into ``ImageEvent.images``; False leaves ``np.zeros((0,))``.

    Returns:
        A ``Run``: ``images[tag]`` lists of ``ImageEvent``, ``scalars[tag]`` lists of
        ``(step, value)``, ``descriptions[tag]`` of image tags.

    Raises:
        ValueError: a PNG does not decode (the message names the tag and step).
    """
    from tensorboard.util import tensor_util

    images: dict = {}
    scalars: dict = {}
    descriptions: dict = {}
    for s in iter_summaries(os.fspath(run_dir)):
        plugin = s.metadata.plugin_data.plugin_name if s.metadata is not None else ""
        if not s.value.HasField("tensor"):
            continue
        if plugin == "images":
            descriptions.setdefault(s.tag, s.metadata.summary_description)
            pngs = summary_pngs(s.value)
            decoded = _decoded(s.tag, s.step, pngs) if decode and pngs else np.zeros((0,))
            images.setdefault(s.tag, []).append(ImageEvent(s.step, decoded, pngs))
        elif plugin == "scalars":
            scalars.setdefault(s.tag, []).append((s.step, float(tensor_util.make_ndarray(s.value.tensor))))
    for events in images.values():
        events.sort(key=lambda e: e.step)
    for values in scalars.values():
        values.sort(key=lambda v: v[0])
    return Run(images=images, scalars=scalars, descriptions=descriptions)
