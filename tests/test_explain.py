"""saliency=, gradcam=, activation_max= through FeatureMapCallback / FeatureMapLogger: tags, steps,
images and descriptions read back from real event files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from helpers.models import nested_cnn, tiny_cnn, tiny_data
from helpers.runs import image_steps, read_run

keras = pytest.importorskip("keras")

from fmlogger import tags
from fmlogger.callback import FeatureMapCallback
from fmlogger.explain.settings import ExplainSettings
from fmlogger.logger import FeatureMapLogger


def test_callback_writes_every_explanation_at_every_epoch(tmp_path):
    model = nested_cnn()  # backbone (conv1, conv2) nested in an outer model, 2-class head
    x, y = tiny_data(32)
    cb = FeatureMapCallback(
        tmp_path,
        (x, y),
        ["backbone/conv1"],
        max_samples=3,
        saliency=["vanilla", "smoothgrad", "integrated_gradients"],
        gradcam=["backbone/conv2"],
        activation_max={"backbone/conv1": [0, 2]},
        explain_settings=ExplainSettings(smoothgrad_samples=4, ig_steps=8, actmax_steps=8, min_size=64),
        on_error="raise",
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    expected = {
        tags.image_tag("backbone/conv1"),
        "saliency/vanilla",
        "saliency/smoothgrad",
        "saliency/integrated_gradients",
        "gradcam/backbone/conv2",
        "activation_max/backbone/conv1",
    }
    assert {t for t in run.images if not t.startswith(tags.TIMELINE_PREFIX)} == expected
    for tag in expected:
        assert image_steps(run, tag) == [0, 1, 2], tag
    for tag in ("saliency/vanilla", "saliency/integrated_gradients", "gradcam/backbone/conv2"):
        for event in run.images[tag]:
            assert event.images.shape == (3, 64, 64, 3)  # one RGB overlay per probe sample, 16 px * 4
        assert "target: labels (" + ", ".join(str(v) for v in y[:3]) + ")" in run.descriptions[tag]
    # the model trains, so what drives its decision changes between epoch 0 and epoch 2
    first, last = run.images["saliency/vanilla"][0].images, run.images["saliency/vanilla"][-1].images
    assert not np.array_equal(first, last)
    actmax = run.images["activation_max/backbone/conv1"]
    assert actmax[0].images.shape[0] == 1  # one tiled image per layer: 2 channels side by side
    grid = actmax[0].images[0]
    assert grid.shape[1] > 2 * grid.shape[0] - 4
    assert "channels [0, 2]" in run.descriptions["activation_max/backbone/conv1"]


def test_every_n_steps_thins_out_explanations_but_not_feature_maps(tmp_path):
    model = tiny_cnn()
    x, y = tiny_data(16)
    cb = FeatureMapCallback(
        tmp_path,
        x,
        ["conv1"],
        saliency="vanilla",
        gradcam=["conv2"],
        explain_settings=ExplainSettings(every_n_steps=2, target="predicted"),
        on_error="raise",
    )
    model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert image_steps(run, tags.image_tag("conv1")) == [0, 1, 2, 3]
    assert image_steps(run, "saliency/vanilla") == [0, 2]
    assert image_steps(run, "gradcam/conv2") == [0, 2]
    assert "target: predicted class" in run.descriptions["gradcam/conv2"]


def test_logger_alone_uses_labels_of_an_xy_tuple_and_writes_only_explanations(tmp_path):
    model = tiny_cnn()
    x, y = tiny_data(4)
    with FeatureMapLogger(tmp_path, [], saliency=["vanilla"], gradcam=["conv2"], on_error="raise") as logger:
        assert logger.log(model, (x, 1 - y), step=7) == {}
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert set(run.images) == {"saliency/vanilla", "gradcam/conv2"}
    assert image_steps(run, "saliency/vanilla") == [7]
    assert "labels (" + ", ".join(str(v) for v in (1 - y)) + ")" in run.descriptions["saliency/vanilla"]


def test_unknown_layers_and_methods_fail_before_training(tmp_path):
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="saliency entries must be among"):
        FeatureMapCallback(tmp_path, x, saliency=["gradients"])
    with pytest.raises(ValueError, match="no patterns"):
        FeatureMapCallback(tmp_path, x, gradcam=["conv*"])
    with pytest.raises(ValueError, match=r"activation_max\['conv1'\]"):
        FeatureMapCallback(tmp_path, x, activation_max={"conv1": "all"})
    with pytest.raises(ValueError, match="alpha must be"):
        ExplainSettings(alpha=2)
    model = tiny_cnn()
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], gradcam=["conv3"])
    with pytest.raises(ValueError, match="gradcam layer 'conv3'.*Did you mean"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], gradcam=["gap"])
    with pytest.raises(ValueError, match="gradcam layers must have 4-D outputs; layer 'gap' has shape"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], activation_max={"conv1": [9]})
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    cb = FeatureMapCallback(
        tmp_path, x, ["conv1"], saliency=["vanilla"], explain_settings=ExplainSettings(target=5)
    )
    with pytest.raises(ValueError, match=r"target classes must lie in \[0, 2\)"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])


class Round(keras.layers.Layer):
    """Rounds its input: no gradient flows through it."""

    def call(self, x):
        return keras.ops.round(x)


def test_a_failing_explainer_warns_once_and_the_rest_is_logged(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(Round(name="round")(inputs))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = tiny_data(16)
    # saliency needs d output / d input, which the rounding blocks; Grad-CAM on conv1 does not
    # (the two saliency methods share one gradient pass; when it fails each is tried alone)
    methods = ["vanilla", "smoothgrad"]
    cb = FeatureMapCallback(tmp_path, (x, y), ["conv1"], saliency=methods, gradcam=["conv1"])
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    for method in methods:
        warnings = [r.getMessage() for r in caplog.records if f"saliency '{method}'" in r.getMessage()]
        assert len(warnings) == 1 and "no gradient flows" in warnings[0]
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert image_steps(run, "gradcam/conv1") == [0, 1, 2]
    assert image_steps(run, tags.image_tag("conv1")) == [0, 1, 2]
    assert "saliency/vanilla" not in run.images and "saliency/smoothgrad" not in run.images
    cb = FeatureMapCallback(tmp_path / "strict", x, ["conv1"], saliency=["vanilla"], on_error="raise")
    with pytest.raises(ValueError, match="no gradient flows"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])


def test_binary_head_through_the_callback(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = tiny_data(8, shape=(12, 12, 1))
    cb = FeatureMapCallback(
        tmp_path,
        (x, y.astype("float32")),
        [],
        saliency=["integrated_gradients"],
        gradcam=["conv"],
        explain_settings=ExplainSettings(ig_steps=4),
        on_error="raise",
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert image_steps(run, "gradcam/conv") == [0, 1]
    assert "labels (" + ", ".join(str(int(v)) for v in y[:4]) + ")" in run.descriptions["gradcam/conv"]
