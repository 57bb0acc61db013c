"""The first logged step on keras.applications models against a plain first ``model(x)`` trace.

For each model (``weights=None``, ``--size`` x ``--size`` input, a probe of ``--probe`` images),
top level and nested in a wrapper (``Input -> base(x, training=False) -> Dense``), two arms, each
in a fresh process on a freshly built model:

    plain   ``model(x, training=False)`` compiled by the backend adapter (``tf.function`` /
            ``jax.jit``), first call: trace + run + copy of the output to the host;
    logged  ``FeatureMapLogger(...).log(model, x, step=0)`` with the default layers: layer choice,
            trace of the capture pass, its run and the copies of the chosen layers' outputs (what
            the training thread pays); ``step`` adds the render, encode and write on the worker.

Before timing, every process warms up both code paths on a tiny model, so the one-time costs
(backend start-up, imports, the event writer) count in neither arm. The ratio is logged / plain
per round, medians over ``--repeats`` rounds; the target is <= 2x.

Usage:
    python benchmarks/first_step.py                       # all 6 models x 2 ways, 1 round: ~5 min
    python benchmarks/first_step.py --models ResNet50,DenseNet121 --repeats 3 --ways nested
    python benchmarks/first_step.py --models ResNet50 --layers '*conv2_block3_out'   # a shallow layer

On 2 shared CPU cores one process takes 8-15 s (start-up, build, trace), so the default run
starts 24 of them. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import machine, table

MODELS = ("ResNet50", "EfficientNetB0", "ConvNeXtTiny", "DenseNet121", "MobileNetV3Small", "Xception")
WAYS = ("top", "nested")


def build(name: str, way: str, size: int):
    """A keras.applications model (``weights=None``, 10 classes), top level or nested in a wrapper."""
    import keras

    make = getattr(keras.applications, name)
    shape = (size, size, 3)
    if way == "top":
        return make(weights=None, input_shape=shape, classes=10)
    base = make(weights=None, input_shape=shape, include_top=False, pooling="avg")
    inputs = keras.Input(shape)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(base(inputs, training=False))
    return keras.Model(inputs, outputs, name="wrapper")


def _warm_up(x) -> None:
    """Runs both arms once on a tiny model: the process' one-time costs are paid before timing."""
    import keras

    from fmlogger import FeatureMapLogger
    from fmlogger.capture.backend import adapter

    tiny = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Conv2D(2, 3, name="conv")])
    ad = adapter()
    ad.to_numpy(ad.compile(lambda a: tiny(a, training=False), tiny, (x,), on_trace=lambda: None)(x))
    with FeatureMapLogger(tempfile.mkdtemp()) as logger:
        logger.log(tiny, x, step=0)


def child(name: str, way: str, arm: str, size: int, probe: int, layers: str | None) -> dict:
    """One measurement in this (fresh) process: seconds for the first step of ``arm``."""
    import numpy as np

    from fmlogger import FeatureMapLogger
    from fmlogger.capture.backend import adapter

    x = np.random.default_rng(0).random((probe, size, size, 3), dtype=np.float32) * 255
    _warm_up(x)
    model = build(name, way, size)
    out = {"model": name, "way": way, "arm": arm}
    start = time.perf_counter()
    if arm == "plain":
        ad = adapter()
        forward = ad.compile(lambda a: model(a, training=False), model, (x,), on_trace=lambda: None)
        ad.to_numpy(forward(x))
        out["first"] = time.perf_counter() - start
    else:
        with FeatureMapLogger(tempfile.mkdtemp(), layers=layers.split(",") if layers else None) as logger:
            logger.log(model, x, step=0)
            out["first"] = time.perf_counter() - start
            logger.flush()
            out["step"] = time.perf_counter() - start
            out["layers"] = len(logger.feature_maps.capture.paths)
    return out


def _run_child(name, way, arm, args) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", name, way, arm,
               "--size", str(args.size), "--probe", str(args.probe)]
    command += ["--layers", args.layers] if args.layers else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all 6)")
    parser.add_argument("--ways", default=",".join(WAYS), help="top, nested or both (default)")
    parser.add_argument("--size", type=int, default=96, help="input height and width (default 96)")
    parser.add_argument("--probe", type=int, default=4, help="probe images (default 4)")
    parser.add_argument("--layers", help="comma-separated layer names/globs instead of the default choice")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of fresh processes (default 1)")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "WAY", "ARM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.size, args.probe, args.layers)), flush=True)
        return 0

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(models) - set(MODELS)) + sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"unknown --models/--ways entries {unknown}; models: {', '.join(MODELS)}; ways: {WAYS}")
    print(machine())
    chosen = f"layers {args.layers}" if args.layers else "default layers"
    setup = f"input {args.size}x{args.size}x3, probe {args.probe}, {chosen}, {args.repeats} round(s)"
    print(setup + "\n", flush=True)
    rows, began = [], time.perf_counter()
    for name in models:
        for way in ways:
            plain, logged, step, ratios, layers = [], [], [], [], 0
            for r in range(args.repeats):
                arms = ("plain", "logged") if r % 2 == 0 else ("logged", "plain")
                got = {arm: _run_child(name, way, arm, args) for arm in arms}
                plain.append(got["plain"]["first"])
                logged.append(got["logged"]["first"])
                step.append(got["logged"]["step"])
                ratios.append(logged[-1] / plain[-1])
                layers = got["logged"]["layers"]
            row = [name, way, layers, statistics.median(plain), statistics.median(logged),
                   f"{statistics.median(ratios):.2f}x", statistics.median(step)]
            rows.append(row)
            print(" ".join(str(c if not isinstance(c, float) else f"{c:.2f}") for c in row), flush=True)
    header = ["model", "way", "layers", "plain first model(x) s", "first logged step s (log)",
              "ratio (target <= 2x)", "whole step s (log + worker)"]
    print()
    print(table(header, rows))
    print(f"\n{time.perf_counter() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
