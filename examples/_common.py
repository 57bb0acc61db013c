"""What every example shares: its command line, the bundled digits, a small CNN, the closing hint.

Every example takes ``--logdir DIR --epochs N`` and ends by printing where to look. The digits are
the 1,797 8x8 images that ship inside fmlogger (upscaled to 32x32): no download.
"""

from __future__ import annotations

import argparse
import shlex

import numpy as np


def parse_args(description: str, *, name: str, epochs: int = 3, argv=None) -> argparse.Namespace:
    """``--logdir`` (default ``runs/<name>``) and ``--epochs`` (default ``epochs``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--logdir", default=f"runs/{name}", help=f"log folder (default: runs/{name})")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs to train (default: {epochs})")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    return args


def digits(n: int | None = None, *, rgb: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` shuffled digits: float32 ``[n, 32, 32, 1]`` (3 channels with ``rgb``), and labels."""
    from fmlogger.cli.demo import load_digits_32

    x, y = load_digits_32()
    order = np.random.default_rng(seed).permutation(len(x))[:n]
    x, y = x[order], y[order]
    return (np.repeat(x, 3, axis=-1) if rgb else x), y


def small_cnn(*, name: str = "digits_cnn"):
    """conv1(16) -> pool1 -> conv2(32) -> pool2 -> conv3(32) -> gap -> classifier(10): 32x32x1 digits."""
    import keras

    return keras.Sequential(
        [
            keras.Input((32, 32, 1), name="digit"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(10, activation="softmax", name="classifier"),
        ],
        name=name,
    )


def where_to_look(logdir: str, *lines: str) -> None:
    """Prints the command that shows the run, then ``lines``."""
    print(f"\nWritten to {logdir}. Look at every logged epoch with:\n")
    print(f"    fmlogger board --logdir {shlex.quote(str(logdir))}\n")
    print("Feature Maps tab: every logged layer at every step (click an image for its channels).")
    for line in lines:
        print(line)
