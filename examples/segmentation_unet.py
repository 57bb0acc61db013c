"""Segmentation: a small U-Net on synthetic microscopy-like "cells", encoder and decoder logged.

The data set is generated (no download): dark noisy fields with 2 to 5 bright elliptical cells,
each with a brighter nucleus, and the cell masks as targets. The callback logs the encoder, the
bottleneck, the decoder and the predicted mask itself (layer ``mask``): watch the decoder go from
noise to cell outlines and the mask sharpen, epoch after epoch.

    python examples/segmentation_unet.py --logdir runs/unet --epochs 5
"""

from __future__ import annotations

import _common
import numpy as np

import fmlogger

LAYERS = ["enc*", "bottleneck", "dec*", "mask"]
"""enc1, enc2, bottleneck, dec2, dec1 and the 1-channel sigmoid output."""


def cells(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images float32 ``[n, size, size, 1]`` in [0, 1] and their masks (1 inside a cell)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = rng.normal(0.1, 0.05, (n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), np.float32)
    for i in range(n):  # a handful of cells per image; each cell is one vectorised ellipse
        for _ in range(rng.integers(2, 6)):
            cy, cx = rng.uniform(4, size - 4, 2)
            ry, rx = rng.uniform(2.5, 6, 2)
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            nucleus = ((yy - cy) / (ry / 2.5)) ** 2 + ((xx - cx) / (rx / 2.5)) ** 2 <= 1
            images[i] += 0.45 * inside + 0.3 * nucleus
            masks[i] = np.maximum(masks[i], inside)
    return np.clip(images, 0, 1)[..., None], masks[..., None]


def unet(size: int = 32):
    """enc1(8) -> enc2(16) -> bottleneck(32) -> dec2(16, skip enc2) -> dec1(8, skip enc1) -> mask."""
    import keras
    from keras import layers

    def conv(filters: int, name: str):
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)

    inputs = keras.Input((size, size, 1), name="image")
    e1 = conv(8, "enc1")(inputs)
    e2 = conv(16, "enc2")(layers.MaxPooling2D(name="down1")(e1))
    b = conv(32, "bottleneck")(layers.MaxPooling2D(name="down2")(e2))
    u2 = layers.Conv2DTranspose(16, 2, strides=2, name="up2")(b)
    d2 = conv(16, "dec2")(layers.Concatenate(name="skip2")([u2, e2]))
    u1 = layers.Conv2DTranspose(8, 2, strides=2, name="up1")(d2)
    d1 = conv(8, "dec1")(layers.Concatenate(name="skip1")([u1, e1]))
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(d1)
    model = keras.Model(inputs, outputs, name="unet")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None) -> None:
    args = _common.parse_args(__doc__.splitlines()[0], name="unet", epochs=5, argv=argv)
    import keras

    keras.utils.set_random_seed(0)
    x, masks = cells(160)
    model = unet()
    callback = fmlogger.FeatureMapCallback(
        args.logdir, probe=x[-4:], layers=LAYERS, colormap="magma", normalize="per_layer",
        max_channels=16,
    )
    model.fit(x[:-32], masks[:-32], validation_data=(x[-32:], masks[-32:]), epochs=args.epochs,
              batch_size=16, verbose=0, callbacks=[callback])
    predicted = model(x[-32:], training=False).numpy() > 0.5
    truth = masks[-32:] > 0.5
    iou = np.logical_and(predicted, truth).sum() / max(np.logical_or(predicted, truth).sum(), 1)
    print(f"validation IoU after {args.epochs} epoch(s): {iou:.2f}")
    _common.where_to_look(
        args.logdir,
        "Images tab: feature_maps/enc1 ... dec1 and feature_maps/mask (the predicted mask).",
    )


if __name__ == "__main__":
    main()
