"""A big model at full size: ResNet50 at 224x224, a probe of 8, default layers, logged every epoch.

The probe: bundled digits scaled up in tinted channels. A log loop stands in for ``fit``
(training ResNet50 on 2 CPU cores would take the time, not the logging): each "epoch" nudges
the first convolution's kernel (so every map changes, as in training) and calls
``FeatureMapLogger.log`` with the default settings (``layers=None``: the default choice,
``max_samples=8``, timelines on). Printed per checkpoint:

    RSS        the process' resident memory (start = model built, nothing logged yet)
    event MB   the size of the run's event file(s), and MB per epoch since the last checkpoint
    log ms     the training thread's part of the step (``log``: forward pass + copies + hand-off)
    worker ms  what the background writer still had to do after ``log`` returned (``flush`` waits
               for it: statistics, render, PNG encode, write), median since the last checkpoint

Targets (issue 15): <= 5 MB of events per epoch, < 100 MB RSS growth over 50 logged epochs.

Usage:
    python benchmarks/big_model.py                 # 50 epochs: ~4-6 min on 2 shared cores
    python benchmarks/big_model.py --epochs 10 --size 160

Not a test: nothing here asserts a size or a time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
import numpy as np
from _common import machine
from memory import event_bytes, rss_mib

MB = 1e6


def _probe(n: int, size: int, rng) -> np.ndarray:
    """``n`` bundled digits scaled up (nearest) to ``size`` in 3 tinted channels, 0..255: structured
    images, not noise (noise compresses far worse than any real probe)."""
    from fmlogger.cli.demo import load_digits_32

    x, _ = load_digits_32()
    idx = np.linspace(0, len(x) - 1, n).astype(int)
    rows = (np.arange(size) * 32 // size)[:, None]
    cols = (np.arange(size) * 32 // size)[None, :]
    digits = x[idx][:, rows, cols, :]  # [n, size, size, 1]
    tint = rng.uniform(0.5, 1.0, (n, 1, 1, 3)).astype(np.float32)
    return (digits * tint * 255).astype(np.float32)


def _bytes_by_tag(run_dir: str, step: int) -> dict[str, int]:
    """``{image tag: PNG bytes}`` written at ``step``."""
    from fmlogger.runs.events import iter_images

    return {tag: sum(map(len, pngs)) for tag, at, pngs in iter_images(run_dir) if at == step}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50, help="logged epochs (default 50)")
    parser.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--probe", type=int, default=8, help="probe images, all logged (default 8)")
    args = parser.parse_args(argv)

    import keras

    from fmlogger import FeatureMapLogger

    print(machine())
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(args.size, args.size, 3))
    rng = np.random.default_rng(0)
    probe = _probe(args.probe, args.size, rng)
    kernel = model.get_layer("conv1_conv").kernel
    marks = sorted({1, 2, 5, 10, 25, 50, args.epochs} & set(range(1, args.epochs + 1)))

    with tempfile.TemporaryDirectory() as tmp:
        logger = FeatureMapLogger(tmp, max_samples=args.probe)
        folder = logger.run_dir
        gc.collect()
        start = rss_mib()
        setup = f"ResNet50 {args.size}x{args.size}, probe {args.probe}, default layers"
        print(f"{setup}; RSS at start {start:.0f} MiB\n")
        header = ("epoch", "RSS MiB", "dRSS MiB", "event MB", "MB/epoch", "log ms", "worker ms")
        print("{:>6} {:>8} {:>9} {:>9} {:>9} {:>8} {:>10}".format(*header), flush=True)
        last_epoch, last_bytes, logs, workers = 0, 0, [], []
        began = time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            noise = rng.normal(1.0, 0.02, kernel.shape).astype(np.float32)
            kernel.assign(keras.ops.convert_to_numpy(kernel.value) * noise)
            t0 = time.perf_counter()
            logger.log(model, probe, step=epoch - 1)
            t1 = time.perf_counter()
            logger.flush()
            t2 = time.perf_counter()
            if epoch > 1:  # the first step traces: reported on its own below
                logs.append(t1 - t0)
                workers.append(t2 - t1)
            else:
                first = (t1 - t0, t2 - t1)
            if epoch in marks:
                gc.collect()
                size = event_bytes(folder)
                per_epoch = (size - last_bytes) / MB / (epoch - last_epoch)
                rss = rss_mib()
                log_ms = statistics.median(logs) * 1e3 if logs else first[0] * 1e3
                worker_ms = statistics.median(workers) * 1e3 if workers else first[1] * 1e3
                print(f"{epoch:>6} {rss:>8.0f} {rss - start:>+9.1f} {size / MB:>9.2f} {per_epoch:>9.2f} "
                      f"{log_ms:>8.0f} {worker_ms:>10.0f}", flush=True)
                last_epoch, last_bytes, logs, workers = epoch, size, [], []
        layers = logger.feature_maps.capture.paths
        logger.close()
        last = _bytes_by_tag(folder, args.epochs - 1)
    print(f"\nPNG bytes of the last step ({sum(last.values()) / MB:.2f} MB), by tag:")
    for tag, size in sorted(last.items(), key=lambda item: -item[1]):
        print(f"  {size / 1e3:>8.0f} kB  {tag}")
    print(f"\nfirst step (trace): log {first[0]:.2f} s, worker {first[1]:.2f} s; "
          f"{args.epochs} epochs in {time.perf_counter() - began:.0f} s; trace count 1 expected")
    print(f"{len(layers)} layers: {', '.join(layers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
