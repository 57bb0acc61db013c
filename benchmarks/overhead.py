"""``model.fit`` with and without ``FeatureMapCallback``, side by side, plus the training-thread stall.

Two models, default callback settings (every 4-D layer, 4 probe samples, 64 channels, gray,
every epoch, background writer on):

    demo    the demo CNN on the bundled digits (1,437 train / 360 validation images, batch 64,
            5 epochs, validation each epoch), probe = 8 validation images;
    cnn128  a 128x128x3 CNN with 64/128/256-channel convolutions (64 images, batch 16, 3 epochs).

Each round fits a fresh model (same seed) once per arm, rotating the order of the arms;
the ratio is taken per round (arm / plain) and its median reported, with the median wall times.
The stall is the time ``FeatureMapCallback`` spends on the training thread per logged step
(``FeatureMapLogger.log``: forward pass, copy to host, hand-off to the writer), compared with
the compiled forward pass alone.

Usage:
    python benchmarks/overhead.py [--repeats 5] [--models demo,cnn128] [--sync] [--backend jax]

``--sync`` adds an arm with ``background=False`` (encode and write on the training thread).
``--backend`` picks the Keras backend (tensorflow, jax, torch; default: KERAS_BACKEND). On JAX
the probe pass is one ``jax.jit`` (weights as arguments), on PyTorch an eager ``no_grad`` call.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import cnn128_data, cnn128_model, demo_data, demo_model, machine, median_ms, table


class _Timed:
    """Wraps ``logger.log`` (training-thread stall) and the callback's begin/end hooks."""

    def __init__(self, callback):
        self.stalls, self.begin, self.end = [], 0.0, 0.0
        logger = callback.logger
        log, begin, end = logger.log, callback.on_train_begin, callback.on_train_end

        def timed_log(*args, **kwargs):
            start = time.perf_counter()
            try:
                return log(*args, **kwargs)
            finally:
                self.stalls.append(time.perf_counter() - start)

        def timed_begin(logs=None):
            start = time.perf_counter()
            begin(logs)
            self.begin += time.perf_counter() - start

        def timed_end(logs=None):
            start = time.perf_counter()
            end(logs)
            self.end += time.perf_counter() - start

        logger.log, callback.on_train_begin, callback.on_train_end = timed_log, timed_begin, timed_end


def run(which: str, repeats: int, sync: bool) -> dict:
    from fmlogger.callback import FeatureMapCallback

    if which == "demo":
        (xt, yt), (xv, yv), probe = demo_data()
        build, fit_kw = demo_model, dict(validation_data=(xv, yv), epochs=5, batch_size=64)
    else:
        xt, yt = cnn128_data(64)
        probe = xt[:8]
        build, fit_kw = cnn128_model, dict(epochs=3, batch_size=16)
    timers: dict[str, list[_Timed]] = {"fmlogger": [], "fmlogger sync": []}
    tmp = tempfile.TemporaryDirectory()

    def fit(arm: str):
        model = build()
        callbacks = []
        if arm != "plain":
            cb = FeatureMapCallback(tempfile.mkdtemp(dir=tmp.name), probe, background=(arm == "fmlogger"))
            timers[arm].append(_Timed(cb))
            callbacks.append(cb)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(xt, yt, verbose=0, callbacks=callbacks, **fit_kw)
        return (time.perf_counter() - start, time.process_time() - cpu), model, callbacks

    arms = ["plain", "fmlogger"] + (["fmlogger sync"] if sync else [])
    fit("plain")  # warm-up: the backend's one-time start-up costs
    times = {arm: [] for arm in arms}
    cpu = {arm: [] for arm in arms}
    last = None
    for r in range(repeats):
        for arm in arms[r % len(arms):] + arms[: r % len(arms)]:
            (seconds, cpu_seconds), model, callbacks = fit(arm)
            times[arm].append(seconds)
            cpu[arm].append(cpu_seconds)
            if callbacks:
                last = (model, callbacks[0])
    model, cb = last
    capture = cb.logger.capture_for(model, cb.probe.x)
    forward = median_ms(lambda: capture(cb.probe.x), repeats=15)
    tmp.cleanup()
    out = {"which": which, "arms": {}, "forward_ms": forward, "steps": len(cb.logged_steps)}
    for arm in arms:
        ratios = [t / p for t, p in zip(times[arm], times["plain"])]
        cpu_ratios = [t / p for t, p in zip(cpu[arm], cpu["plain"])]
        entry = {
            "median_s": statistics.median(times[arm]), "ratio": statistics.median(ratios), "ratios": ratios,
            "cpu_s": statistics.median(cpu[arm]), "cpu_ratio": statistics.median(cpu_ratios),
        }
        if arm != "plain":
            stalls = [s for t in timers[arm] for s in t.stalls[1:]]  # step 0 includes the trace
            entry.update(
                stall_ms=statistics.median(stalls) * 1e3,
                begin_ms=statistics.median(t.begin for t in timers[arm]) * 1e3,
                end_ms=statistics.median(t.end for t in timers[arm]) * 1e3,
            )
        out["arms"][arm] = entry
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="demo,cnn128")
    parser.add_argument("--sync", action="store_true", help="also time background=False")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None)
    args = parser.parse_args(argv)
    if args.backend:
        from fmlogger.capture.backend import select

        select(args.backend)
    print(machine())
    rows = []
    for which in args.models.split(","):
        result = run(which, args.repeats, args.sync)
        for arm, e in result["arms"].items():
            rows.append([
                which, arm, e["median_s"], f"{e['ratio']:.3f}x",
                " ".join(f"{r:.3f}" for r in e["ratios"]), e["cpu_s"], f"{e['cpu_ratio']:.3f}x",
                e.get("stall_ms", ""),
                f"{e['stall_ms'] / result['forward_ms']:.2f}x" if "stall_ms" in e else "",
                e.get("begin_ms", ""), e.get("end_ms", ""),
            ])
        rows.append(
            [which, "compiled forward (probe)", "", "", "", "", "", result["forward_ms"], "1.00x", "", ""]
        )
    print(
        f"\nfit wall time, {args.repeats} interleaved rounds"
        " (targets: demo <= 1.03x, cnn128 <= 1.10x; stall <= 1.2x forward)"
    )
    print("CPU s: user+system time of the whole process (all threads), less sensitive to other load.")
    print(table(["model", "arm", "fit s (median)", "ratio (median)", "ratios per round", "CPU s (median)",
                 "CPU ratio (median)", "stall ms/step",
                 "stall/forward", "train_begin ms", "train_end ms"], rows))


if __name__ == "__main__":
    main()
