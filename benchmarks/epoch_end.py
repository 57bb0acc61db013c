"""What the durable epoch end costs: ``FeatureMapCallback.on_epoch_end`` with and without its flush.

At the end of each epoch the callback waits for the background writer and flushes the event file,
so that epoch's step survives a kill -9 right after (``tests/faults/test_kill9.py``). This fits the
demo CNN (every 4-D layer, 8 probe images, 5 epochs) twice per arm, the second arm with the flush
turned off, and prints the median time spent in ``on_epoch_end`` and the fit time.

Usage:
    python benchmarks/epoch_end.py
"""

from __future__ import annotations

import statistics
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import demo_data, demo_model


def main() -> None:
    from fmlogger import FeatureMapCallback

    (x, y), val, probe = demo_data()
    for arm in ("flush", "no flush", "flush", "no flush"):
        callback = FeatureMapCallback(tempfile.mkdtemp(), probe, max_samples=8)
        if arm == "no flush":
            callback._make_durable = lambda epoch: None
        times, end = [], callback.on_epoch_end

        def timed(epoch, logs=None, end=end, times=times):
            start = time.perf_counter()
            end(epoch, logs)
            times.append((time.perf_counter() - start) * 1000)

        callback.on_epoch_end = timed
        start = time.perf_counter()
        demo_model().fit(x, y, epochs=5, batch_size=64, validation_data=val, verbose=0, callbacks=[callback])
        fit = time.perf_counter() - start
        print(f"{arm:9s} on_epoch_end {statistics.median(times):5.1f} ms (median of 5); fit {fit:.2f} s")


if __name__ == "__main__":
    main()
