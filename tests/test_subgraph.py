"""Capture runs only the sub-graph the chosen layers need, with the same values and call names.

Each model carries a ``spy``: a Lambda that counts its calls (traced or eager) past the chosen
layers. A capture must never call it, and must give the values Keras computes for those layers.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fmlogger.capture import Capture  # noqa: E402
from fmlogger.capture.subgraph import Plan, output_shapes  # noqa: E402
from helpers.backend import TRACES  # noqa: E402
from helpers.models import conv_block  # noqa: E402


def _spy(calls: list, name="spy"):
    def count(t):
        calls.append(1)
        return t

    return keras.layers.Lambda(count, name=name)


def _x(shape=(3, 12, 12, 1), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _full_pass(model, layers, x) -> dict:
    """What the call hooks see in a whole forward pass (the capture before sub-graphs)."""
    from fmlogger.capture.hooks import call_name, hooked

    seen: dict = {}

    def record(path, output):
        seen[call_name(path, sum(n.split("#")[0] == path for n in seen))] = _np(output)

    with hooked(layers, record):
        model(x, training=False)
    return seen


def _backbone(calls):
    """c1 -> c1_relu -> [spy] -> c2: nested, 12x12x3 in."""
    bb_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(bb_in)
    h = keras.layers.ReLU(name="c1_relu")(h)
    h = keras.layers.Conv2D(5, 3, padding="same", name="c2")(_spy(calls, "inner_spy")(h))
    return keras.Model(bb_in, h, name="backbone")


def test_default_choice_reads_shapes_from_the_graph_and_skips_the_head():
    keras.utils.set_random_seed(0)
    calls: list = []
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(3, 3, name="conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = _spy(calls)(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    calls.clear()  # building the graph called it once, symbolically
    assert output_shapes(model) == {
        "conv1": (1, 10, 10, 3), "conv2": (1, 8, 8, 4), "gap": (1, 4), "spy": (1, 4), "head": (1, 2)
    }
    x = _x()
    capture = Capture(model, None, x)
    out = capture(x)
    # no eager pass over every layer, and the head is not in the trace
    assert capture.paths == ["conv1", "conv2"] == sorted(out) and calls == []
    conv2 = keras.Model(model.inputs[0], model.get_layer("conv2").output)
    np.testing.assert_allclose(out["conv2"], _np(conv2(x)), rtol=1e-5, atol=1e-6)
    assert capture.trace_count == TRACES


def test_a_nested_layer_by_path_runs_the_backbone_only_up_to_it():
    keras.utils.set_random_seed(0)
    calls: list = []
    backbone = _backbone(calls)
    inputs = keras.Input((12, 12, 1))
    stem = keras.layers.Conv2D(3, 3, padding="same", name="stem")
    x = _spy(calls)(keras.layers.GlobalAveragePooling2D(name="gap")(backbone(stem(inputs), training=False)))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    calls.clear()
    x = _x()
    capture = Capture(model, ["backbone/c1_relu", "stem"], x)
    out = capture(x)
    assert capture.paths == ["stem", "backbone/c1_relu"] == sorted(out, reverse=True) and calls == []
    expected = np.maximum(_np(backbone.get_layer("c1")(stem(x))), 0)
    np.testing.assert_allclose(out["backbone/c1_relu"], expected, rtol=1e-5, atol=1e-6)
    # the plan enters the backbone instead of calling it
    (_, inner), = [(n, p) for n, p in capture.plan.steps if n.operation is backbone]
    assert [n.operation.name for n, _ in inner.steps] == ["c1", "c1_relu"]


def test_a_backbone_applied_to_two_inputs_names_its_calls_in_order():
    keras.utils.set_random_seed(0)
    calls: list = []
    backbone = _backbone(calls)
    a, b = keras.Input((12, 12, 3), name="a"), keras.Input((12, 12, 3), name="b")
    pooled = [keras.layers.GlobalAveragePooling2D()(backbone(t)) for t in (a, b)]
    model = keras.Model([a, b], keras.layers.Dense(2, name="head")(_spy(calls)(keras.layers.Add()(pooled))))
    calls.clear()
    xa, xb = _x((2, 12, 12, 3), 1), _x((2, 12, 12, 3), 2)
    capture = Capture(model, ["backbone/c1"], {"b": xb, "a": xa})
    out = capture({"a": xa, "b": xb})
    assert calls == []
    full = _full_pass(model, capture.layers, {"a": xa, "b": xb})
    assert capture.paths == list(full) == ["backbone/c1", "backbone/c1#1"] == sorted(out)
    c1 = backbone.get_layer("c1")
    # Keras runs the node on 'b' first (same depth, its order); the names follow the calls
    np.testing.assert_allclose(out["backbone/c1"], _np(c1(xb)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["backbone/c1#1"], _np(c1(xa)), rtol=1e-5, atol=1e-6)
    for name, value in full.items():
        np.testing.assert_allclose(out[name], value, rtol=1e-5, atol=1e-6)


def test_a_shared_layer_in_two_branches_and_one_output_of_a_second_input():
    keras.utils.set_random_seed(0)
    calls: list = []
    image, extra = keras.Input((12, 12, 1), name="image"), keras.Input((12, 12, 1), name="extra")
    shared = keras.layers.Conv2D(2, 3, padding="same", name="shared")
    left = keras.layers.Conv2D(2, 3, padding="same", name="left")(shared(image))
    right = shared(keras.layers.Conv2D(1, 1, name="pre")(extra))
    merged = _spy(calls)(keras.layers.Concatenate(name="cat")([left, right]))
    model = keras.Model([image, extra], keras.layers.GlobalAveragePooling2D()(merged))
    calls.clear()
    xi, xe = _x(seed=1), _x(seed=2)
    capture = Capture(model, ["shared", "pre"], [xi, xe])
    out = capture([xi, xe])
    assert calls == []
    full = _full_pass(model, capture.layers, [xi, xe])
    # the names follow the calls of the whole pass, in Keras' order (by depth in the graph)
    assert capture.paths == list(full) == ["pre", "shared", "shared#1"] == sorted(out)
    for name, value in full.items():
        np.testing.assert_allclose(out[name], value, rtol=1e-5, atol=1e-6)


def test_batchnorm_and_dropout_run_in_inference_mode():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    bn = keras.layers.BatchNormalization(name="bn")
    x = keras.layers.Dropout(0.5, name="drop")(bn(x))
    x = keras.layers.Conv2D(2, 1, name="after")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    bn.moving_mean.assign(np.full(4, 0.3, np.float32))
    bn.moving_variance.assign(np.full(4, 4.0, np.float32))
    x = _x()
    out = Capture(model, ["bn", "after"], x)(x)
    reference = keras.Model(model.inputs[0], [model.get_layer("bn").output, model.get_layer("after").output])
    for name, value in zip(["bn", "after"], reference(x, training=False)):
        np.testing.assert_allclose(out[name], _np(value), rtol=1e-5, atol=1e-5)
    trained = _np(reference(x, training=True)[1])
    assert np.abs(trained - out["after"]).max() > 1e-2  # training mode (batch stats, dropout) differs


def test_a_layer_inside_a_custom_block_is_seen_by_the_hooks_and_the_output_is_kept():
    keras.utils.set_random_seed(0)
    calls: list = []
    inputs = keras.Input((12, 12, 1))
    x = conv_block(3, name="block")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(2, name="head")
    model = keras.Model(inputs, head(_spy(calls)(x)))
    calls.clear()
    assert output_shapes(model, [("block/relu", model.get_layer("block").relu)]) is None  # hidden call
    x = _x()
    capture = Capture(model, ["block/relu"], x, include_output=True)
    out = capture(x)
    block = model.get_layer("block")
    np.testing.assert_allclose(out["block/relu"], _np(block(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[Capture.OUTPUT], _np(model(x)), rtol=1e-5, atol=1e-6)


def test_models_without_a_graph_or_with_their_own_call_have_no_plan():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3, name="conv")

        def call(self, x):
            return self.conv(x) * 2.0

    inputs = keras.Input((12, 12, 1))

    class Doubled(keras.Model):
        def call(self, x):
            return super().call(x) * 2.0

    doubled = Doubled(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    x = _x()
    for model in (Net(), doubled):
        capture = Capture(model, ["conv"], x)
        assert capture.plan is None and Plan.build(model, capture.layers) is None
        np.testing.assert_allclose(capture(x)["conv"], _np(model.get_layer("conv")(x)), rtol=1e-5, atol=1e-6)
