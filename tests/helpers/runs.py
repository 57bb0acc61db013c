"""Reading runs back with TensorBoard's own reader, and the tags and steps tests compare."""

from __future__ import annotations

import os


def read_run(run_dir):
    """All image and scalar summaries of a run, read with TensorBoard's own reader.

    The PNGs are decoded by ``fmlogger.runs.events.decode_png`` (Pillow), so no TensorFlow is needed.
    """
    import dataclasses

    import numpy as np

    from fmlogger.runs.events import decode_png
    from fmlogger.runs.read import read_run as _read

    run = _read(os.fspath(run_dir), decode=False)
    for tag, events in run.images.items():
        events[:] = [
            dataclasses.replace(e, images=np.stack([decode_png(p) for p in e.pngs]) if e.pngs else e.images)
            for e in events
        ]
    return run


def image_steps(run, tag):
    """The steps of an image tag, in the order read."""
    return [event.step for event in run.images[tag]]


def feature_map_tags(run):
    """The ``feature_maps/<layer>`` image tags of a run (not timelines or other views)."""
    from fmlogger import tags

    return {tag for tag in run.images if tag.startswith(tags.IMAGE_PREFIX)}
