"""A run folder's fmlogger_state.json of the wrong shape: reported naming the file, that part ignored,
never a crash in the constructor and never images that differ from a fresh run's."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from fmlogger import FeatureMapLogger, tags

ARRAYS = {"conv1": np.random.default_rng(0).random((2, 6, 6, 5)).astype(np.float32)}
OPTIONS = {"normalize": "fixed", "channel_order": "top_k", "max_channels": 3, "min_tile_size": 6}


def _state(**fields):
    """A state whose saved settings are the test's, so that the loggers below do restore it."""
    from fmlogger.render.renderer import RenderSettings
    from fmlogger.sinks.state import settings_dict

    settings = settings_dict(RenderSettings(**OPTIONS))
    return {"format_version": tags.FORMAT_VERSION, "fmlogger_version": "0", "settings": settings, **fields}


def _layer(**entry):
    return _state(layers={"conv1": entry})


BAD_STATES = {
    "a string": "oops",
    "a list": [],
    "a number": 3,
    "layers a list": _state(layers=[]),
    "layer a string": _state(layers={"conv1": "x"}),
    "settings a string": _state(settings="fixed", layers={"conv1": {"channels": [0, 1, 2]}}),
    "layer settings a list": _layer(channels=[0, 1, 2], settings=[]),
    "probe a string": _state(probe="abc"),
    "probe without sha": _state(probe={"shape": [2]}),
    "timelines a list": _state(timelines=[1]),
    "channels empty": _layer(channels=[]),
    "channels a string": _layer(channels="012"),
    "channels floats": _layer(channels=[0.5, 1, 2]),
    "channels bools": _layer(channels=[True, False]),
    "channels negative": _layer(channels=[-1, 0, 1]),
    "channels repeated": _layer(channels=[1, 1, 1]),
    "channels out of range": _layer(channels=[0, 1, 99]),
    "fixed NaN": _layer(fixed_range=[float("nan"), float("nan")]),
    "fixed inf": _layer(fixed_range=[0, float("inf")]),
    "fixed reversed": _layer(fixed_range=[2.0, 1.0]),
    "fixed one number": _layer(fixed_range=[1.0]),
    "fixed strings": _layer(fixed_range=["0", "1"]),
}


def _fresh(tmp_path):
    with FeatureMapLogger(str(tmp_path / "fresh"), background=False, **OPTIONS) as logger:
        return logger.log_arrays(ARRAYS, step=0)["conv1"].images


@pytest.mark.parametrize("content", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_a_state_file_of_the_wrong_shape_is_reported_and_ignored(tmp_path, caplog, content):
    run = tmp_path / "run" / tags.RUN_SUBDIR
    run.mkdir(parents=True)
    (run / tags.STATE_FILE).write_text(json.dumps(content))
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        with FeatureMapLogger(str(tmp_path / "run"), background=False, **OPTIONS) as logger:
            images = logger.log_arrays(ARRAYS, step=1)["conv1"].images
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(tags.STATE_FILE in w or "saved channels of layer" in w for w in warnings), warnings
    np.testing.assert_array_equal(images, _fresh(tmp_path))
    saved = json.loads((run / tags.STATE_FILE).read_text())  # overwritten with a good state
    assert sorted(saved["layers"]["conv1"]["channels"]) == sorted(set(saved["layers"]["conv1"]["channels"]))
    assert np.all(np.isfinite(saved["layers"]["conv1"]["fixed_range"]))


def test_a_good_saved_choice_is_still_restored(tmp_path):
    run = tmp_path / "run" / tags.RUN_SUBDIR
    run.mkdir(parents=True)
    (run / tags.STATE_FILE).write_text(json.dumps(_layer(channels=[4, 3, 2], fixed_range=[0.0, 2.0])))
    with FeatureMapLogger(str(tmp_path / "run"), background=False, **OPTIONS) as logger:
        frame = logger.log_arrays(ARRAYS, step=1)["conv1"]
    assert frame.channels == (4, 3, 2)
    assert logger.renderer.state()["conv1"]["fixed_range"] == [0.0, 2.0]
