"""Reading runs back, and the tags and steps tests compare.

The reader is fmlogger's own checked one; ``test_runs_contract`` holds it equal to TensorBoard's.
"""

from __future__ import annotations

import os


def read_run(run_dir):
    """All image and scalar summaries of a run, every step (``fmlogger.runs.read.read_run``)."""
    from fmlogger.runs.read import read_run as _read

    return _read(os.fspath(run_dir))


def image_steps(run, tag):
    """The steps of an image tag, in the order read."""
    return [event.step for event in run.images[tag]]


def feature_map_tags(run):
    """The ``feature_maps/<layer>`` image tags of a run (not timelines or other views)."""
    from fmlogger import tags

    return {tag for tag in run.images if tag.startswith(tags.IMAGE_PREFIX)}


def tensorboard_tensors(run_dir) -> dict:
    """``{tag: [(step, value array), ...]}`` in the order TensorBoard's own reader (its
    ``EventAccumulator``, every step kept) loads the event files of ``run_dir``; a step written
    twice is listed twice."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(os.fspath(run_dir), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        for tag in acc.Tags()[pea.TENSORS]
    }


def event_file_names(run_dir) -> list:
    """The names of the event files directly in ``run_dir``, sorted."""
    return sorted(n for n in os.listdir(run_dir) if "tfevents" in n)
