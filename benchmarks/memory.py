"""Flat over long runs: RSS and event-file bytes over hundreds of logged epochs of the demo model.

Trains the demo CNN (``fmlogger.cli.demo``) on a small slice of the bundled digits, logging
conv1..conv3 every epoch with ``FeatureMapCallback``, and prints a table of the process RSS,
the bytes of the feature-map event file(s) and the trace count at checkpoints. A control run
without the callback, in the same process before it, shows how much of the RSS change is
TensorFlow's own. Growth of event bytes per epoch should be constant (same images each step);
RSS should level off after the first epochs.

Usage:
    python benchmarks/memory.py                 # 220 logged epochs, 4 probe samples
    python benchmarks/memory.py --epochs 300 --samples 8

Not a test: it takes minutes and its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc, else the peak from ``resource``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def event_bytes(folder: str) -> int:
    if not os.path.isdir(folder):
        return 0
    return sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder) if ".tfevents." in n)


def checkpoints(epochs: int) -> list[int]:
    marks = {1, 2, 5, 10, 25, 50, 100, 150, 200, 250, 300, 400, 500, epochs}
    return sorted(m for m in marks if m <= epochs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=220, help="logged epochs (default 220)")
    parser.add_argument("--samples", type=int, default=4, help="probe samples (default 4)")
    parser.add_argument("--train", type=int, default=128, help="training images per epoch (default 128)")
    parser.add_argument(
        "--control-epochs", type=int, default=50, help="epochs of the run without the callback (default 50)"
    )
    args = parser.parse_args(argv)

    import keras

    from fmlogger import FeatureMapCallback
    from fmlogger.cli.demo import DEMO_LAYERS, build_demo_model, demo_probe, load_digits_32

    keras.utils.set_random_seed(0)
    x, y = load_digits_32()
    probe = demo_probe(x, y, args.samples)
    x, y = x[: args.train], y[: args.train]

    rows: list[tuple] = []

    class Meter(keras.callbacks.Callback):
        def __init__(self, label, folder, logger=None):
            super().__init__()
            self.label, self.folder, self.logger = label, folder, logger
            self.marks = set(checkpoints(args.epochs if logger else args.control_epochs))

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in self.marks:
                gc.collect()
                traces = self.logger.trace_count if self.logger else "-"
                now = time.perf_counter()
                rows.append((self.label, epoch + 1, rss_mib(), event_bytes(self.folder), traces, now))

    def train(label, epochs, with_callback):
        model = build_demo_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        folder = os.path.join(tmp, label, "feature_maps")
        callbacks = []
        logger = None
        if with_callback:
            run = os.path.join(tmp, label)
            callback = FeatureMapCallback(run, probe, DEMO_LAYERS, max_samples=args.samples)
            callbacks.append(callback)
            logger = callback.logger
        callbacks.append(Meter(label, folder, logger))
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=callbacks)

    with tempfile.TemporaryDirectory() as tmp:
        start = rss_mib()
        t0 = time.perf_counter()
        train("control", args.control_epochs, with_callback=False)
        train("fmlogger", args.epochs, with_callback=True)

    print(f"RSS before training: {start:.0f} MiB; demo CNN, {args.train} images/epoch, probe {args.samples}, "
          f"layers {', '.join(DEMO_LAYERS)}, logged every epoch\n")
    header = ("run", "epoch", "RSS MiB", "dRSS MiB", "event KiB", "KiB/epoch", "traces", "s")
    print("{:<9} {:>6} {:>8} {:>9} {:>10} {:>10} {:>7} {:>6}".format(*header))
    first: dict[str, tuple] = {}
    for label, epoch, rss, size, traces, t in rows:
        base = first.setdefault(label, (epoch, rss, size))
        per_epoch = (size - base[2]) / 1024 / (epoch - base[0]) if epoch > base[0] else size / 1024 / epoch
        print(
            f"{label:<9} {epoch:>6} {rss:>8.1f} {rss - base[1]:>+9.1f} {size / 1024:>10.1f} "
            f"{per_epoch:>10.2f} {traces!s:>7} {t - t0:>6.1f}"
        )
    logged = [r for r in rows if r[0] == "fmlogger"]
    mid = next((r for r in logged if r[1] >= 50), logged[0])
    last = logged[-1]
    if last[1] > mid[1]:
        slope = (last[2] - mid[2]) / (last[1] - mid[1]) * 1024
        print(f"\nRSS slope from epoch {mid[1]} to {last[1]}: {slope:+.1f} KiB/epoch "
              f"({last[2] - mid[2]:+.1f} MiB over {last[1] - mid[1]} logged epochs); trace count {last[4]}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
