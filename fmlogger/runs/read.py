"""Reading a run back with TensorBoard's own event reader (the reader side of ``summary.py``).

Example:
    >>> run = read_run("runs/exp1/feature_maps")                       # doctest: +SKIP
    >>> [(e.step, e.images.shape) for e in run.images["feature_maps/conv1"]]   # doctest: +SKIP
    [(0, (4, 61, 61, 1)), (1, (4, 61, 61, 1))]
"""

from __future__ import annotations

import dataclasses

import numpy as np


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


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 ``[h, w, c]`` (TensorFlow's decoder)."""
    from fmlogger._tf import tensorflow

    return tensorflow().io.decode_png(data).numpy()


def read_run(run_dir: str, *, decode: bool = True) -> Run:
    """Loads every image and scalar summary under ``run_dir`` (all steps, no sampling)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    images, scalars, descriptions = {}, {}, {}
    for tag in acc.Tags()[pea.TENSORS]:
        meta = acc.SummaryMetadata(tag)
        plugin = meta.plugin_data.plugin_name
        events = sorted(acc.Tensors(tag), key=lambda e: e.step)
        if plugin == "images":
            descriptions[tag] = meta.summary_description
            images[tag] = []
            for event in events:
                blobs = tensor_util.make_ndarray(event.tensor_proto)
                pngs = tuple(blobs[2:])
                decoded = np.stack([decode_png(p) for p in pngs]) if decode and pngs else np.zeros((0,))
                images[tag].append(ImageEvent(event.step, decoded, pngs))
        elif plugin == "scalars":
            scalars[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events]
    return Run(images=images, scalars=scalars, descriptions=descriptions)
