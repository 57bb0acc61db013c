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
the compiled forward pass alone; the first log also traces. The epoch-end wait is
``FeatureMapLogger.flush`` at each epoch's end (the callback waits for the writer so that the
epoch's step survives a kill -9): the rest of the step (render, encode, write, run state)
counts there. ``predicted ratio`` adds these up against the plain fit.

Usage:
    python benchmarks/overhead.py [--repeats 5] [--models demo,cnn128] [--sync] [--no-wait] [--backend jax]

``--sync`` adds an arm with ``background=False`` (encode and write on the training thread);
``--no-wait`` one without the epoch-end wait for the writer (a measurement, not a setting).
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
    """Wraps ``logger.log`` (training-thread stall), ``logger.flush`` (the wait for the writer at
    each epoch end) and the callback's begin/end hooks."""

    def __init__(self, callback):
        self.stalls, self.waits, self.begin, self.end = [], [], 0.0, 0.0
        logger = callback.logger
        log, flush, begin, end = logger.log, logger.flush, callback.on_train_begin, callback.on_train_end

        def timed(fn, into):
            def call(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    into.append(time.perf_counter() - start)

            return call

        def timed_begin(logs=None):
            start = time.perf_counter()
            begin(logs)
            self.begin += time.perf_counter() - start

        def timed_end(logs=None):
            start = time.perf_counter()
            end(logs)
            self.end += time.perf_counter() - start

        logger.log, logger.flush = timed(log, self.stalls), timed(flush, self.waits)
        callback.on_train_begin, callback.on_train_end = timed_begin, timed_end


NO_WAIT = "fmlogger, no epoch-end wait"


def run(which: str, repeats: int, sync: bool, no_wait: bool = False) -> dict:
    from fmlogger.callback import FeatureMapCallback

    if which == "demo":
        (xt, yt), (xv, yv), probe = demo_data()
        build, fit_kw = demo_model, dict(validation_data=(xv, yv), epochs=5, batch_size=64)
    else:
        xt, yt = cnn128_data(64)
        probe = xt[:8]
        build, fit_kw = cnn128_model, dict(epochs=3, batch_size=16)
    timers: dict[str, list[_Timed]] = {"fmlogger": [], "fmlogger sync": [], NO_WAIT: []}
    tmp = tempfile.TemporaryDirectory()

    def fit(arm: str):
        model = build()
        callbacks = []
        if arm != "plain":
            log_dir = tempfile.mkdtemp(dir=tmp.name)
            cb = FeatureMapCallback(log_dir, probe, background=(arm != "fmlogger sync"))
            if arm == NO_WAIT:  # a measurement only: the epoch's step is not durable at the epoch's end
                cb._make_durable = lambda epoch: None
            timers[arm].append(_Timed(cb))
            callbacks.append(cb)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(xt, yt, verbose=0, callbacks=callbacks, **fit_kw)
        return (time.perf_counter() - start, time.process_time() - cpu), model, callbacks

    arms = ["plain", "fmlogger"] + (["fmlogger sync"] if sync else []) + ([NO_WAIT] if no_wait else [])
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
            waits = [w for t in timers[arm] for w in t.waits]
            entry.update(
                stall_ms=statistics.median(stalls) * 1e3,
                first_ms=statistics.median(t.stalls[0] for t in timers[arm]) * 1e3,
                wait_ms=statistics.median(waits) * 1e3 if waits else 0.0,
                logged=statistics.median(len(t.stalls) for t in timers[arm]),
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
    parser.add_argument(
        "--no-wait", action="store_true",
        help="also time the callback without its epoch-end wait for the writer (how much of the "
        "overhead that wait is; not a setting: the epoch's step is then not durable at its end)",
    )
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None)
    args = parser.parse_args(argv)
    if args.backend:
        from fmlogger.capture.backend import select

        select(args.backend)
    print(machine())
    rows = []
    for which in args.models.split(","):
        result = run(which, args.repeats, args.sync, args.no_wait)
        for arm, e in result["arms"].items():
            rows.append([
                which, arm, e["median_s"], f"{e['ratio']:.3f}x",
                " ".join(f"{r:.3f}" for r in e["ratios"]), e["cpu_s"], f"{e['cpu_ratio']:.3f}x",
                e.get("stall_ms", ""),
                f"{e['stall_ms'] / result['forward_ms']:.2f}x" if "stall_ms" in e else "",
                e.get("first_ms", ""), e.get("wait_ms", ""), e.get("begin_ms", ""), e.get("end_ms", ""),
                _predicted(e, result["arms"]["plain"]["median_s"]) if "stall_ms" in e else "",
            ])
        rows.append(
            [which, "compiled forward (probe)", "", "", "", "", "", result["forward_ms"], "1.00x"] + [""] * 5
        )
    print(
        f"\nfit wall time, {args.repeats} interleaved rounds"
        " (targets: demo <= 1.03x, cnn128 <= 1.10x; stall <= 1.2x forward)"
    )
    print("CPU s: user+system time of the whole process (all threads), less sensitive to other load.")
    print(table(["model", "arm", "fit s (median)", "ratio (median)", "ratios per round", "CPU s (median)",
                 "CPU ratio (median)", "stall ms/step",
                 "stall/forward", "first log ms", "epoch-end wait ms", "train_begin ms", "train_end ms",
                 "predicted ratio"], rows))
    print(
        "predicted ratio: 1 + (train_begin + first log + (logged steps - 1) x (stall + epoch-end wait)"
        " + train_end) / plain fit, from the medians: what the training thread waits for."
    )


def _predicted(e: dict, plain_s: float) -> str:
    """``1 + (train begin + first log + the other logs' stalls + the epoch-end waits + train end) /
    plain fit time``."""
    logged = e["logged"]
    extra_ms = e["begin_ms"] + e["first_ms"] + (logged - 1) * (e["stall_ms"] + e["wait_ms"]) + e["end_ms"]
    return f"{1 + extra_ms / 1e3 / plain_s:.3f}x"


if __name__ == "__main__":
    main()
