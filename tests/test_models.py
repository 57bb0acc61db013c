"""Every model kind through ``fit`` + ``FeatureMapCallback``: the tags and steps in the event files.

Each case builds a tiny model, trains it for one epoch with the callback and reads the run back
with TensorBoard's reader: the expected ``feature_maps/<path>`` tags must be there at steps 0
(untrained) and 1 (after the epoch), with their statistics, and the forward pass traced once.
"""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger import tags
from helpers.backend import TRACES
from helpers.models import conv_block, tiny_cnn
from helpers.runs import feature_map_tags, read_run

N, SIZE = 8, 16


def _data(shape=(SIZE, SIZE, 1), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((N,) + shape, dtype=np.float32), rng.integers(0, 2, N)


def _head(x):
    import keras

    pool = (
        keras.layers.GlobalAveragePooling2D(name="gap")
        if len(x.shape) == 4
        else keras.layers.Flatten(name="flat")
    )
    x = pool(x)
    return keras.layers.Dense(2, activation="softmax", name="head", dtype="float32")(x)


def _compiled(model):
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def sequential():
    import keras

    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")],
        name="seq",
    )
    return _compiled(model), _data(), ["conv1"], {"conv1"}


def sequential_unbuilt():
    import keras

    model = keras.Sequential(
        [keras.layers.Conv2D(4, 3, activation="relu", name="conv1"), keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(2, activation="softmax")],
    )
    return _compiled(model), _data(), ["conv1"], {"conv1"}


def functional():
    return tiny_cnn(), _data(), ["conv*"], {"conv1", "conv2"}


def _backbone():
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    x = keras.layers.ReLU(name="c1_relu")(x)
    x = keras.layers.Conv2D(4, 3, name="c2")(x)
    x = keras.layers.ReLU(name="c2_relu")(x)
    return keras.Model(inputs, x, name="backbone")


def nested_functional():
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    model = keras.Model(inputs, _head(_backbone()(inputs)))
    # a glob over paths and a plain path
    expected = {"backbone/c1", "backbone/c1_relu", "backbone/c2_relu"}
    return _compiled(model), _data(), ["backbone/*relu", "backbone/c1"], expected


def nested_application():
    import keras

    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False
    )
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, _head(backbone(inputs)))
    name = backbone.name  # "mobilenetv2_0.35_32"
    return _compiled(model), _data((32, 32, 3)), [f"{name}/block_3_expand_relu", f"{name}/block_1_*_relu"], {
        f"{name}/block_3_expand_relu", f"{name}/block_1_expand_relu", f"{name}/block_1_depthwise_relu"
    }


def backbone_twice():
    """One backbone, called with ``training=False``, on two inputs: its layers are called twice."""
    import keras

    backbone = _backbone()
    left, right = keras.Input((SIZE, SIZE, 1), name="left"), keras.Input((SIZE, SIZE, 1), name="right")
    merged = keras.layers.Add()([backbone(left, training=False), backbone(right, training=False)])
    model = keras.Model([left, right], _head(merged))
    (x, y), other = _data(), _data(seed=1)[0]
    expected = {"backbone/c1", "backbone/c1#1", "backbone/c1_relu", "backbone/c1_relu#1"}
    return _compiled(model), ([x, other], y), ["backbone/c1*"], expected


def sequential_in_sequential():
    import keras

    inner = keras.Sequential(
        [keras.layers.Conv2D(4, 3, activation="relu", name="ic1"), keras.layers.Conv2D(3, 3, name="ic2")],
        name="inner",
    )
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 1)), inner, keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(2, activation="softmax")]
    )
    return _compiled(model), _data(), ["inner/ic1", "inner/ic2"], {"inner/ic1", "inner/ic2"}


def subclassed():
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.stem = keras.layers.Conv2D(4, 3, name="stem")
            self.block = conv_block(3, name="block")
            self.gap = keras.layers.GlobalAveragePooling2D()
            self.out = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.out(self.gap(self.block(self.stem(x))))

    # not built when the callback is created: resolved at train begin
    return _compiled(Net()), _data(), ["stem", "block/relu"], {"stem", "block/relu"}


def shared_layer():
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    shared = keras.layers.Conv2D(1, 3, padding="same", name="shared")
    model = keras.Model(inputs, _head(shared(shared(inputs))))
    return _compiled(model), _data(), ["shared"], {"shared", "shared#1"}


def _two_inputs():
    import keras

    image = keras.Input((SIZE, SIZE, 1), name="image")
    extra = keras.Input((4,), name="extra")
    x = keras.layers.Conv2D(3, 3, name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, extra])
    model = keras.Model([image, extra], keras.layers.Dense(2, activation="softmax")(x))
    (x, y), extra_x = _data(), np.random.default_rng(1).random((N, 4), dtype=np.float32)
    return _compiled(model), x, extra_x, y


def multi_input_list():
    model, x, extra, y = _two_inputs()
    return model, ([x, extra], y), ["conv"], {"conv"}


def multi_input_dict():
    model, x, extra, y = _two_inputs()
    return model, ({"image": x, "extra": extra}, y), ["conv"], {"conv"}


def preprocessing_uint8():
    import keras

    model = keras.Sequential(
        [keras.Input((20, 20, 3), dtype="uint8"), keras.layers.Resizing(SIZE, SIZE, name="resize"),
         keras.layers.Rescaling(1 / 255, name="rescale"), keras.layers.Conv2D(4, 3, name="conv"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (N, 20, 20, 3)).astype(np.uint8)
    return _compiled(model), (x, rng.integers(0, 2, N)), ["rescale", "conv"], {"rescale", "conv"}


def _policy_model():
    import keras

    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax", dtype="float32")]
    )
    return _compiled(model), _data(), ["conv"], {"conv"}


def mixed_float16():
    return _policy_model()


def mixed_bfloat16():
    return _policy_model()


def channels_first():
    import keras

    model = keras.Sequential(
        [keras.Input((1, SIZE, SIZE)), keras.layers.Conv2D(5, 3, data_format="channels_first", name="conv"),
         keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    )
    x, y = _data()
    return _compiled(model), (x.transpose(0, 3, 1, 2), y), ["conv"], {"conv"}


def dense_only():
    import keras

    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(6, activation="relu", name="d1"),
         keras.layers.Dense(2, activation="softmax", name="d2")]
    )
    return _compiled(model), _data((8,)), ["d1"], {"d1"}


def nan_layer():
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    # log of a negative value is NaN, log(0) is -inf: every step draws the marker colour
    x = keras.layers.Lambda(lambda t: keras.ops.log(t), name="nan_maker")(x)
    return _compiled(keras.Model(inputs, _head(x))), _data(), ["nan_maker"], {"nan_maker"}


CASES = [
    sequential, sequential_unbuilt, functional, nested_functional, nested_application, backbone_twice,
    sequential_in_sequential, subclassed, shared_layer, multi_input_list, multi_input_dict,
    preprocessing_uint8, mixed_float16, mixed_bfloat16, channels_first, dense_only, nan_layer,
]


@pytest.fixture
def policy(request):
    """Sets the mixed-precision policy the case's name asks for, and restores float32 after."""
    import keras

    name = request.node.callspec.params["case"].__name__
    if name.startswith("mixed_"):
        keras.mixed_precision.set_global_policy(name)
    yield name
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_fit_logs_expected_tags_and_steps(case, policy, tmp_path):
    import keras

    from fmlogger import FeatureMapCallback

    keras.utils.set_random_seed(0)
    model, (x, y), layers, expected = case()
    probe = x if not isinstance(x, np.ndarray) else x[:2]
    callback = FeatureMapCallback(tmp_path, probe, layers, max_samples=2, on_error="raise")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback])

    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert feature_map_tags(run) == {tags.image_tag(p) for p in expected}
    for path in expected:
        events = run.images[tags.image_tag(path)]
        assert [e.step for e in events] == [0, 1]
        assert all(e.images.shape[0] == 2 and e.images.dtype == np.uint8 for e in events)
        for stat in tags.STAT_NAMES:
            assert [s for s, _ in run.scalars[tags.stat_tag(path, stat)]] == [0, 1]
    assert callback.logger.trace_count == TRACES  # traced once (PyTorch: eager, 0)
    if policy.startswith("mixed_"):
        _check_low_precision(model, run, policy)
    if policy == "channels_first":
        # 5 channels of 14x14: read as channels_last it would be 14 channels of 5x14
        assert run.descriptions["feature_maps/conv"].startswith("conv (5, 14, 14); 5 of 5 channels")
    if policy == "nan_layer":
        nonfinite = dict(run.scalars[tags.stat_tag("nan_maker", "nonfinite")])
        assert nonfinite[0] > 0 and nonfinite[1] > 0
        assert run.images["feature_maps/nan_maker"][0].images.shape[-1] == 3  # marker colour -> RGB


def _check_low_precision(model, run, policy):
    """float16/bfloat16 activations are cast to float32 and drawn like float32 ones would be."""
    import keras

    from fmlogger.render.renderer import Renderer

    conv = model.get_layer("conv")
    assert conv.compute_dtype == policy.split("_")[1]
    x = _data()[0][:2]
    # Reference: the same conv computed in float32 from the same weights, rendered by fmlogger.
    kernel, bias = (np.asarray(keras.ops.convert_to_numpy(w), np.float32) for w in conv.weights)
    ref = np.maximum(keras.ops.convert_to_numpy(keras.ops.conv(x, kernel)) + bias, 0)
    expected = Renderer().render("conv", ref).images
    got = run.images["feature_maps/conv"][-1].images
    assert got.shape == expected.shape
    # per-map min/max scaling of a low-precision copy: a few codes of rounding at most
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= (8 if policy == "mixed_bfloat16" else 2)
    assert dict(run.scalars[tags.stat_tag("conv", "nonfinite")])[1] == 0
