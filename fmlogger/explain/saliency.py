"""Which input pixels drive a decision: vanilla gradients, SmoothGrad, Integrated Gradients.

All functions take and return numpy arrays, on every Keras backend. Gradients are computed by one
compiled function per model (Grad-CAM, in ``fmlogger.explain.gradcam``, one per layer) through
the backend's own gradients (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``; see
``fmlogger.capture.backend``), run over chunks of ``batch_size`` samples, so memory stays
bounded however many noise samples or integration steps are asked for. TensorFlow traces once
with the batch size free; JAX traces once per chunk size, and chunks are padded to a power of
two (at most ``1 + log2(batch_size)`` traces); PyTorch runs eagerly. ``Saliency.attribute``
runs the rows of several methods in one chunked pass (``fmlogger.explain.plans``): fewer calls.

The score that is differentiated is the model's output for a target class, one per sample:
``target="predicted"`` (the model's own choice), ``"label"`` (``labels=`` given; one-hot labels
are accepted), an int (the same class for every sample) or a sequence of ints. A binary head
(one output unit, sigmoid or logit) is handled: class 1 scores ``p`` (or the logit ``z``), class
0 scores ``1 - p`` (or ``-z``). For models with several outputs the first one is used.

Integrated Gradients uses the real formula: ``(x - baseline) * mean_alpha grad f(baseline +
alpha (x - baseline))`` (trapezoid rule over ``steps`` intervals), so attributions sum to
``f(x) - f(baseline)`` up to the integration error.

Example:
    >>> sal = Saliency(model)                                        # doctest: +SKIP
    >>> sal.vanilla(x, target="predicted").shape                     # doctest: +SKIP
    (8, 32, 32, 3)
    >>> sal.gradcam(x, "backbone/conv3").shape                       # doctest: +SKIP
    (8, 32, 32)
    >>> ig = integrated_gradients(model, x, target=1, steps=64)      # doctest: +SKIP
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence

import numpy as np

from fmlogger._arrays import to_numpy
from fmlogger._checks import check_int
from fmlogger.capture.backend import adapter
from fmlogger.capture.hooks import first_tensor
from fmlogger.explain.gradcam import GradCam
from fmlogger.explain.plans import Plan, integrated_gradients_plan, run_plans, smoothgrad_plan, vanilla_plan

TARGETS = ("predicted", "label")
_NO_FLOW = (
    "no gradient flows from the output of model '{name}' to its input{why} (is there a "
    "non-differentiable op such as round, argmax or an integer cast on the way?)"
)
BINARY_OUTPUTS = ("probability", "logit")


def _output_activation(model) -> str | None:
    """Name of the activation of the model's last layer (``"sigmoid"``, ``"linear"``, ...), if known."""
    layer = model
    while isinstance(getattr(layer, "layers", None), (list, tuple)) and layer.layers:
        layer = layer.layers[-1]
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def _label_classes(labels, n: int, binary: bool) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape[0] < n:
        raise ValueError(f"labels must hold one entry per sample ({n}). Received shape {y.shape}")
    y = y[:n]
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot / probabilities
        return y.argmax(axis=1).astype(np.int32)
    y = y.reshape(n)
    if binary and np.issubdtype(y.dtype, np.floating):
        return (y >= 0.5).astype(np.int32)
    return y.astype(np.int32)


class Saliency(GradCam):
    """Saliency maps and Grad-CAM (``GradCam``) of one model; keeps its compiled functions between calls.

    Args:
        model: a single-input Keras model (Functional, Sequential or subclassed).
        batch_size: samples per gradient call (noise samples and integration steps count).
        binary_output: for a one-unit head, ``"probability"`` (sigmoid) or ``"logit"``; None
            guesses from the last layer's activation (sigmoid -> probability, else logit).

    Attributes:
        trace_count: how often a gradient function was traced (once per function and input
            shape; calling again with other batch sizes does not retrace).
    """

    def __init__(self, model, *, batch_size: int = 32, binary_output: str | None = None):
        check_int("batch_size", batch_size, 1)
        if binary_output is not None and binary_output not in BINARY_OUTPUTS:
            raise ValueError(
                f"binary_output must be one of {BINARY_OUTPUTS} or None. "
                f"Received: binary_output={binary_output!r}"
            )
        super().__init__()
        self.adapter = adapter("compute saliency or Grad-CAM")
        self.model = model
        self.batch_size = batch_size
        self._binary_output = binary_output
        self.trace_count = 0
        self._input_shape = None
        self._forward = None
        self._grads = None
        self.num_classes: int | None = None
        outputs = getattr(model, "outputs", None) if getattr(model, "built", False) else None
        if outputs:
            shape = tuple(outputs[0].shape)
            if all(d is not None for d in shape[1:]):
                self.num_classes = 1 if len(shape) == 1 else int(np.prod(shape[1:]))

    # ----- set-up -------------------------------------------------------------------------
    @property
    def binary(self) -> bool:
        """True for a one-unit (sigmoid or logit) head (known once the model has been called)."""
        return self.num_classes == 1

    @property
    def binary_output(self) -> str:
        if self._binary_output is None:
            self._binary_output = "probability" if _output_activation(self.model) == "sigmoid" else "logit"
        return self._binary_output

    def _checked(self, x) -> np.ndarray:
        """``x`` as float32 numpy ``[n, ...]``; raises for a multi-input model or a list/dict input."""
        inputs = getattr(self.model, "inputs", None)
        if isinstance(inputs, (list, tuple)) and len(inputs) > 1:
            raise ValueError(
                f"saliency and Grad-CAM need a single-input model; model '{self.model.name}' has "
                f"{len(inputs)} inputs."
            )
        if isinstance(x, (list, tuple, dict)):
            raise ValueError(
                f"saliency and Grad-CAM take one input array [n, H, W, C]. Received a {type(x).__name__}."
            )
        x = to_numpy(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a batch [n, ...] with n >= 1. Received shape {x.shape}")
        return x.astype(np.float32, copy=False)

    def _prepare(self, x: np.ndarray) -> None:
        """Compiles the functions for ``x``'s sample shape on first use; checks it later."""
        shape = tuple(x.shape[1:])
        if self._input_shape is None:
            self._input_shape = shape
            self._build(x)
        elif shape != self._input_shape:
            raise ValueError(
                f"x has sample shape {shape}, but this Saliency was set up for {self._input_shape}. "
                "Use one Saliency per input shape."
            )

    def _build(self, x: np.ndarray) -> None:
        with self.adapter.eager():
            out = first_tensor(self.model(x[:1], training=False))
        shape = tuple(out.shape)
        self.num_classes = 1 if len(shape) == 1 else int(np.prod(shape[1:]))
        self._example = (x[:1], np.zeros(1, np.int32))
        # Partials, not bound methods: TensorFlow counts traces per code object (see Capture).
        self._forward = self.adapter.compile(
            functools.partial(Saliency._outputs, self), self.model, self._example[:1], on_trace=self._traced
        )
        self._grads = self.adapter.compile(
            functools.partial(Saliency._input_grads, self), self.model, self._example,
            on_trace=self._traced, grad=True,
        )

    def _outputs(self, x):
        import keras

        out = keras.ops.cast(first_tensor(self.model(x, training=False)), "float32")
        return keras.ops.reshape(out, (-1, self.num_classes))

    def _score(self, out, target):
        """The differentiated score per sample: the target class's output (binary: see module doc)."""
        import keras

        if self.num_classes == 1:
            z = out[:, 0]
            negative = (1.0 - z) if self.binary_output == "probability" else -z
            return keras.ops.where(keras.ops.equal(target, 1), z, negative)
        return keras.ops.sum(out * keras.ops.one_hot(target, self.num_classes, dtype="float32"), axis=1)

    def _total_score(self, x, target):
        import keras

        score = self._score(self._outputs(x), target)
        return keras.ops.sum(score), score

    def _input_grads(self, x, target):
        (grads,), score = self.adapter.value_and_grad(self._total_score, (0,))(x, target)
        if grads is None:  # TensorFlow and PyTorch: the input is not connected
            raise ValueError(_NO_FLOW.format(name=self.model.name, why=""))
        return grads, score

    def _flowing(self, grads: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``grads``, or an error when they are zero everywhere for inputs that vary (JAX and
        PyTorch differentiate round, argmax and casts as 0 where TensorFlow finds no gradient)."""
        if not np.any(grads) and np.ptp(x) > 0:
            why = ": the gradient is zero for every sample"
            raise ValueError(_NO_FLOW.format(name=self.model.name, why=why))
        return grads

    # ----- targets -------------------------------------------------------------------------
    def predict(self, x) -> np.ndarray:
        """The model's outputs ``[n, classes]`` (first output, flattened) as float32."""
        x = self._checked(x)
        self._prepare(x)
        return self._run(self._forward, x)[0]

    def predicted_classes(self, outputs: np.ndarray) -> np.ndarray:
        """Argmax, or for a binary head ``p >= 0.5`` (probability) / ``z >= 0`` (logit)."""
        if self.num_classes == 1:
            threshold = 0.5 if self.binary_output == "probability" else 0.0
            return (outputs[:, 0] >= threshold).astype(np.int32)
        return outputs.argmax(axis=1).astype(np.int32)

    def targets(self, x, target="predicted", labels=None) -> np.ndarray:
        """Resolves ``target`` to one class index per sample (int32 ``[n]``).

        Raises:
            ValueError: for ``"label"`` without labels, an unknown string, a class out of range,
                or a sequence whose length is not ``n``.
        """
        x = self._checked(x)
        self._prepare(x)
        n = len(x)
        if isinstance(target, str):
            if target == "predicted":
                classes = self.predicted_classes(self.predict(x))
            elif target == "label":
                if labels is None:
                    raise ValueError(
                        "target='label' needs labels=... (one per sample). Received: labels=None"
                    )
                classes = _label_classes(labels, n, self.num_classes == 1)
            else:
                raise ValueError(
                    f"target must be one of {TARGETS}, a class index, or one index per sample."
                    f" Received: target={target!r}"
                )
        elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            classes = np.full(n, int(target), np.int32)
        else:
            classes = np.asarray(target)
            if classes.shape != (n,) or not np.issubdtype(classes.dtype, np.integer):
                raise ValueError(
                    f"target as a sequence must hold one int class per sample ({n}). Received shape "
                    f"{classes.shape}, dtype {classes.dtype}"
                )
            classes = classes.astype(np.int32)
        limit = 2 if self.num_classes == 1 else self.num_classes
        if classes.size and (classes.min() < 0 or classes.max() >= limit):
            raise ValueError(
                f"target classes must lie in [0, {limit}) for model '{self.model.name}' "
                f"({'binary head' if limit == 2 and self.num_classes == 1 else f'{limit} outputs'}). "
                f"Received: {sorted(set(classes.tolist()))}"
            )
        return classes

    # ----- gradients -----------------------------------------------------------------------
    def scores(self, x, target="predicted", labels=None) -> np.ndarray:
        """The differentiated score ``f(x)`` per sample (float32 ``[n]``), e.g. to check IG."""
        x = self._checked(x)
        classes = self.targets(x, target, labels)
        return self._run(self._grads, x, classes)[1]

    def attribute(self, x: np.ndarray, classes: np.ndarray, plans: Sequence[Plan]) -> list[np.ndarray]:
        """The attributions of several methods (``fmlogger.explain.plans``) in one chunked gradient pass.

        Args:
            x: float32 ``[n, ...]`` as checked by ``targets`` (the plans were made for it).
            classes: int32 ``[n]``, as ``targets`` returns them.
            plans: the methods.

        Raises:
            ValueError: when no gradient flows from the output to the input.
        """

        def grads(rows, cls):
            return self._run(self._grads, rows, cls)[0]

        sums = run_plans(grads, x, classes, plans, self.batch_size)
        return [plan.finish(self._flowing(total, x)) for plan, total in zip(plans, sums)]

    def vanilla(self, x, target="predicted", *, labels=None) -> np.ndarray:
        """Gradient of the target score with respect to the input, same shape as ``x`` (float32)."""
        x = self._checked(x)
        return self.attribute(x, self.targets(x, target, labels), [vanilla_plan(x)])[0]

    def smoothgrad(
        self, x, target="predicted", *, labels=None, samples: int = 16, noise: float = 0.15, seed: int = 0
    ) -> np.ndarray:
        """SmoothGrad: the gradient averaged over ``samples`` noisy copies of each input.

        Args:
            noise: Gaussian noise std as a fraction of each sample's value range (max - min).
            seed: seeds the noise, so repeated calls (epochs) use the same noise.
        """
        x = self._checked(x)
        plan = smoothgrad_plan(x, samples=samples, noise=noise, seed=seed)
        return self.attribute(x, self.targets(x, target, labels), [plan])[0]

    def integrated_gradients(
        self, x, target="predicted", *, labels=None, baseline=0.0, steps: int = 32
    ) -> np.ndarray:
        """Integrated Gradients ``(x - b) * integral_0^1 grad f(b + a (x - b)) da`` (trapezoid rule).

        Args:
            baseline: a number, an array shaped like one sample, or like ``x``.
            steps: integration intervals (``steps + 1`` gradient evaluations per sample).

        Returns:
            float32 attributions shaped like ``x``; per sample they sum to about
            ``f(x) - f(baseline)`` (see ``scores``).
        """
        x = self._checked(x)
        plan = integrated_gradients_plan(x, baseline=baseline, steps=steps)
        return self.attribute(x, self.targets(x, target, labels), [plan])[0]


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def saliency_for(model, *, batch_size: int = 32) -> Saliency:
    """The ``Saliency`` of ``model`` kept between calls of the module functions (traced once)."""
    sal = _CACHE.get(model)
    if sal is None:
        sal = _CACHE[model] = Saliency(model, batch_size=batch_size)
    sal.batch_size = batch_size
    return sal


def vanilla_gradients(model, x, target="predicted", *, labels=None, batch_size: int = 32) -> np.ndarray:
    """``d score / d x`` per sample, shaped like ``x``. See ``Saliency.vanilla``.

    Example:
        >>> grads = vanilla_gradients(model, x, target="label", labels=y)   # doctest: +SKIP
    """
    return saliency_for(model, batch_size=batch_size).vanilla(x, target, labels=labels)


def smoothgrad(
    model, x, target="predicted", *, labels=None, samples: int = 16, noise: float = 0.15, seed: int = 0,
    batch_size: int = 32,
) -> np.ndarray:
    """SmoothGrad, shaped like ``x``. See ``Saliency.smoothgrad``.

    Example:
        >>> sg = smoothgrad(model, x, samples=32, noise=0.1)                 # doctest: +SKIP
    """
    return saliency_for(model, batch_size=batch_size).smoothgrad(
        x, target, labels=labels, samples=samples, noise=noise, seed=seed
    )


def integrated_gradients(
    model, x, target="predicted", *, labels=None, baseline=0.0, steps: int = 32, batch_size: int = 32
) -> np.ndarray:
    """Integrated Gradients, shaped like ``x``. See ``Saliency.integrated_gradients``.

    Example:
        >>> ig = integrated_gradients(model, x, target=3, steps=64)          # doctest: +SKIP
    """
    return saliency_for(model, batch_size=batch_size).integrated_gradients(
        x, target, labels=labels, baseline=baseline, steps=steps
    )
