"""What explanations cost the training thread, against the floor of their gradient passes.

The demo CNN (trained one epoch) and its probe (4 digits with labels), with what the demo logs:
vanilla gradients, SmoothGrad (8 samples), Integrated Gradients (16 steps) and Grad-CAM of
``conv3``. Each round runs, in rotating order:

    compute     ``ExplanationsView.compute``: what the training thread pays per logged step
                (the rows of all three saliency methods in one chunked gradient pass, one
                Grad-CAM pass; no overlay, no drawing)
    per method  the same through ``Saliency.vanilla/smoothgrad/integrated_gradients/gradcam``, one
                after the other (what ``compute`` did before, Grad-CAM upsampled)
    floor       the same gradients straight from TensorFlow, no fmlogger: one ``tf.function``
                of the input gradients over the same rows (made beforehand) in chunks of
                ``batch_size`` (32), one ``tf.function`` of Grad-CAM on the probe
    floor, 1 call  the same, all rows in one call (no chunking: memory unbounded)
    produce     ``ExplanationsView.produce``: overlays and colours, on the background worker
    actmax      the demo's activation maximization (conv2, 8 channels, 24 steps): iterative,
                on the training thread (it needs the weights of that step)

Medians over ``--repeats`` rounds of wall time and of process CPU time (all threads: less
sensitive to other load on a shared machine); the target is compute / floor <= 2.

    python benchmarks/explain_thread.py --repeats 21
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
import numpy as np
from _common import demo_data, demo_model, interleaved, machine, table


def floor_functions(model, layer: str, classes: int):
    """TensorFlow's own input-gradient and Grad-CAM functions of a Sequential ``model``."""
    import tensorflow as tf

    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32)
    target = tf.TensorSpec((None,), tf.int32)

    @tf.function(input_signature=[spec, target])
    def grads(x, c):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x, training=False) * tf.one_hot(c, classes))
        return tape.gradient(score, x)

    @tf.function(input_signature=[spec, target])
    def cam(x, c):
        with tf.GradientTape() as tape:
            a = x
            for lay in model.layers:
                a = lay(a, training=False)
                if lay.name == layer:
                    acts = a
                    tape.watch(acts)
            score = tf.reduce_sum(a * tf.one_hot(c, classes))
        weights = tf.reduce_mean(tape.gradient(score, acts), axis=(1, 2), keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1))

    return grads, cam


def cpu_timed(fn, into: list):
    """``fn`` that also appends the process CPU seconds (all threads) of each call to ``into``."""

    def timed():
        start = time.process_time()
        fn()
        into.append(time.process_time() - start)

    return timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args(argv)
    print(machine())

    from fmlogger.cli.demo import DEMO_EXPLAIN, demo_probe
    from fmlogger.explain.actmax import ActivationMaximizer
    from fmlogger.explain.plans import integrated_gradients_plan, smoothgrad_plan, vanilla_plan
    from fmlogger.explain.settings import ExplainSettings
    from fmlogger.views.base import Batch
    from fmlogger.views.explanations import ExplanationsView

    (xt, yt), (xv, yv), _ = demo_data()
    model = demo_model()
    model.fit(xt, yt, epochs=1, batch_size=64, verbose=0)
    x, y = demo_probe(xv, yv, 4)
    x, classes = x.astype(np.float32), y.astype(np.int32)
    s = ExplainSettings(smoothgrad_samples=8, ig_steps=16)  # the demo's
    (layer,) = DEMO_EXPLAIN["gradcam"]
    view = ExplanationsView(DEMO_EXPLAIN["saliency"], [layer], None, s)
    view.prepare(model, x)
    sal = view.saliency
    batch = Batch(1, x, y)
    batch.computed[view] = view.compute(model, batch)

    plans = [
        vanilla_plan(x),
        smoothgrad_plan(x, samples=s.smoothgrad_samples, noise=s.smoothgrad_noise, seed=s.seed),
        integrated_gradients_plan(x, baseline=s.ig_baseline, steps=s.ig_steps),
    ]
    index = [np.arange(len(x) * p.repeats) for p in plans]
    rows = np.concatenate([p.make(i // p.repeats, i % p.repeats) for p, i in zip(plans, index)])
    row_classes = np.concatenate([classes[i // p.repeats] for p, i in zip(plans, index)])
    grads, cam = floor_functions(model, layer, sal.num_classes)
    b = s.batch_size

    def floor():
        for a in range(0, len(rows), b):
            grads(rows[a : a + b], row_classes[a : a + b]).numpy()
        cam(x, classes).numpy()

    def per_method():
        sal.vanilla(x, classes)
        sal.smoothgrad(x, classes, samples=s.smoothgrad_samples, noise=s.smoothgrad_noise, seed=s.seed)
        sal.integrated_gradients(x, classes, baseline=s.ig_baseline, steps=s.ig_steps)
        sal.gradcam(x, layer, classes)

    maxer = ActivationMaximizer(model, "conv2", steps=24)
    cpu = {name: [] for name in ("compute", "per method", "floor", "floor, 1 call", "produce", "actmax")}
    fns = {
        "compute": lambda: view.compute(model, Batch(1, x, y)),
        "per method": per_method,
        "floor": floor,
        "floor, 1 call": lambda: (grads(rows, row_classes).numpy(), cam(x, classes).numpy()),
        "produce": lambda: view.produce(batch),
        "actmax": lambda: maxer(8),
    }
    times = interleaved({name: cpu_timed(fn, cpu[name]) for name, fn in fns.items()}, args.repeats, warmup=2)
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    cpu_ms = {name: statistics.median(t[2:]) * 1e3 for name, t in cpu.items()}  # after the warm-up calls
    ratios = {name: statistics.median(t / f for t, f in zip(times[name], times["floor"])) for name in fns}
    print(
        f"\nDemo CNN, probe of {len(x)}: {len(rows)} gradient rows (vanilla {len(x)}, SmoothGrad "
        f"{len(x) * s.smoothgrad_samples}, IG {len(x) * (s.ig_steps + 1)}) + Grad-CAM {layer}; "
        f"{args.repeats} interleaved rounds, medians; target compute / floor <= 2.00"
    )
    rows_out = [
        [name, ms[name], f"{ms[name] / ms['floor']:.2f}x", f"{ratios[name]:.2f}x", cpu_ms[name],
         f"{cpu_ms[name] / cpu_ms['floor']:.2f}x"]
        for name in fns
    ]
    header = ["what", "wall ms", "/ floor", "/ floor (per round)", "CPU ms (all threads)", "CPU / floor"]
    print(table(header, rows_out))
    print(f"Saliency traces: {sal.trace_count} (gradients, forward, Grad-CAM {layer}; once each)")


if __name__ == "__main__":
    main()
