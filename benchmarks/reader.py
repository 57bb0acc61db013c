"""The read side: checked-reader throughput (C CRC vs numpy fallback) and export's peak memory.

1. Reads the event files of a run (the demo's by default) with ``iter_records`` (framing + both
   CRCs) and ``iter_summaries`` (+ Event parsing), once with ``google_crc32c`` and once with the
   numpy fallback; prints MB/s (median of interleaved rounds).
2. Writes a crafted run of incompressible images (``--steps`` steps of 6 layers x 8 samples of
   128x128 RGB noise) and runs ``fmlogger export`` on it in a subprocess, printing its peak RSS
   (VmHWM: ``ru_maxrss`` would keep the parent's high-water mark across exec) and wall time,
   with and without GIFs.

Usage:
    python benchmarks/reader.py [--run DIR] [--steps 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import interleaved, machine


def _read_all(run_dir: str, parse: bool) -> int:
    from fmlogger.runs.events import event_files, iter_records, iter_summaries

    if parse:
        return sum(1 for _ in iter_summaries(run_dir))
    return sum(len(payload) for path in event_files(run_dir) for _, payload in iter_records(path))


def throughput(run_dir: str, repeats: int) -> None:
    from fmlogger import _crc32c
    from fmlogger.runs.events import event_files

    size = sum(os.path.getsize(p) for p in event_files(run_dir)) / 1e6
    fast = _crc32c._fast

    def with_fallback(parse):
        _crc32c._fast = lambda: None
        try:
            _read_all(run_dir, parse)
        finally:
            _crc32c._fast = fast

    times = interleaved(
        {
            "records, C CRC": lambda: _read_all(run_dir, False),
            "records, numpy CRC": lambda: with_fallback(False),
            "summaries, C CRC": lambda: _read_all(run_dir, True),
            "summaries, numpy CRC": lambda: with_fallback(True),
        },
        repeats,
    )
    print(f"1. reading {run_dir}: {size:.2f} MB of event files, median of {repeats} interleaved rounds")
    for name, values in times.items():
        seconds = float(np.median(values))
        print(f"   {name:22s} {seconds * 1e3:8.1f} ms  {size / seconds:8.1f} MB/s")


def crafted_run(log_dir: str, steps: int) -> str:
    from fmlogger import FeatureMapLogger

    rng = np.random.default_rng(0)
    with FeatureMapLogger(log_dir, max_samples=8, timeline=False, max_tile_size=None) as logger:
        for step in range(steps):
            arrays = {f"layer{i}": rng.random((8, 128, 128, 3), np.float32) for i in range(6)}
            logger.log_arrays(arrays, step)
    return logger.run_dir


def export_memory(log_dir: str) -> None:
    for extra in (["--no-gif"], []):
        out = tempfile.mkdtemp()
        code = (
            "import re, time; from fmlogger.cli.main import main; t = time.perf_counter(); "
            f"rc = main(['export', '--logdir', {log_dir!r}, '--out', {out!r}] + {extra!r}); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(rc, time.perf_counter() - t, hwm)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        rc, seconds, rss_kb = done.stdout.split()[-3:]
        label = "PNGs only (--no-gif)" if extra else "PNGs + GIFs"
        rss_mb = int(rss_kb) / 1024
        print(f"   export, {label:21s} peak RSS {rss_mb:7.1f} MB, {float(seconds):6.1f} s, exit {rc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a run folder to read (default: a fresh 3-epoch demo)")
    parser.add_argument("--steps", type=int, default=40, help="steps of the crafted run for export")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    root = tempfile.mkdtemp()
    run = args.run
    if run is None:
        from fmlogger.cli.demo import run_demo

        run_demo(os.path.join(root, "demo"), epochs=3, verbose=0)
        run = os.path.join(root, "demo", "feature_maps")
    throughput(run, args.repeats)
    start = time.perf_counter()
    run_dir = crafted_run(os.path.join(root, "crafted"), args.steps)
    size = sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir)) / 1e6
    print(f"2. crafted run: {args.steps} steps x 6 layers x 8 samples of 128x128 RGB noise, {size:.0f} MB "
          f"(written in {time.perf_counter() - start:.0f} s)")
    export_memory(os.path.join(root, "crafted"))
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"   (this script's own peak RSS: {self_rss:.0f} MB)")


if __name__ == "__main__":
    main()
