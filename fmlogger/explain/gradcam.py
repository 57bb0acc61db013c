"""Grad-CAM: where in a layer's feature maps the evidence for a class lies.

``relu(sum_c mean_hw(d score / d A_c) * A_c)`` for a 4-D layer ``A``: the channels weighted by
their average gradient, kept where positive. The score is the one ``Saliency`` differentiates
(the target class's output; binary heads as described in ``fmlogger.explain.saliency``).

Any layer is reached by path, also inside nested models (``"backbone/block3_conv"``): the
layer's ``call`` is wrapped while the function is traced (``fmlogger.capture.hooks``). One
``tf.function`` per layer, traced once for the input shape with the batch size left free.

Example:
    >>> cam = gradcam(model, x, "backbone/conv3", target="predicted")   # doctest: +SKIP
    >>> cam.shape                                                       # doctest: +SKIP
    (8, 32, 32)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fmlogger._tf import tensorflow
from fmlogger.capture.hooks import first_output, output_shapes
from fmlogger.capture.layers import iter_layers, select_layers
from fmlogger.render.resize import resize_bilinear


class GradCam:
    """The Grad-CAM methods of ``fmlogger.explain.saliency.Saliency`` (its base class).

    ``Saliency`` provides the model, the input check, the targets and the differentiated score;
    this class adds one traced Grad-CAM function per layer, kept between calls.
    """

    def __init__(self):
        self._cams: dict[str, Callable] = {}
        self._layers: dict[str, tuple[str, object]] = {}

    def _resolve_layer(self, layer: str) -> tuple[str, object]:
        """``(path, layer object)`` of one layer named by name or path (no pattern)."""
        if layer not in self._layers:
            if not isinstance(layer, str) or any(ch in layer for ch in "*?["):
                raise ValueError(
                    "gradcam layers must be one layer name or path ('backbone/conv3'), no pattern. "
                    f"Received: {layer!r}"
                )
            try:
                hits = select_layers(self.model, [layer])
            except ValueError as err:
                raise ValueError(f"gradcam layer {layer!r}: {err}") from None
            if len(hits) != 1:
                raise ValueError(f"gradcam layer {layer!r} names {len(hits)} layers: {[p for p, _ in hits]}")
            self._layers[layer] = hits[0]
        return self._layers[layer]

    def _cam_function(self, layer: str):
        if layer not in self._cams:
            tf = tensorflow()
            path, obj = self._resolve_layer(layer)
            data_format = getattr(obj, "data_format", None) or "channels_last"

            def trace(x, target):
                self.trace_count += 1
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    with first_output(path, obj, watch=tape.watch) as seen:
                        score = self._score(self._outputs(x), target)
                if not seen:
                    raise ValueError(f"gradcam layer {path!r} was not called in the forward pass.")
                acts = seen[0]
                grads = tape.gradient(score, acts)
                if grads is None:
                    raise ValueError(f"the model's output does not depend on gradcam layer {path!r}.")
                acts, grads = tf.cast(acts, tf.float32), tf.cast(grads, tf.float32)
                if len(acts.shape) != 4:
                    raise ValueError(
                        f"gradcam layer {path!r} must have a 4-D output [n, h, w, c]; "
                        f"it has shape {tuple(acts.shape)}."
                    )
                if data_format == "channels_first":
                    acts, grads = tf.transpose(acts, (0, 2, 3, 1)), tf.transpose(grads, (0, 2, 3, 1))
                weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
                return tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1)), score

            self._cams[layer] = tf.function(trace, input_signature=list(self._spec), autograph=False)
        return self._cams[layer]

    def gradcam(self, x, layer: str, target="predicted", *, labels=None, upsample: bool = True) -> np.ndarray:
        """Grad-CAM of a 4-D layer: ``relu(sum_c mean_hw(d score / d A_c) * A_c)``.

        Args:
            x: the inputs ``[n, H, W, C]``.
            layer: a layer name or path, e.g. ``"backbone/conv3"`` for a layer of a nested model.
            target: as in ``Saliency.targets``.
            labels: the labels for ``target="label"``.
            upsample: resize (bilinear) to the input's height and width; False keeps the layer's.

        Returns:
            float32 ``[n, H, W]`` (or ``[n, h, w]``), non-negative, not normalized.
        """
        x = self._checked(x)
        classes = self.targets(x, target, labels)
        fn = self._cam_function(layer)
        cam = np.concatenate([fn(x[a:b], classes[a:b])[0].numpy() for a, b in self._chunks(len(x))])
        return resize_bilinear(cam, x.shape[1:3]) if upsample else cam


def gradcam(
    model, x, layer: str, target="predicted", *, labels=None, upsample: bool = True, batch_size: int = 32
) -> np.ndarray:
    """Grad-CAM ``[n, H, W]`` of ``layer`` (a name or nested path). See ``GradCam.gradcam``.

    Example:
        >>> cam = gradcam(model, x, "backbone/conv3", target="predicted")    # doctest: +SKIP
    """
    from fmlogger.explain.saliency import saliency_for

    return saliency_for(model, batch_size=batch_size).gradcam(
        x, layer, target, labels=labels, upsample=upsample
    )


def last_conv_layer(model, x) -> str:
    """Path of the last convolution (else any layer) with a 4-D output on ``x``: the usual Grad-CAM choice.

    Example:
        >>> last_conv_layer(model, x)                                       # doctest: +SKIP
        'backbone/conv2'

    Raises:
        ValueError: when the model has no such layer.
    """
    shapes = output_shapes(model, x[:1])
    leaves = [
        (p, layer)
        for p, layer in iter_layers(model)
        if len(shapes.get(p, ())) == 4 and not getattr(layer, "layers", None)
    ]
    convs = [p for p, layer in leaves if hasattr(layer, "kernel")]
    if not leaves:
        raise ValueError(f"model '{model.name}' has no layer with a 4-D output for Grad-CAM.")
    return (convs or [p for p, _ in leaves])[-1]
