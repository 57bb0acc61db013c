"""FeatureMapLogger's background writer: every step written, in order, errors reach the policy."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.logger import FeatureMapLogger, PendingFrames
from fmlogger.render.renderer import UnsupportedOutput
from helpers.models import tiny_cnn, tiny_data
from helpers.runs import image_steps, read_run


def _steps_in_file_order(run_dir):
    from tensorboard.backend.event_processing import event_file_loader

    steps = []
    for name in sorted(f for f in os.listdir(run_dir) if "tfevents" in f):
        for event in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
            if event.HasField("summary") and any(
                v.tag.startswith(tags.IMAGE_PREFIX) for v in event.summary.value
            ):  # the feature-map event of each step (timelines and run info are events of their own)
                steps.append(event.step)
    return steps


def test_all_steps_written_in_order_and_flushed_at_close(tmp_path):
    model = tiny_cnn()
    x, _ = tiny_data(8)
    logger = FeatureMapLogger(tmp_path, ["conv1", "conv2"], max_pending_steps=2)
    results = [logger.log(model, x, step) for step in range(6)]
    assert all(isinstance(r, PendingFrames) for r in results)
    logger.close()
    assert logger.pending_steps == 0
    run = read_run(logger.run_dir)
    for tag in ("feature_maps/conv1", "feature_maps/conv2"):
        assert image_steps(run, tag) == list(range(6))
    assert _steps_in_file_order(logger.run_dir) == list(range(6))  # one event per step, in order
    assert [s for s, _ in run.scalars["feature_map_stats/conv2/mean"]] == list(range(6))
    # What log() returned is what was written.
    np.testing.assert_array_equal(run.images["feature_maps/conv1"][5].images, results[5]["conv1"].images)


def test_background_and_synchronous_write_the_same_pixels(tmp_path):
    model = tiny_cnn()
    x, _ = tiny_data(8)
    runs = {}
    for background in (True, False):
        with FeatureMapLogger(tmp_path / str(background), background=background) as logger:
            frames = logger.log(model, x, 0)
            assert set(frames) == {"conv1", "pool1", "conv2"}
        runs[background] = read_run(logger.run_dir)
    for tag, events in runs[True].images.items():
        np.testing.assert_array_equal(events[0].images, runs[False].images[tag][0].images)
    assert runs[True].scalars == runs[False].scalars


def test_log_arrays_copies_its_input_before_returning(tmp_path, rng):
    logger = FeatureMapLogger(tmp_path, min_tile_size=1, padding=0)
    a = rng.random((2, 3, 3, 1), dtype=np.float32)
    expected = np.floor(
        (a - a.min(axis=(1, 2), keepdims=True)) / np.ptp(a, axis=(1, 2), keepdims=True) * 255 + 0.5
    )
    logger.log_arrays({"a": a}, 0)
    a[...] = 0  # the caller reuses its buffer at once
    logger.close()
    written = read_run(logger.run_dir).images["feature_maps/a"][0].images
    np.testing.assert_array_equal(written, expected.astype(np.uint8))


def test_raise_logs_synchronously_and_stops_at_the_failing_step(tmp_path, rng):
    logger = FeatureMapLogger(tmp_path, on_error="raise")  # strict mode: no background writer
    with pytest.raises(UnsupportedOutput, match="5-D output"):
        logger.log_arrays({"ok": rng.random((1, 4, 4, 2)), "volume": rng.random((1, 2, 2, 2, 2))}, 0)
    assert logger.pending_steps == 0
    logger.close()
    # The good layer of that step was still written and the file closed.
    assert image_steps(read_run(logger.run_dir), "feature_maps/ok") == [0]


def test_worker_error_is_warned_once_and_logging_goes_on(tmp_path, rng, caplog):
    logger = FeatureMapLogger(tmp_path)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        for step in range(3):
            logger.log_arrays({"volume": rng.random((1, 2, 2, 2, 2)), "ok": rng.random((1, 4, 4, 2))}, step)
        logger.flush()
    failures = [r for r in caplog.records if "logging layer 'volume'" in r.getMessage()]
    assert len(failures) == 1 and "UnsupportedOutput" in failures[0].getMessage()
    logger.close()
    assert image_steps(read_run(logger.run_dir), "feature_maps/ok") == [0, 1, 2]


def test_logging_again_after_close_restarts_the_writer(tmp_path, rng):
    logger = FeatureMapLogger(tmp_path)
    logger.log_arrays({"a": rng.random((1, 4, 4, 2))}, 0)
    logger.close()
    logger.log_arrays({"a": rng.random((1, 4, 4, 2))}, 1)
    logger.close()
    assert image_steps(read_run(logger.run_dir), "feature_maps/a") == [0, 1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"background": "yes"}, "background must be True or False. Received: background='yes'"),
        ({"max_pending_steps": 0},
         "max_pending_steps must be an integer >= 1. Received: max_pending_steps=0"),
    ],
)
def test_options_are_validated(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureMapLogger(tmp_path, **kwargs)


def test_callback_writes_every_epoch_by_train_end(tmp_path):
    import fmlogger

    model = tiny_cnn()
    x, y = tiny_data(16)
    cb = fmlogger.FeatureMapCallback(tmp_path, x[:4], ["conv1"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert cb.logger.pending_steps == 0
    assert image_steps(read_run(cb.logger.run_dir), "feature_maps/conv1") == [0, 1, 2, 3]
