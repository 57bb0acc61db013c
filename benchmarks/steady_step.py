"""A whole logging step once the timelines are full: the demo CNN, ``background=False``.

``pipeline.py`` measures the first ~15 steps, when the timelines hold few rows. Here a logger
first logs ``--skip`` steps (default 40: past ``timeline_max_rows=32``, where every step drops
and adds rows), then the median milliseconds (wall and CPU) of the next ``--steps`` steps are
printed, with the timelines on and off, interleaved step by step.

Usage:
    python benchmarks/steady_step.py [--skip 40] [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import demo_data, demo_model, machine, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip", type=int, default=40)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    from fmlogger.logger import FeatureMapLogger

    print(machine())
    (_, _), _, probe = demo_data()
    model = demo_model()
    with tempfile.TemporaryDirectory() as tmp:
        loggers = {
            on: FeatureMapLogger(os.path.join(tmp, str(on)), background=False, timeline=on)
            for on in (True, False)
        }
        x = probe[:4]
        for step in range(args.skip):
            for logger in loggers.values():
                logger.log(model, x, step)
        wall = {on: [] for on in loggers}
        cpu = {on: [] for on in loggers}
        for step in range(args.skip, args.skip + args.steps):
            for on in (True, False) if step % 2 else (False, True):
                start, start_cpu = time.perf_counter(), time.process_time()
                loggers[on].log(model, x, step)
                wall[on].append((time.perf_counter() - start) * 1e3)
                cpu[on].append((time.process_time() - start_cpu) * 1e3)
        for logger in loggers.values():
            logger.close()
    rows = [
        [f"timeline={on}", statistics.median(wall[on]), statistics.median(cpu[on])] for on in loggers
    ]
    print(f"\nms per logged step after {args.skip} steps (medians of {args.steps})")
    print(table(["demo", "wall ms", "CPU ms"], rows))


if __name__ == "__main__":
    main()
