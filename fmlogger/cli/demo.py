"""The demo: a small CNN trained on handwritten digits, with feature maps logged every epoch.

The digits are the 1,797 8x8 images of scikit-learn's ``load_digits`` (UCI "Optical Recognition
of Handwritten Digits", CC BY 4.0), shipped inside this package as ``data/digits.npz`` so the demo
needs neither a download nor scikit-learn. They are upscaled to 32x32.

Example:
    >>> from fmlogger.cli.demo import run_demo
    >>> run_demo("runs/demo", epochs=3)        # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources

import numpy as np

DEMO_LAYERS = ["conv1", "conv2", "conv3"]
DEMO_EMBEDDINGS = ["embedding"]
"""Pooled (global average) per validation digit and written for the Projector every epoch."""
DEMO_EXPLAIN = {
    "saliency": ["vanilla", "smoothgrad", "integrated_gradients"],
    "gradcam": ["conv3"],
    "activation_max": {"conv2": 8},
}
"""Explanations of the probe digits at every epoch; activation maximization kept short (below)."""


def load_digits_32() -> tuple[np.ndarray, np.ndarray]:
    """Returns ``x`` float32 ``[1797, 32, 32, 1]`` in [0, 1] and ``y`` int labels ``[1797]``.

    The 8x8 images (values 0..16) are upscaled 4x by bilinear interpolation.
    """
    with resources.files("fmlogger").joinpath("data/digits.npz").open("rb") as f:
        data = np.load(f)
        images, target = data["images"].astype(np.float32) / 16.0, data["target"].astype(np.int64)
    # Bilinear 8 -> 32 along each axis: sample positions of pixel centres, half-pixel aligned.
    pos = np.clip((np.arange(32) + 0.5) / 4 - 0.5, 0, 7)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, 7)
    frac = (pos - lo).astype(np.float32)
    rows = images[:, lo, :] * (1 - frac)[None, :, None] + images[:, hi, :] * frac[None, :, None]
    out = rows[:, :, lo] * (1 - frac)[None, None, :] + rows[:, :, hi] * frac[None, None, :]
    return out[..., None].astype(np.float32), target


def build_demo_model():
    """conv1(16) -> pool -> conv2(32) -> pool -> conv3(64) -> flatten -> embedding(64) -> dense(10).

    About 97% validation accuracy after 3-5 epochs; ``embedding`` is what the Projector shows.
    """
    import keras

    return keras.Sequential(
        [
            keras.Input((32, 32, 1), name="digit"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", name="embedding"),
            keras.layers.Dense(10, activation="softmax", name="classifier"),
        ],
        name="digits_cnn",
    )


def epoch_scalars(logdir: str):
    """A callback writing ``epoch_<metric>`` to ``<logdir>/train`` and ``<logdir>/validation``.

    What ``keras.callbacks.TensorBoard`` writes per epoch, for processes without TensorFlow
    (whose callback needs ``tensorflow.summary``); written by fmlogger's own event writer.
    """
    import keras

    from fmlogger.sinks.events import SummaryWriter

    writers = {name: SummaryWriter(os.path.join(os.fspath(logdir), name)) for name in ("train", "validation")}

    def on_epoch_end(epoch, logs):
        for name, writer in writers.items():
            prefix = "val_" if name == "validation" else ""
            logs = logs or {}
            values = {k[len(prefix):]: v for k, v in logs.items() if k.startswith(prefix) == bool(prefix)}
            writer.write_step(epoch, scalars=[(f"epoch_{k}", float(v)) for k, v in values.items()])
            writer.flush()

    def on_train_end(logs):
        for writer in writers.values():
            writer.close()

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end, on_train_end=on_train_end)


def demo_probe(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first sample of each digit 0, 1, 2, ... (``n`` of them): a probe that shows variety."""
    idx = [int(np.flatnonzero(y == digit)[0]) for digit in range(min(n, 10))]
    return x[idx], y[idx]


def run_demo(
    logdir: str, epochs: int = 5, *, verbose: int = 1, max_samples: int = 4, seed: int = 0,
    embedding_points: int = 360, learning_rate: float = 1e-3,
):
    """Trains the demo CNN for ``epochs`` with ``FeatureMapCallback`` and Keras' TensorBoard.

    Writes ``<logdir>/train``, ``<logdir>/validation`` (Keras' TensorBoard callback, or
    ``epoch_scalars`` where TensorFlow is not installed) and ``<logdir>/feature_maps``,
    which also holds the Projector files: the 64-D ``embedding`` layer over ``embedding_points``
    validation digits at every epoch, with label, predicted class, correctness and a sprite
    of the digits, plus ``pca_rgb/``, ``embedding_pca/``, ``saliency/``, ``gradcam/`` and
    ``activation_max/`` images. ``seed`` sets the data split, the weights and so the probe
    digits; ``learning_rate`` is Adam's. Returns the Keras ``History``.
    """
    import keras

    from fmlogger.callback import FeatureMapCallback
    from fmlogger.explain.settings import ExplainSettings

    keras.utils.set_random_seed(seed)
    x, y = load_digits_32()
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * 0.8)
    model = build_demo_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [
        FeatureMapCallback(
            logdir, demo_probe(x[split:], y[split:], max_samples), DEMO_LAYERS, max_samples=max_samples,
            pca_rgb=True, embeddings=DEMO_EMBEDDINGS,
            embedding_data=(x[split:][:embedding_points], y[split:][:embedding_points]),
            **DEMO_EXPLAIN,
            explain_settings=ExplainSettings(actmax_steps=24, smoothgrad_samples=8, ig_steps=16),
        ),
    ]
    if importlib.util.find_spec("tensorflow") is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.fspath(logdir), write_graph=False))
    else:
        callbacks.append(epoch_scalars(logdir))
    return model.fit(
        x[:split], y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=epochs, batch_size=32, verbose=verbose, callbacks=callbacks,
    )
