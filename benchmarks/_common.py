"""Shared pieces of the benchmarks: the two models, their data, timing and tables.

Not a test module: nothing here asserts a time. Run the scripts from the repository root, e.g.
``python benchmarks/overhead.py``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def machine() -> str:
    """One line: CPU, cores, Python, the Keras backend and its version, Keras version."""
    import importlib

    import keras

    backend = keras.backend.backend()
    version = getattr(importlib.import_module(backend), "__version__", "?")

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}; {os.cpu_count()} cores (load {load:.1f}); Python {platform.python_version()}; "
        f"Keras {keras.__version__} on {backend} {version}; numpy {np.__version__}"
    )


def median_ms(fn, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Runs every ``fns[name]()`` once per round, rotating the order each round; seconds per call."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    out = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            out[name].append(time.perf_counter() - start)
    return out


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in header]] + [
        [f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(lines)


def demo_data(seed: int = 0):
    """The demo's split: train/validation digits at 32x32 and the default probe (8 validation images)."""
    from fmlogger.cli.demo import load_digits_32

    x, y = load_digits_32()
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * 0.8)
    return (x[:split], y[:split]), (x[split:], y[split:]), x[split:][:8]


def demo_model(seed: int = 0):
    import keras

    from fmlogger.cli.demo import build_demo_model

    keras.utils.set_random_seed(seed)
    model = build_demo_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def cnn128_model(seed: int = 0):
    """128x128x3 input: conv1(64) -> pool1 -> conv2(128) -> pool2 -> conv3(256) -> gap -> dense(10)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((128, 128, 3), name="image"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(128, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(10, activation="softmax", name="classifier"),
        ],
        name="cnn128",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def cnn128_data(n: int = 64, seed: int = 0):
    """``n`` digits upscaled to 128x128 (nearest) in 3 tinted channels: structured, not noise."""
    from fmlogger.cli.demo import load_digits_32

    x, y = load_digits_32()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))[:n]
    big = np.repeat(np.repeat(x[idx], 4, axis=1), 4, axis=2)  # [n, 128, 128, 1]
    tint = rng.uniform(0.5, 1.0, (n, 1, 1, 3)).astype(np.float32)
    return (big * tint).astype(np.float32), y[idx]
