"""What saliency, Grad-CAM and activation maximization cost per logged step, on the demo CNN.

Trains the demo CNN (32x32 digits) for one epoch, then times each producer on a probe of 4, side
by side in one process (median of ``--repeats`` after one warm-up call, which traces), next to
one feature-map log step of the same probe. Also checks Integrated Gradients' completeness.

    PYTHONPATH=. python benchmarks/explain_cost.py --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def median_ms(fn, repeats):
    fn()  # warm-up: traces
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import keras

    from fmlogger.cli.demo import DEMO_LAYERS, build_demo_model, demo_probe, load_digits_32
    from fmlogger.explain.actmax import ActivationMaximizer
    from fmlogger.explain.saliency import Saliency
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.render.overlay import attribution_map, overlay

    keras.utils.set_random_seed(0)
    x, y = load_digits_32()
    model = build_demo_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x[:1400], y[:1400], epochs=1, batch_size=64, verbose=0)
    px, py = demo_probe(x[1400:], y[1400:], 4)

    sal = Saliency(model)
    logger = FeatureMapLogger(tempfile.mkdtemp(), DEMO_LAYERS)
    step = iter(range(10**6))
    rows = {
        "feature maps (3 layers, render + write)": lambda: logger.log(model, px, next(step)),
        "vanilla gradients": lambda: sal.vanilla(px, py),
        "SmoothGrad (16 samples)": lambda: sal.smoothgrad(px, py, samples=16),
        "Integrated Gradients (32 steps)": lambda: sal.integrated_gradients(px, py, steps=32),
        "Grad-CAM conv3": lambda: sal.gradcam(px, "conv3", py),
        "overlay (4 images, 128 px)": lambda: overlay(px, attribution_map(sal.vanilla(px, py))),
    }
    for channels in (4, 16):
        maxer = ActivationMaximizer(model, "conv2", steps=64)
        rows[f"activation max conv2, {channels} ch, 64 steps"] = lambda m=maxer, c=channels: m(c)
    for name, fn in rows.items():
        print(f"{name:45s} {median_ms(fn, args.repeats):8.1f} ms")
    print(
        f"Saliency traces after all calls: {sal.trace_count}"
        " (gradients and Grad-CAM conv3; labels as targets need no forward pass)"
    )

    for steps in (16, 32, 64):
        ig = sal.integrated_gradients(px, py, steps=steps)
        delta = sal.scores(px, py) - sal.scores(np.zeros_like(px), py)
        rel = np.abs(ig.reshape(4, -1).sum(axis=1) - delta) / np.abs(delta)
        print(
            f"IG completeness, {steps:2d} steps: max relative error {rel.max():.4f}"
            f" (f(x) - f(0) = {np.round(delta, 3)})"
        )


if __name__ == "__main__":
    main()
