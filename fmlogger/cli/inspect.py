"""``fmlogger inspect``: feature maps, saliency, Grad-CAM (and activation maximization) of a saved
model on one image, written as PNG files. No training, no TensorBoard.

The images come from the same views as in training (``fmlogger.views``) and go through the
PNG-folder sink (``fmlogger.sinks.png_folder``): files mirror the TensorBoard tags under ``OUT``,
``input.png``, ``feature_maps/<layer>.png``, ``saliency/<method>.png``, ``gradcam/<layer>.png``,
``activation_max/<layer>.png``, with names from layers sanitized so nothing leaves ``OUT``.

Images are read with Pillow when it is installed (``pip install pillow`` or ``fmlogger[image]``);
without it, pass the image as a ``.npy`` array ``[H, W]``, ``[H, W, C]`` or ``[1, H, W, C]``.
A PNG/JPEG is converted to the model's channel count, resized to its input size and multiplied
by ``rescale`` (default 1/255); a ``.npy`` array is used as it is unless ``rescale`` is given.

Example:
    >>> import io
    >>> stream = io.StringIO()
    >>> bar = text_progress("activation_max conv1", stream)
    >>> bar(64, 64); stream.getvalue().strip()
    'activation_max conv1 [##############################] 64/64'
    >>> written = inspect_model("model.keras", "cat.png", "out", layers=["conv*"])   # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

from fmlogger import tags

PILLOW_HINT = (
    "reading {path!r} needs Pillow, which is not installed. Install it with `pip install pillow` "
    "(or `pip install 'fmlogger[image]'`), or save the image as a .npy array [H, W, C] and pass that."
)


def _model_input_shape(model) -> tuple:
    inputs = getattr(model, "inputs", None)
    if inputs and len(inputs) == 1:
        return tuple(inputs[0].shape)[1:]
    return ()


def read_image(path: str, input_shape: Sequence = (), *, rescale: float | None = None) -> np.ndarray:
    """Reads ``path`` as a float32 batch of one ``[1, H, W, C]`` for a model input ``input_shape``.

    Raises:
        ImportError: for a non-.npy file when Pillow is missing (the message says what to do).
        ValueError: for an array that is not an image.
    """
    shape = tuple(input_shape)
    if path.lower().endswith(".npy"):
        array = np.load(path).astype(np.float32)
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[0] != 1:
            raise ValueError(
                f"{path!r} must hold one image [H, W], [H, W, C] or [1, H, W, C]. "
                f"Received shape {array.shape}"
            )
        return array * np.float32(rescale) if rescale is not None else array
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(PILLOW_HINT.format(path=path)) from err
    channels = shape[2] if len(shape) == 3 and shape[2] is not None else 3
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if len(shape) == 3 and shape[0] and shape[1] and image.size != (shape[1], shape[0]):
            print(
                f"fmlogger inspect: resizing {image.size[0]}x{image.size[1]} to the model's "
                f"{shape[1]}x{shape[0]}.",
                file=sys.stderr,
            )
            image = image.resize((shape[1], shape[0]), Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if channels not in (1, 3):  # e.g. a 4-channel model: repeat grey
        array = np.repeat(array.mean(axis=-1, keepdims=True), channels, axis=-1)
    return array[None] * np.float32(1 / 255 if rescale is None else rescale)


def text_progress(label: str, stream=None) -> Callable[[int, int], None]:
    """A one-line text progress bar ``label [#####.....] 32/64`` on ``stream`` (default stderr)."""
    stream = stream or sys.stderr
    width = 30
    last = [-1]

    def update(done: int, total: int) -> None:
        filled = int(width * done / max(total, 1))
        if filled == last[0] and done < total:
            return  # redraw only when the bar grows: at most ``width`` writes
        last[0] = filled
        stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return update


def inspect_model(
    model_path: str,
    image_path: str,
    out_dir: str,
    *,
    layers=None,
    saliency: Sequence[str] | None = tags.SALIENCY_METHODS,
    gradcam: Sequence[str] | None = None,
    activation_max: dict | None = None,
    target="predicted",
    rescale: float | None = None,
    colormap: str = "viridis",
    alpha: float = 0.5,
    actmax_steps: int = 64,
    progress: bool = True,
) -> list[str]:
    """Writes the PNGs described in the module doc; returns their paths.

    The same views as ``FeatureMapLogger`` (``FeatureMapView``, ``ExplanationsView``) run once
    on the image into a ``PngFolderSink``; a part that fails is named on stderr and skipped.

    Args:
        model_path: a ``.keras`` (or ``.h5``) file; loaded with ``compile=False``.
        image_path: a PNG/JPEG/... (needs Pillow) or a ``.npy`` array.
        out_dir: folder for the PNGs (created).
        layers: feature-map layers (names, paths, patterns); None: every 4-D layer (capped).
        saliency: methods among ``tags.SALIENCY_METHODS``; empty for none.
        gradcam: layer paths; None: the last convolution; empty for none.
        activation_max: ``{layer path: channels or None}``; None for none.
        target: ``"predicted"`` or a class index.
        rescale: input scaling (see the module doc).
        colormap, alpha: heatmap colormap and weight.
        actmax_steps: activation-maximization steps.
        progress: show a progress bar on stderr for activation maximization.

    Raises:
        ValueError: for an unknown layer or method, or an image that does not fit the model.
    """
    import keras

    from fmlogger.explain.gradcam import last_conv_layer
    from fmlogger.explain.saliency import Saliency
    from fmlogger.explain.settings import ExplainSettings
    from fmlogger.render.overlay import tile_images
    from fmlogger.render.renderer import RenderSettings
    from fmlogger.sinks.base import ImageSummary, Output
    from fmlogger.sinks.png_folder import PngFolderSink
    from fmlogger.views.base import Batch
    from fmlogger.views.explanations import ExplanationsView
    from fmlogger.views.feature_maps import FeatureMapView
    from fmlogger.views.pipeline import Pipeline

    model = keras.models.load_model(model_path, compile=False)
    x = read_image(image_path, _model_input_shape(model), rescale=rescale)
    if image_path.lower().endswith(".npy"):
        lo, hi = float(x.min()), float(x.max())
    else:
        lo, hi = 0.0, 255.0 * (1 / 255 if rescale is None else rescale)
    settings = ExplainSettings(
        target=target, alpha=alpha, colormap=colormap, min_size=256, ig_steps=64, actmax_steps=actmax_steps,
        actmax_value_range=(lo, hi) if hi > lo else (lo, lo + 1),
    )
    maps = FeatureMapView(layers, RenderSettings(colormap="gray"), max_samples=1)
    explain = ExplanationsView(
        saliency, [last_conv_layer(model, x)] if gradcam is None else gradcam, activation_max, settings,
        progress=text_progress if progress else None,
    )
    for view in (maps, explain):
        view.prepare(model, x)
    sink = PngFolderSink(out_dir)
    shown = tile_images(x, min_tile_size=128, padding=0)[None]
    sink.write(0, [Output(images=[ImageSummary("input", shown)])])
    _print_prediction(explain.saliency or Saliency(model), x, target, model_path, image_path)
    Pipeline([maps, explain], sink, _Skipped(), background=False).log(model, Batch(0, x))
    return sink.written


class _Skipped:
    """The error policy of ``inspect``: name each failed part on stderr and go on."""

    def report(self, where: str, error: BaseException) -> None:
        cause = f"{type(error).__name__}: {error}"
        print(f"fmlogger inspect: {where} failed and is skipped: {cause}", file=sys.stderr)


def _print_prediction(sal, x: np.ndarray, target, model_path: str, image_path: str) -> None:
    outputs = sal.predict(x)
    classes = sal.targets(x, target)
    top = np.argsort(-outputs[0])[:5] if outputs.shape[1] > 1 else [0]
    print(
        f"{os.path.basename(model_path)} on {os.path.basename(image_path)}: predicted class "
        f"{int(sal.predicted_classes(outputs)[0])}; outputs: "
        + ", ".join(f"{int(c)}: {outputs[0, c]:.4g}" for c in top)
        + f"; explaining class {int(classes[0])}."
    )
