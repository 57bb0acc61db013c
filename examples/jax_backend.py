"""Keras on JAX: the same callback, with the Keras backend set to ``jax`` before Keras is imported.

Keras picks its backend once, from ``KERAS_BACKEND``, at its first import; this script sets it
itself. It needs ``pip install jax`` and an fmlogger whose capture supports the JAX backend;
when either is missing it says so and exits with status 77 (the test suite reads that as
"skipped").

    python examples/jax_backend.py --logdir runs/jax --epochs 3
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

import _common

SKIP = 77


def main(argv=None) -> int:
    args = _common.parse_args(__doc__.splitlines()[0], name="jax", epochs=3, argv=argv)
    if importlib.util.find_spec("jax") is None:
        print("skipped: jax is not installed (pip install jax)")
        return SKIP
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

    if keras.backend.backend() != "jax":
        print(f"skipped: Keras was already imported with the {keras.backend.backend()!r} backend")
        return SKIP
    import fmlogger

    keras.utils.set_random_seed(0)
    x, y = _common.digits(384)
    model = _common.small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    try:  # one strict step first: an install without JAX support fails here, clearly
        with tempfile.TemporaryDirectory() as scratch:
            with fmlogger.FeatureMapLogger(scratch, layers=["conv1"], on_error="raise") as check:
                check.log(model, x[:2], 0)
    except Exception as err:  # noqa: BLE001 - reported as a skip with its reason
        print(f"skipped: this fmlogger cannot capture on the JAX backend: {type(err).__name__}: {err}")
        return SKIP
    callback = fmlogger.FeatureMapCallback(args.logdir, probe=(x[-4:], y[-4:]), layers=["conv*"])
    model.fit(x[:-4], y[:-4], epochs=args.epochs, batch_size=32, verbose=0, callbacks=[callback])
    _common.where_to_look(args.logdir, "Images tab: feature_maps/conv1..conv3, written from JAX arrays.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
