"""SummaryWriter.write_step: one event per step that TensorBoard reads like image() and tf.summary.scalar."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from fmlogger.render.png import encode_png
from fmlogger.sinks.events import SummaryWriter
from helpers.runs import read_run


def _events_in_file_order(run_dir):
    from tensorboard.backend.event_processing import event_file_loader

    (name,) = [f for f in os.listdir(run_dir) if "tfevents" in f]
    loader = event_file_loader.EventFileLoader(os.path.join(run_dir, name))
    return [e for e in loader.Load() if e.HasField("summary")]


@pytest.mark.requires_tf  # compared with tf.summary.scalar
def test_write_step_reads_back_like_image_and_scalar(tmp_path, rng):
    images = rng.integers(0, 256, (3, 5, 7, 1), dtype=np.uint8)
    writer = SummaryWriter(tmp_path / "run")
    size = writer.write_step(
        4,
        images=[("feature_maps/a", images, "desc a")],
        scalars=[("feature_map_stats/a/mean", 0.25), ("feature_map_stats/a/std", 2)],
    )
    writer.image("feature_maps/b", images, 4, "desc b")  # the one-tag method still works beside it
    writer.close()
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tmp_path / "run")).as_default():  # TensorFlow's own scalar
        tf.summary.scalar("feature_map_stats/b/mean", 0.5, step=4)
    assert size > 0
    run = read_run(tmp_path / "run")
    assert set(run.images) == {"feature_maps/a", "feature_maps/b"}
    for tag in run.images:
        (event,) = run.images[tag]
        assert event.step == 4
        np.testing.assert_array_equal(event.images, images)  # all 3 samples, not max_outputs=3 by luck
    assert run.descriptions == {"feature_maps/a": "desc a", "feature_maps/b": "desc b"}
    assert run.scalars == {
        "feature_map_stats/a/mean": [(4, 0.25)],
        "feature_map_stats/a/std": [(4, 2.0)],
        "feature_map_stats/b/mean": [(4, 0.5)],
    }


def test_write_step_is_one_event_and_takes_pre_encoded_pngs(tmp_path, rng):
    image = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    writer = SummaryWriter(tmp_path)
    writer.write_step(
        0, pngs=[("feature_maps/rgb", 4, 6, [encode_png(image)] * 2, "")], scalars=[("s/x", 1.0)]
    )
    writer.close()
    events = _events_in_file_order(tmp_path)
    assert len(events) == 1 and [v.tag for v in events[0].summary.value] == ["feature_maps/rgb", "s/x"]
    decoded = read_run(tmp_path).images["feature_maps/rgb"][0].images
    assert decoded.shape == (2, 6, 4, 3)
    np.testing.assert_array_equal(decoded[1], image)


def test_writes_from_two_threads_all_arrive(tmp_path):
    writer = SummaryWriter(tmp_path)

    def write(prefix):
        for step in range(20):
            writer.write_step(step, scalars=[(f"{prefix}/v", float(step))])

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    scalars = read_run(tmp_path).scalars
    assert scalars["a/v"] == scalars["b/v"] == [(s, float(s)) for s in range(20)]
