"""Cost of the timeline per logged step, timeline on vs off, interleaved in one process.

Demo-size layers (32x32x16, 16x16x32, 8x8x64), 4 samples, gray, defaults otherwise. Prints the
median milliseconds of ``log_arrays`` per step at several history lengths, and the ratio.

    PYTHONPATH=. python benchmarks/timeline.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np

from fmlogger.logger import FeatureMapLogger


def main(steps: int = 64, repeats_at=(1, 16, 32, 63)) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "conv1": rng.random((4, 32, 32, 16), dtype=np.float32),
        "conv2": rng.random((4, 16, 16, 32), dtype=np.float32),
        "conv3": rng.random((4, 8, 8, 64), dtype=np.float32),
    }
    with tempfile.TemporaryDirectory() as tmp:
        on = FeatureMapLogger(f"{tmp}/on", timeline=True)
        off = FeatureMapLogger(f"{tmp}/off", timeline=False)
        on.log_arrays(arrays, -1)  # warm-up: TensorFlow writer creation
        off.log_arrays(arrays, -1)
        times = {"on": [], "off": []}
        for step in range(steps):
            for name, logger in (("on", on), ("off", off)) if step % 2 else (("off", off), ("on", on)):
                start = time.perf_counter()
                logger.log_arrays(arrays, step)
                times[name].append((time.perf_counter() - start) * 1000)
        on.close()
        off.close()
        sizes = {
            name: sum(
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{tmp}/{name}") for f in fs
            )
            for name in ("on", "off")
        }
    print("rows in timeline | off ms (median of 8 around) | on ms | on/off")
    for at in repeats_at:
        window = slice(max(0, at - 4), at + 4)
        a, b = statistics.median(times["off"][window]), statistics.median(times["on"][window])
        print(f"{at + 1:16d} | {a:27.1f} | {b:5.1f} | {b / a:.2f}")
    print(
        f"run folder bytes after {steps} steps: "
        f"off {sizes['off'] / 1e6:.1f} MB, on {sizes['on'] / 1e6:.1f} MB "
        "(random activations: PNGs compress poorly; real feature maps compress better)"
    )


if __name__ == "__main__":
    main()
