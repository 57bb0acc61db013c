"""One ``FeatureMapLogger.log`` step at defaults: an older fmlogger checkout against this one.

Both run in one process, interleaved, on the same model and probe. The older tree is imported
from ``--old`` (for example ``git archive ad98cff | tar -x -C /tmp/fmlogger-core``).

Usage:
    python benchmarks/before_after.py --old /tmp/fmlogger-core [--repeats 9] [--models demo,cnn128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import cnn128_data, cnn128_model, demo_data, demo_model, interleaved, machine, table

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _logger_class(root: str):
    for name in [m for m in sys.modules if m == "fmlogger" or m.startswith("fmlogger.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        from fmlogger.logger import FeatureMapLogger
    finally:
        sys.path.remove(root)
    return FeatureMapLogger


def _bytes_per_step(logger, steps: int) -> float:
    logger.close()
    return sum(os.path.getsize(os.path.join(logger.run_dir, f)) for f in os.listdir(logger.run_dir)) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, help="root of the older fmlogger tree")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--models", default="demo,cnn128")
    args = parser.parse_args(argv)
    sys.path.remove(HERE)  # _common put this tree first; import each tree explicitly instead
    Old, New = _logger_class(os.path.abspath(args.old)), _logger_class(HERE)
    print(machine())
    rows = []
    for which in args.models.split(","):
        if which == "demo":
            (xt, yt), _, probe = demo_data()
            model = demo_model()
            model.fit(xt, yt, epochs=1, verbose=0)
        else:
            xt, yt = cnn128_data(32)
            model = cnn128_model()
            model.fit(xt, yt, epochs=1, batch_size=16, verbose=0)
            probe = xt[:8]
        loggers = {
            "old": Old(tempfile.mkdtemp()),
            "new, background=False": New(tempfile.mkdtemp(), background=False),
            "new, background=False, max_tile_size=None": New(
                tempfile.mkdtemp(), background=False, max_tile_size=None
            ),
        }
        background = New(tempfile.mkdtemp())
        x = probe[:4]
        for logger in list(loggers.values()) + [background]:
            logger.log(model, x, 0)
        background.flush()
        steps = iter(range(1, 10**6))
        stalls = []

        def stall():
            background.flush()
            start = time.perf_counter()
            background.log(model, x, next(steps))
            stalls.append(time.perf_counter() - start)

        fns = {name: (lambda lg=lg: lg.log(model, x, next(steps))) for name, lg in loggers.items()}
        fns["new, background (stall)"] = stall
        times = interleaved(fns, args.repeats)
        background.close()
        old_ms = statistics.median(times["old"]) * 1e3
        for name, t in times.items():
            ms = statistics.median(stalls if name.endswith("(stall)") else t) * 1e3
            size = _bytes_per_step(loggers[name], args.repeats + 2) / 1e3 if name in loggers else ""
            rows.append([which, name, ms, f"{old_ms / ms:.1f}x", size])
    print(f"\nms per logged step at defaults, medians of {args.repeats} interleaved rounds")
    print(table(["model", "logger", "ms/step", "speed-up vs old", "kB/step"], rows))


if __name__ == "__main__":
    main()
