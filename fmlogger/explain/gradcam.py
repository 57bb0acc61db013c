"""Grad-CAM: where in a layer's feature maps the evidence for a class lies.

``relu(sum_c mean_hw(d score / d A_c) * A_c)`` for a 4-D layer ``A``: the channels weighted by
their average gradient, kept where positive. The score is the one ``Saliency`` differentiates
(the target class's output; binary heads as described in ``fmlogger.explain.saliency``).

Any layer is reached by path, also inside nested models (``"backbone/block3_conv"``): the
layer's ``call`` is wrapped while the function is traced (``fmlogger.capture.hooks``), and a
zero is added to its output so that the gradient there is a gradient with respect to an
argument (what ``jax.grad`` needs; the same code on every backend). One compiled function per
layer, traced as ``Saliency``'s are.

Example:
    >>> cam = gradcam(model, x, "backbone/conv3", target="predicted")   # doctest: +SKIP
    >>> cam.shape                                                       # doctest: +SKIP
    (8, 32, 32)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fmlogger.capture.backend import run_in_chunks
from fmlogger.capture.hooks import output_shapes, tapped
from fmlogger.capture.layers import iter_layers, select_layers
from fmlogger.render.resize import resize_bilinear


class GradCam:
    """The Grad-CAM methods of ``fmlogger.explain.saliency.Saliency`` (its base class).

    ``Saliency`` provides the model, the adapter, the input check, the targets and the
    differentiated score; this class adds one compiled Grad-CAM function per layer, kept between
    calls, and runs compiled functions over chunks of ``batch_size`` samples.
    """

    def __init__(self):
        self._cams: dict[str, tuple[Callable, tuple]] = {}
        self._layers: dict[str, tuple[str, object]] = {}

    def _traced(self) -> None:
        self.trace_count += 1

    def _run(self, fn, *arrays) -> list[np.ndarray]:
        """``fn`` over chunks of ``batch_size`` rows of ``arrays`` (see ``run_in_chunks``)."""
        return run_in_chunks(self.adapter, fn, arrays, self.batch_size)

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

    def _cam_function(self, layer: str, x: np.ndarray) -> tuple[Callable, tuple]:
        """The compiled ``(x, target, zeros) -> (cam, score)`` of ``layer`` and its output shape."""
        if layer not in self._cams:
            import keras

            ops = keras.ops
            path, obj = self._resolve_layer(layer)
            shape = output_shapes(self.model, x[:1], [(path, obj)]).get(path)
            if shape is None:
                raise ValueError(f"gradcam layer {path!r} was not called in the forward pass.")
            if len(shape) != 4:
                raise ValueError(
                    f"gradcam layer {path!r} must have a 4-D output [n, h, w, c]; it has shape {shape}."
                )
            channels_first = (getattr(obj, "data_format", None) or "channels_last") == "channels_first"

            def total(x, target, zeros):
                with tapped(path, obj, add=zeros) as seen:
                    score = self._score(self._outputs(x), target)
                if not seen:
                    raise ValueError(f"gradcam layer {path!r} was not called in the forward pass.")
                return ops.sum(score), (seen[0], score)

            def trace(x, target, zeros):
                (grads,), (acts, score) = self.adapter.value_and_grad(total, (2,))(x, target, zeros)
                if grads is None:
                    raise ValueError(f"the model's output does not depend on gradcam layer {path!r}.")
                acts, grads = ops.cast(acts, "float32"), ops.cast(grads, "float32")
                if channels_first:
                    acts, grads = ops.transpose(acts, (0, 2, 3, 1)), ops.transpose(grads, (0, 2, 3, 1))
                weights = ops.mean(grads, axis=(1, 2), keepdims=True)
                return ops.relu(ops.sum(weights * acts, axis=-1)), score

            zeros = np.zeros((1,) + tuple(shape[1:]), np.float32)
            fn = self.adapter.compile(
                trace, self.model, self._example + (zeros,), on_trace=self._traced, grad=True
            )
            self._cams[layer] = (fn, tuple(shape[1:]))
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
        fn, shape = self._cam_function(layer, x)
        cam = self._run(fn, x, classes, np.zeros((len(x),) + shape, np.float32))[0]
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
