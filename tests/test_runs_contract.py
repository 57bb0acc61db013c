"""Contract: fmlogger's reader sees exactly what TensorBoard's own accumulator sees.

A real run (tiny Keras model, FeatureMapCallback, 2 epochs) is read twice: with
``fmlogger.runs`` (no TensorFlow) and with TensorBoard's ``EventAccumulator``, the oracle. Every
(tag, step, value) must agree, and the decoded pixels must equal TensorFlow's and Pillow's.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.runs.events import iter_summaries
from fmlogger.runs.png_decode import decode_png, decode_png_numpy
from fmlogger.runs.read import read_run
from helpers.models import tiny_cnn, tiny_data


@pytest.fixture(scope="module", params=["gray", "viridis"])
def run_dir(request, tmp_path_factory):
    from fmlogger.callback import FeatureMapCallback

    log_dir = tmp_path_factory.mktemp(f"contract_{request.param}")
    x, y = tiny_data(8)
    model = tiny_cnn()
    callback = FeatureMapCallback(log_dir, x, ["conv1", "conv2"], max_samples=3, colormap=request.param)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[callback])
    return str(log_dir / tags.RUN_SUBDIR)


def accumulated(run_dir):
    """``{tag: [(step, plugin, values), ...]}`` as TensorBoard's accumulator holds them (all steps)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {
        tag: [
            (
                e.step,
                acc.SummaryMetadata(tag).plugin_data.plugin_name,
                tensor_util.make_ndarray(e.tensor_proto),
            )
            for e in acc.Tensors(tag)
        ]
        for tag in acc.Tags()[pea.TENSORS]
    }


def test_every_tag_step_and_value_matches_tensorboards_accumulator(run_dir):
    from tensorboard.util import tensor_util

    ours: dict = {}
    for s in iter_summaries(run_dir):
        if s.value.HasField("tensor"):
            plugin = s.metadata.plugin_data.plugin_name
            ours.setdefault(s.tag, []).append((s.step, plugin, tensor_util.make_ndarray(s.value.tensor)))
    oracle = accumulated(run_dir)
    assert sorted(ours) == sorted(oracle)
    plugins = {entries[0][1] for entries in oracle.values()}
    assert {"images", "scalars", "text"} <= plugins
    assert {tags.image_tag("conv1"), tags.timeline_tag("conv2")} <= set(oracle)
    for tag, entries in oracle.items():
        assert [(step, plugin) for step, plugin, _ in ours[tag]] == [
            (step, plugin) for step, plugin, _ in entries
        ]
        for (_, _, mine), (_, _, theirs) in zip(ours[tag], entries):
            assert mine.dtype == theirs.dtype
            np.testing.assert_array_equal(mine, theirs)  # PNG bytes, scalar values, text


def test_read_run_matches_the_accumulator_and_decodes_like_tensorflow_and_pillow(run_dir):
    import tensorflow as tf
    from PIL import Image

    oracle = accumulated(run_dir)
    run = read_run(run_dir)
    image_tags = {tag for tag, entries in oracle.items() if entries[0][1] == "images"}
    assert set(run.images) == image_tags and image_tags
    scalar_tags = {tag for tag, entries in oracle.items() if entries[0][1] == "scalars"}
    assert run.scalars == {
        tag: sorted((step, float(values)) for step, _, values in oracle[tag]) for tag in scalar_tags
    }
    decoded = 0
    for tag in image_tags:
        expected = sorted(oracle[tag], key=lambda e: e[0])
        assert [e.step for e in run.images[tag]] == [step for step, _, _ in expected] == [0, 1, 2]
        for event, (_, _, blobs) in zip(run.images[tag], expected):
            assert event.pngs == tuple(blobs[2:])
            samples = 3 if tag.startswith(tags.IMAGE_PREFIX) else 1  # a timeline is one image
            assert event.images.shape[0] == len(blobs) - 2 == samples
            for png, pixels in zip(event.pngs, event.images):
                np.testing.assert_array_equal(pixels, tf.io.decode_png(png).numpy())
                np.testing.assert_array_equal(decode_png_numpy(png), pixels)
                with Image.open(io.BytesIO(png)) as image:
                    np.testing.assert_array_equal(np.asarray(image).reshape(pixels.shape), pixels)
                assert decode_png(png).shape == pixels.shape
                decoded += 1
    assert decoded == 2 * 3 * (3 + 1)  # 2 layers x 3 steps x (3 samples + 1 timeline)
    channels = {e.images.shape[-1] for tag in image_tags for e in run.images[tag]}
    assert channels == ({1} if "contract_gray" in run_dir else {3})  # gray maps, or viridis RGB
