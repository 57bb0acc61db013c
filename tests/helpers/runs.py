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
