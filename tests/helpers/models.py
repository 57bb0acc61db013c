"""Tiny named Keras models and seeded data, built the same way by every test that uses them."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def tiny_data(n=16, shape=(16, 16, 1), seed=0):
    """Seeded images in [0, 1) and binary labels."""
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 2, n)


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


def nested_cnn(*, size=16, filters=(4, 6), pooling="avg", classes=2, name="outer"):
    """A ``backbone`` (conv1, conv2; ``same`` padding, relu) nested in an outer model, seeded.

    The outer model pools (``"avg"``: layer ``gap``, ``"max"``: ``gmp``) and ends in ``head``:
    a softmax over ``classes``, or one sigmoid unit for ``classes=1``. Compiled with Adam(0.01).
    """
    import keras

    keras.utils.set_random_seed(0)
    bb_in = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="conv1")(bb_in)
    h = keras.layers.Conv2D(filters[1], 3, padding="same", activation="relu", name="conv2")(h)
    backbone = keras.Model(bb_in, h, name="backbone")
    inputs = keras.Input((size, size, 1))
    pool = (
        keras.layers.GlobalAveragePooling2D(name="gap") if pooling == "avg"
        else keras.layers.GlobalMaxPooling2D(name="gmp")
    )
    z = pool(backbone(inputs))
    activation, loss = (
        ("sigmoid", "binary_crossentropy") if classes == 1 else ("softmax", "sparse_categorical_crossentropy")
    )
    model = keras.Model(inputs, keras.layers.Dense(classes, activation=activation, name="head")(z), name=name)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    return model


def conv_block(filters: int, *, name: str):
    """A custom layer that holds layers: ``conv`` (``same`` padding) then ``relu``."""
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(filters, 3, padding="same", name="conv")
            self.relu = keras.layers.ReLU(name="relu")

        def call(self, x):
            return self.relu(self.conv(x))

    return Block(name=name)


def with_volumes(volumes: Sequence[str] = ("conv3d",)):
    """A Conv2D ``conv2d`` (drawable) beside one Conv3D per name in ``volumes`` (5-D outputs, not drawable).

    Input ``[16, 16, 1]``; each volume sees it repeated to depth 4 and gives ``[n, 14, 14, 2, 2]``.
    """
    import keras

    inputs = keras.Input((16, 16, 1))
    flat = keras.layers.Conv2D(2, 3, name="conv2d")(inputs)
    depth4 = keras.layers.Reshape((16, 16, 1, 1))(inputs) * keras.ops.ones((1, 1, 1, 4, 1))
    pooled = [keras.layers.GlobalAveragePooling2D()(flat)]
    for name in volumes:
        pooled.append(keras.layers.GlobalAveragePooling3D()(keras.layers.Conv3D(2, 3, name=name)(depth4)))
    x = keras.layers.Concatenate()(pooled)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model
