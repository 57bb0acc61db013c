"""Transfer learning: a MobileNetV2 backbone nested inside your model, its inner layers logged.

The backbone is a ``keras.applications`` model used as one layer of the outer model, so its
layers are reached by path: ``"<backbone name>/block_1_expand_relu"``. Patterns are globs over
whole paths; be exact: ``block_1_*relu`` is block 1 only, while ``block_1*relu`` would also match
blocks 10 to 16. The backbone here starts from random weights (``weights=None``: this example
runs offline); with a network, pass ``weights="imagenet"`` and an input of 96 px or more.

    python examples/transfer_learning.py --logdir runs/transfer --epochs 3
"""

from __future__ import annotations

import _common

import fmlogger

BLOCKS = ["Conv1_relu", "block_1_*relu"]
"""The stem's activation and block 1's two ReLUs (expand, depthwise); not blocks 10..16."""


def build(size: int = 32):
    """Frozen MobileNetV2 (alpha 0.35) on ``size`` x ``size`` RGB, then a new 10-class head."""
    import keras

    backbone = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=0.35, weights=None, include_top=False
    )
    backbone.trainable = False  # transfer learning: train only the head
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(inputs)  # MobileNet's range
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="transfer")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, backbone


def main(argv=None) -> None:
    args = _common.parse_args(__doc__.splitlines()[0], name="transfer", epochs=3, argv=argv)
    import keras

    keras.utils.set_random_seed(0)
    x, y = _common.digits(320, rgb=True)
    model, backbone = build()
    layers = [f"{backbone.name}/{block}" for block in BLOCKS]
    callback = fmlogger.FeatureMapCallback(
        args.logdir, probe=(x[-4:], y[-4:]), layers=layers, colormap="viridis", max_channels=16,
    )
    model.fit(x[:-64], y[:-64], validation_data=(x[-64:], y[-64:]), epochs=args.epochs,
              batch_size=32, verbose=0, callbacks=[callback])
    from fmlogger.runs.compare import image_tag_names

    logged = [t for t in image_tag_names(callback.logger.run_dir) if t.startswith("feature_maps/")]
    print("logged layers:", ", ".join(t.removeprefix("feature_maps/") for t in logged))
    _common.where_to_look(
        args.logdir,
        f"Images tab: feature_maps/{backbone.name}/... (the backbone's inner layers, one card per digit).",
    )


if __name__ == "__main__":
    main()
