"""Comparing two runs: the same model and probe trained with two learning rates.

Both runs log the same layers on the same probe digits (same seed), so a difference in the
pictures is a difference in what the model learned. ``fmlogger.compare_runs`` puts one layer of
the two runs side by side with their difference; the Feature Maps tab of ``fmlogger board``
does the same interactively (pick two runs under "Compare").

    python examples/compare_runs.py --logdir runs/compare --epochs 3
"""

from __future__ import annotations

import os

import _common
import numpy as np

import fmlogger

LEARNING_RATES = (3e-4, 3e-3)


def train(logdir: str, learning_rate: float, epochs: int, x, y) -> None:
    import keras

    keras.utils.set_random_seed(0)  # same weights, same batches: only the learning rate differs
    model = _common.small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    callback = fmlogger.FeatureMapCallback(logdir, probe=(x[-4:], y[-4:]), layers=["conv1", "conv2"])
    model.fit(x[:-4], y[:-4], epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])


def main(argv=None) -> None:
    args = _common.parse_args(__doc__.splitlines()[0], name="compare", epochs=3, argv=argv)
    x, y = _common.digits(384)
    runs = [os.path.join(args.logdir, f"lr_{lr:g}") for lr in LEARNING_RATES]
    for run, lr in zip(runs, LEARNING_RATES):
        train(run, lr, args.epochs, x, y)
    result = fmlogger.compare_runs(runs[0], runs[1], "conv2")  # the newest step both logged
    for warning in result.warnings:
        print("warning:", warning)
    out = os.path.join(args.logdir, "conv2_compare.png")
    from fmlogger.render.png import encode_png

    with open(out, "wb") as f:
        f.write(encode_png(result.image))
    changed = np.count_nonzero(result.diff) / result.diff.size
    print(f"conv2 at step {result.steps[0]}: {changed:.0%} of pixels differ between the two learning "
          f"rates (largest difference {int(result.diff.max())} of 255); image: {out}")
    _common.where_to_look(
        args.logdir,
        "Both runs appear side by side: Feature Maps tab -> Compare (two runs, one layer, one step),",
        f"or on the command line: fmlogger compare {runs[0]} {runs[1]} --layer conv2 --out diff.png",
    )


if __name__ == "__main__":
    main()
