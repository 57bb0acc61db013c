"""Why the model decides: saliency, Grad-CAM and activation maximization, epoch after epoch.

The callback draws, for each probe digit and each epoch, which pixels move the score of the
digit's label (vanilla gradients, SmoothGrad, Integrated Gradients), where the last convolution
looks (Grad-CAM) and, for some channels of ``conv2``, an input optimised to make the channel fire.
The same functions work on their own, numpy in and out: the end of the script writes a Grad-CAM
overlay of the trained model as a PNG, with no TensorBoard involved.

    python examples/explain.py --logdir runs/explain --epochs 3
"""

from __future__ import annotations

import os

import _common

import fmlogger
from fmlogger.explain.settings import ExplainSettings


def main(argv=None) -> None:
    args = _common.parse_args(__doc__.splitlines()[0], name="explain", epochs=3, argv=argv)
    import keras

    keras.utils.set_random_seed(0)
    x, y = _common.digits(384)
    model = _common.small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = fmlogger.FeatureMapCallback(
        args.logdir, probe=(x[-4:], y[-4:]),  # the labels are what saliency explains
        layers=["conv3"],
        saliency=["vanilla", "smoothgrad", "integrated_gradients"],
        gradcam=["conv3"],
        activation_max={"conv2": [0, 1, 2, 3]},
        explain_settings=ExplainSettings(smoothgrad_samples=8, ig_steps=16, actmax_steps=32),
    )
    model.fit(x[:-4], y[:-4], epochs=args.epochs, batch_size=32, verbose=0, callbacks=[callback])

    # The same, standalone: Grad-CAM of the trained model over the probe, as one PNG.
    from fmlogger.explain.saliency import Saliency
    from fmlogger.render.overlay import overlay
    from fmlogger.render.png import encode_png
    from fmlogger.render.renderer import stack_rows

    cam = Saliency(model).gradcam(x[-4:], "conv3", target="predicted")  # [4, 32, 32]
    images = overlay(x[-4:], cam, alpha=0.5)                           # uint8 [4, 128, 128, 3]
    out = os.path.join(args.logdir, "gradcam_conv3.png")
    with open(out, "wb") as f:
        f.write(encode_png(stack_rows(list(images))))
    print(f"Grad-CAM of conv3 for the 4 probe digits: {out}")
    _common.where_to_look(
        args.logdir,
        "Images tab: saliency/vanilla, saliency/smoothgrad, saliency/integrated_gradients, gradcam/conv3",
        "(the input in grey, evidence for the label in colour) and activation_max/conv2 (one card).",
    )


if __name__ == "__main__":
    main()
