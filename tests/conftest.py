"""Shared fixtures: tiny named Keras models, seeded data, and reading runs back.

TensorFlow is imported only by the tests that need it (``import fmlogger`` stays light).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tiny_cnn(input_shape=(16, 16, 1), name="tiny_cnn"):
    """conv1(4) -> pool1 -> conv2(6) -> gap -> dense(2, softmax): a functional model."""
    import keras

    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def tiny_data(n=16, shape=(16, 16, 1), seed=0):
    """Seeded images in [0, 1) and binary labels."""
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 2, n)


def read_run(run_dir):
    """All image and scalar summaries of a run, read with TensorBoard's own reader."""
    from fmlogger.runs.read import read_run as _read

    return _read(os.fspath(run_dir))


def image_steps(run, tag):
    return [event.step for event in run.images[tag]]


def feature_map_tags(run):
    """The ``feature_maps/<layer>`` image tags of a run (not timelines or other views)."""
    from fmlogger import tags

    return {tag for tag in run.images if tag.startswith(tags.IMAGE_PREFIX)}
