"""Activation maximization against a channel whose filter is a known pattern."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.backend import TRACES
from helpers.models import tiny_cnn

keras = pytest.importorskip("keras")

from fmlogger.explain.actmax import ActivationMaximizer, activation_maximization

H = 12


def plus_pattern() -> np.ndarray:
    """+1 on a plus sign 4 px wide through the centre, -1 elsewhere (80 and 64 pixels)."""
    yy, xx = np.mgrid[0:H, 0:H]
    return np.where((np.abs(yy - 5.5) < 2) | (np.abs(xx - 5.5) < 2), 1.0, -1.0).astype(np.float32)


@pytest.fixture(scope="module")
def pattern_model():
    """One linear 12x12 'valid' convolution on a 12x12 input: channel 0's filter is the plus
    pattern, channel 1's its negative; each channel has one output unit, ``sum(filter * x)``."""
    inputs = keras.Input((H, H, 1))
    conv = keras.layers.Conv2D(2, H, use_bias=False, name="pattern")
    model = keras.Model(inputs, keras.layers.Flatten()(conv(inputs)), name="pattern_model")
    p = plus_pattern()
    conv.set_weights([np.stack([p, -p], axis=-1)[:, :, None, :]])
    return model


@pytest.mark.parametrize("parametrization", ["pixel", "fourier"])
def test_activation_rises_and_image_correlates_with_the_filter(pattern_model, parametrization):
    result = activation_maximization(
        pattern_model, "pattern", [0, 1], steps=48, jitter=1, parametrization=parametrization, seed=0
    )
    p = plus_pattern()
    assert result.images.shape == (2, H, H, 1) and result.channels == (0, 1)
    # the start is mid-grey: 0.5 * sum(pattern) = 0.5 * (80 - 64) = 8 for channel 0, -8 for 1
    np.testing.assert_allclose(result.initial, [8.0, -8.0], atol=0.5)
    assert np.all(result.final > result.initial + 25)
    # monotone up to the jitter's noise: 8-step means rise every time
    means = result.history.reshape(6, 8, 2).mean(axis=1)
    assert np.all(np.diff(means, axis=0) > 0), means
    for image, filt in zip(result.images[..., 0], (p, -p)):
        assert np.corrcoef(image.ravel(), filt.ravel())[0, 1] > 0.85


def test_without_jitter_every_step_raises_the_activation(pattern_model):
    result = ActivationMaximizer(pattern_model, "pattern", steps=32, jitter=0, tv=0.0, l2=0.0)([0])
    assert np.all(np.diff(result.history[:, 0]) > 0)
    # from 8 (mid-grey) towards the optimum 80 (white where the filter is +1, black where -1)
    assert result.final[0] > 40


def test_images_stay_in_value_range_and_are_seeded(pattern_model):
    maxer = ActivationMaximizer(pattern_model, "pattern", steps=8, value_range=(0, 255), seed=3)
    a = maxer([1])
    assert a.images.min() >= 0 and a.images.max() <= 255 and a.images.max() > 150
    np.testing.assert_array_equal(a.images, maxer([1]).images)
    assert maxer.trace_count == 2 * TRACES  # one step function and one evaluation, traced once each
    other = ActivationMaximizer(pattern_model, "pattern", steps=8, value_range=(0, 255), seed=4)([1])
    assert not np.array_equal(a.images, other.images)


def test_layer_inside_a_conv_net_and_channel_choice():
    model = tiny_cnn()
    result = ActivationMaximizer(model, "conv2", steps=4)(3)
    assert result.channels == (0, 1, 2) and result.images.shape == (3, 16, 16, 1)
    assert result.history.shape == (4, 3)
    center = ActivationMaximizer(model, "conv1", steps=4, objective="center")([2])
    assert center.channels == (2,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer": "conv9"}, "activation_max layer 'conv9'.*Did you mean"),
        ({"layer": "conv*"}, "no pattern"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"parametrization": "wavelet"}, "parametrization must be one of"),
        ({"value_range": (1, 0)}, "high > low"),
        ({"tv": -1}, "tv must be a number >= 0"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    options = {"layer": "conv1", **kwargs}
    with pytest.raises(ValueError, match=message):
        ActivationMaximizer(tiny_cnn(), options.pop("layer"), **options)


def test_channel_out_of_range_and_progress_calls():
    maxer = ActivationMaximizer(tiny_cnn(), "conv1", steps=3)
    with pytest.raises(ValueError, match=r"channels of layer 'conv1' must be indices in \[0, 4\)"):
        maxer([4])
    calls = []
    maxer([0], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # 3 steps: chunks of one step
