"""Saliency and Grad-CAM with known answers: tiny models whose evidence is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.models import nested_cnn, tiny_cnn, tiny_data

keras = pytest.importorskip("keras")

from fmlogger.explain.gradcam import gradcam, last_conv_layer
from fmlogger.explain.saliency import Saliency, integrated_gradients, smoothgrad, vanilla_gradients
from fmlogger.render.overlay import attribution_map


def half_model(side: str):
    """Sees only one half of its 16x16 input: Cropping2D throws the other half away."""
    keras.utils.set_random_seed(1)
    crop = ((0, 0), (0, 8)) if side == "left" else ((0, 0), (8, 0))
    inputs = keras.Input((16, 16, 2))
    x = keras.layers.Cropping2D(crop, name="crop")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="tanh", name="conv")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(
        inputs, keras.layers.Dense(3, activation="softmax", name="head")(x), name=f"{side}_half"
    )


def squares(n, seed, size=24, side=5):
    """Noise in [0, 0.4); label 1 samples carry a bright 5x5 square at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.4, (n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, size - side + 1, (n, 2))
    for i in np.flatnonzero(y):
        r, c = pos[i]
        x[i, r : r + side, c : c + side] = 1.0
    return x, y, pos


@pytest.fixture(scope="module")
def square_detector():
    """A nested backbone (conv1, conv2) -> global max pool -> one sigmoid unit, trained to find the square."""
    model = nested_cnn(size=24, filters=(8, 8), pooling="max", classes=1, name="square_detector")
    x, y, _ = squares(512, 0)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model


# ----- known answers -------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
def test_saliency_mass_lies_on_the_half_the_model_sees(side, rng):
    model = half_model(side)
    x = rng.random((4, 16, 16, 2), dtype=np.float32)
    sal = Saliency(model, batch_size=8)
    maps = {
        "vanilla": attribution_map(sal.vanilla(x), "max_abs"),
        "smoothgrad": attribution_map(sal.smoothgrad(x, samples=8), "max_abs"),
        "integrated_gradients": attribution_map(sal.integrated_gradients(x, steps=16), "abs_sum"),
    }
    seen = slice(0, 8) if side == "left" else slice(8, 16)
    for method, m in maps.items():
        assert m.shape == (4, 16, 16)
        fraction = m[:, :, seen].sum(axis=(1, 2)) / m.sum(axis=(1, 2))
        assert np.all(fraction >= 0.9), (method, fraction)
        assert np.all(m[:, :, seen].max(axis=(1, 2)) > 0), method


def test_integrated_gradients_completeness(rng):
    model = tiny_cnn()
    x = rng.random((6, 16, 16, 1), dtype=np.float32)
    sal = Saliency(model)
    for baseline in (0.0, 0.5):
        for target in ("predicted", 1):
            attr = sal.integrated_gradients(x, target, baseline=baseline, steps=64)
            classes = sal.targets(x, target)
            delta = sal.scores(x, classes) - sal.scores(np.full_like(x, baseline), classes)
            total = attr.reshape(6, -1).sum(axis=1)
            assert np.all(np.abs(delta) > 1e-3)  # a real difference to explain
            np.testing.assert_allclose(total, delta, rtol=0.02, atol=1e-5)


def test_integrated_gradients_completeness_binary_head_both_classes(square_detector):
    x, _, _ = squares(6, 3)
    sal = Saliency(square_detector)
    for target in (0, 1):
        attr = sal.integrated_gradients(x, target, steps=64)
        delta = sal.scores(x, target) - sal.scores(np.zeros_like(x), target)
        np.testing.assert_allclose(attr.reshape(6, -1).sum(axis=1), delta, rtol=0.02, atol=2e-3)


def test_gradcam_peak_lies_inside_the_bright_square_nested_backbone(square_detector):
    x, y, pos = squares(64, 1)
    keep = np.flatnonzero(y)
    cam = gradcam(square_detector, x[keep], "backbone/conv2", target=1)
    assert cam.shape == (len(keep), 24, 24)
    peaks = np.stack(np.unravel_index(cam.reshape(len(keep), -1).argmax(axis=1), (24, 24)), axis=1)
    inside = np.all((peaks >= pos[keep]) & (peaks < pos[keep] + 5), axis=1)
    assert inside.mean() >= 0.9, (inside.mean(), peaks[~inside], pos[keep][~inside])


def test_gradcam_bare_name_reaches_the_nested_layer(square_detector):
    x, _, _ = squares(4, 2)
    sal = Saliency(square_detector)
    np.testing.assert_allclose(sal.gradcam(x, "conv2", 1), sal.gradcam(x, "backbone/conv2", 1), rtol=1e-6)
    assert sal.gradcam(x, "backbone/conv2", 1, upsample=False).shape == (4, 24, 24)
    assert last_conv_layer(square_detector, x) == "backbone/conv2"


# ----- binary heads --------------------------------------------------------------------------
def _binary(activation):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="tanh")(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation=activation, name="head")(h))


@pytest.mark.parametrize(
    "activation, kind, threshold", [("sigmoid", "probability", 0.5), ("linear", "logit", 0.0)]
)
def test_binary_head_classes_scores_and_gradients(activation, kind, threshold, rng):
    model = _binary(activation)
    x = rng.normal(size=(10, 8, 8, 1)).astype(np.float32)
    sal = Saliency(model)
    out = keras.ops.convert_to_numpy(model(x))[:, 0]
    assert sal.binary and sal.binary_output == kind
    np.testing.assert_array_equal(sal.targets(x, "predicted"), (out >= threshold).astype(int))
    # class 1 scores the output; class 0 scores 1 - p (probability) or -z (logit)
    np.testing.assert_allclose(sal.scores(x, 1), out, rtol=1e-5)
    np.testing.assert_allclose(
        sal.scores(x, 0), (1 - out) if kind == "probability" else -out, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(sal.vanilla(x, 0), -sal.vanilla(x, 1), rtol=1e-5, atol=1e-8)
    assert np.abs(sal.vanilla(x, 1)).max() > 0
    # float labels (0./1.) and [n, 1] labels pick the same classes
    labels = (rng.random(10) > 0.5).astype(np.float32)
    np.testing.assert_array_equal(sal.targets(x, "label", labels[:, None]), labels.astype(int))


# ----- targets, batching, tracing ------------------------------------------------------------
def test_targets_label_predicted_int_and_sequence():
    model = tiny_cnn()
    x, y = tiny_data(5)
    sal = Saliency(model)
    predicted = keras.ops.convert_to_numpy(model(x)).argmax(axis=1)
    np.testing.assert_array_equal(sal.targets(x, "predicted"), predicted)
    np.testing.assert_array_equal(sal.targets(x, "label", y), y)
    np.testing.assert_array_equal(sal.targets(x, "label", np.eye(2)[y]), y)  # one-hot labels
    np.testing.assert_array_equal(sal.targets(x, 1), [1] * 5)
    np.testing.assert_array_equal(sal.targets(x, [0, 1, 0, 1, 1]), [0, 1, 0, 1, 1])
    # the gradient of the label's score is the label's column of the per-class gradients
    per_class = np.stack([sal.vanilla(x, c) for c in (0, 1)])
    np.testing.assert_allclose(sal.vanilla(x, "label", labels=y), per_class[y, np.arange(5)], rtol=1e-6)


@pytest.mark.parametrize(
    "target, labels, message",
    [
        (2, None, r"target classes must lie in \[0, 2\)"),
        ("label", None, "needs labels"),
        ("best", None, "target must be one of"),
        ([0, 1], None, "one int class per sample"),
    ],
)
def test_bad_targets_say_what_is_allowed(target, labels, message):
    x, _ = tiny_data(3)
    with pytest.raises(ValueError, match=message):
        Saliency(tiny_cnn()).vanilla(x, target, labels=labels)


def test_one_trace_for_any_batch_size_and_chunking_does_not_change_results(rng):
    model = tiny_cnn()
    x = rng.random((7, 16, 16, 1), dtype=np.float32)
    small, large = Saliency(model, batch_size=2), Saliency(model, batch_size=64)
    g_small = small.vanilla(x, 1)
    count = small.trace_count
    small.vanilla(x[:3], 1)
    small.smoothgrad(x, 1, samples=5)
    small.integrated_gradients(x, 1, steps=9)
    assert small.trace_count == count  # no retrace for other batch sizes or methods
    np.testing.assert_allclose(g_small, large.vanilla(x, 1), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        small.integrated_gradients(x, 1, steps=9),
        large.integrated_gradients(x, 1, steps=9),
        rtol=1e-4,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        small.smoothgrad(x, 1, samples=5), large.smoothgrad(x, 1, samples=5), rtol=1e-4, atol=1e-7
    )


def test_smoothgrad_is_seeded_and_averages_noisy_gradients(rng):
    model = tiny_cnn()
    x = rng.random((3, 16, 16, 1), dtype=np.float32)
    a = smoothgrad(model, x, 1, samples=4, seed=5)
    np.testing.assert_array_equal(a, smoothgrad(model, x, 1, samples=4, seed=5))
    assert not np.allclose(a, smoothgrad(model, x, 1, samples=4, seed=6))
    # zero noise: every copy is x itself, so SmoothGrad equals the plain gradient
    np.testing.assert_allclose(
        smoothgrad(model, x, 1, samples=3, noise=0.0), vanilla_gradients(model, x, 1), rtol=1e-5, atol=1e-8
    )


def test_input_not_mutated_and_baseline_shape_checked(rng):
    model = tiny_cnn()
    x = rng.random((2, 16, 16, 1), dtype=np.float32)
    before = x.copy()
    integrated_gradients(model, x, 0, baseline=np.zeros((16, 16, 1), np.float32), steps=4)
    smoothgrad(model, x, 0, samples=2)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="baseline must be a number or broadcast"):
        integrated_gradients(model, x, 0, baseline=np.zeros((3, 3)))


def test_gradcam_layer_errors_name_the_layer():
    model = tiny_cnn()
    x, _ = tiny_data(2)
    with pytest.raises(ValueError, match="Did you mean 'conv2'"):
        gradcam(model, x, "conv9")
    with pytest.raises(ValueError, match="must have a 4-D output"):
        gradcam(model, x, "gap")
    with pytest.raises(ValueError, match="take one input array"):
        vanilla_gradients(model, [x, x])


def test_subclassed_model_vanilla_and_gradcam(rng):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.head = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.head(self.pool(self.conv(x)))

    keras.utils.set_random_seed(3)
    model = Net()
    x = rng.random((3, 10, 10, 1), dtype=np.float32)
    model(x)
    sal = Saliency(model)
    assert sal.vanilla(x, 0).shape == (3, 10, 10, 1)
    cam = sal.gradcam(x, "conv", 0)
    assert cam.shape == (3, 10, 10) and np.all(cam >= 0)


def test_methods_sharing_one_chunked_pass_equal_each_method_alone(rng):
    from fmlogger.explain.plans import integrated_gradients_plan, smoothgrad_plan, vanilla_plan

    model = tiny_cnn()
    x = rng.random((3, 16, 16, 1), dtype=np.float32)
    classes = np.array([0, 1, 1], np.int32)
    sal = Saliency(model, batch_size=5)  # chunks of 5 rows straddle the methods: 3 | 3 x 4 | 3 x 7
    sal.targets(x, classes)  # builds the compiled functions
    calls, grads = [], sal._grads

    def counted(rows, row_classes):
        calls.append(len(rows))
        return grads(rows, row_classes)

    sal._grads = counted
    plans = [
        vanilla_plan(x),
        smoothgrad_plan(x, samples=4, noise=0.2, seed=3),
        integrated_gradients_plan(x, baseline=0.1, steps=6),
    ]
    together = sal.attribute(x, classes, plans)
    assert calls == [5] * 7 + [1]  # 3 + 12 + 21 = 36 rows in 8 calls; alone: 1 + 3 + 5 = 9
    alone = [
        sal.vanilla(x, classes),
        sal.smoothgrad(x, classes, samples=4, noise=0.2, seed=3),
        sal.integrated_gradients(x, classes, baseline=0.1, steps=6),
    ]
    for a, b in zip(together, alone):
        assert a.dtype == np.float32 and a.shape == x.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)  # the same noise, the same path

