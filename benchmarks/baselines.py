"""fmlogger against the two common ways of logging feature maps, on the same maps.

Per logged step, for the demo CNN and the 128x128 CNN (default layers: every 4-D output; 4
probe samples; at most 64 channels per layer, gray):

    fmlogger step        ``FeatureMapLogger.log(..., background=False)``: compiled forward pass,
                         render, PNG encode, write (everything, on the calling thread)
    fmlogger stall       ``FeatureMapLogger.log`` with the background writer (what ``fit`` waits)
    sub-model + predict  ``keras.Model(model.inputs, [layer.output, ...])`` rebuilt and run with
                         ``predict`` each step, then fmlogger's render/encode/write of its arrays
    matplotlib recipe    the same sub-model + ``predict``, then per layer and sample a
                         ``plt.subplots`` grid with one ``imshow`` per channel, ``savefig`` to PNG,
                         ``tf.image.decode_png`` and ``tf.summary.image``

Medians over ``--repeats`` interleaved rounds. Needs matplotlib (``pip install fmlogger[bench]``).

Usage:
    python benchmarks/baselines.py [--repeats 5] [--models demo,cnn128]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import tempfile

import _common  # noqa: F401  (sets up sys.path and TF logging)
from _common import cnn128_data, cnn128_model, demo_data, demo_model, interleaved, machine, table


def _matplotlib():
    try:
        import matplotlib
    except ImportError as err:
        raise SystemExit(
            "baselines.py needs matplotlib: pip install 'fmlogger[bench]' (or matplotlib)."
        ) from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matplotlib_step(plt, tf, writer, arrays: dict, step: int, max_channels: int = 64) -> None:
    """The recipe: a subplots grid per sample with one imshow per channel, savefig, decode, log."""
    for name, a in arrays.items():
        k = min(a.shape[-1], max_channels)
        cols = math.ceil(math.sqrt(k))
        rows = math.ceil(k / cols)
        tile = max(a.shape[1], 32)  # about the pixel size of fmlogger's tiles
        images = []
        for sample in a:
            fig, axes = plt.subplots(rows, cols, figsize=(cols * tile / 100, rows * tile / 100), dpi=100)
            for c, ax in enumerate(axes.flat):
                ax.axis("off")
                if c < k:
                    ax.imshow(sample[:, :, c], cmap="gray")
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            plt.close(fig)
            images.append(tf.image.decode_png(buf.getvalue(), channels=4))
        with writer.as_default():
            tf.summary.image(f"matplotlib/{name}", tf.stack(images), step=step, max_outputs=len(images))
    writer.flush()


def run(which: str, repeats: int, tmp: str) -> dict:
    import keras
    import tensorflow as tf

    from fmlogger.logger import FeatureMapLogger

    plt = _matplotlib()
    tf.get_logger().setLevel("ERROR")  # the recipe retraces predict every step; TF warns each time
    if which == "demo":
        (xt, _), _, probe = demo_data()
        model = demo_model()
    else:
        xt, _ = cnn128_data(16)
        probe = xt[:8]
        model = cnn128_model()
    sync = FeatureMapLogger(os.path.join(tmp, which, "sync"), background=False)
    bg = FeatureMapLogger(os.path.join(tmp, which, "bg"))
    x = probe[: sync.max_samples]
    sync.log(model, x, 0)
    bg.log(model, x, 0)
    bg.flush()
    names = sync.capture_for(model, x).paths
    writer = tf.summary.create_file_writer(os.path.join(tmp, which, "matplotlib"))
    steps = iter(range(1, 10**6))

    def submodel_predict():
        sub = keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])
        return dict(zip(names, sub.predict(x, verbose=0)))

    def bg_stall():
        bg.log(model, x, next(steps))

    fns = {
        "fmlogger step": lambda: sync.log(model, x, next(steps)),
        "fmlogger stall": bg_stall,
        "sub-model + predict": lambda: sync.log_arrays(submodel_predict(), next(steps)),
        "matplotlib recipe": lambda: matplotlib_step(plt, tf, writer, submodel_predict(), next(steps)),
    }
    times = {name: [] for name in fns}
    for r in range(repeats):
        order = list(fns)[r % len(fns):] + list(fns)[: r % len(fns)]
        for name in order:
            bg.flush()  # the stall is timed with an idle writer, as after an epoch
            times[name].extend(interleaved({name: fns[name]}, 1, warmup=1 if r == 0 else 0)[name])
    # The capture part alone, for the record: compiled pass vs rebuilt sub-model + predict.
    capture = sync.capture_for(model, x)
    parts = interleaved({"capture": lambda: capture(x), "predict": submodel_predict}, repeats)
    bg.close()
    sync.close()
    writer.close()
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    ms.update({f"{k} only": statistics.median(v) * 1e3 for k, v in parts.items()})
    return ms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="demo,cnn128")
    args = parser.parse_args(argv)
    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for which in args.models.split(","):
            ms = run(which, args.repeats, tmp)
            step = ms["fmlogger step"]
            for name in ("fmlogger step", "fmlogger stall", "sub-model + predict", "matplotlib recipe"):
                rows.append(
                    [which, name, ms[name], f"{ms[name] / step:.1f}x",
                     f"{ms[name] / ms['fmlogger stall']:.1f}x"]
                )
            rows.append([which, "(capture: compiled pass only)", ms["capture only"], "", ""])
            rows.append([which, "(capture: sub-model rebuilt + predict)", ms["predict only"], "", ""])
    print(
        f"\nms per logged step, medians of {args.repeats} interleaved rounds"
        " (target: matplotlib recipe >= 20x fmlogger)"
    )
    print(table(["model", "method", "ms/step", "vs fmlogger step", "vs fmlogger stall"], rows))


if __name__ == "__main__":
    main()
