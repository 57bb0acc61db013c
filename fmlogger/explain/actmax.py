"""What a channel responds to: activation maximization by regularised gradient ascent.

For each chosen channel of a layer, one input image is optimised (all channels at once, as one
batch) to maximise the channel's mean activation (or its centre unit's, ``objective="center"``),
with

* **jitter**: the image is rolled by a random offset of up to ``jitter`` pixels at every step,
  so the result does not depend on exact pixel alignment;
* **total variation** (``tv``) and **L2** (``l2``) penalties on the image in unit range, which
  keep it smooth and near mid-grey;
* a bounded range: the image is ``lo + (hi - lo) * sigmoid(p)``, so it never leaves
  ``value_range``;
* optionally a **Fourier parametrisation** (``parametrization="fourier"``): ``p`` lives in the
  frequency domain, scaled by ``1 / frequency``, which favours natural-looking low frequencies.

Everything is seeded (``seed``): the same model gives the same images, so images at successive
epochs differ only because the model changed. All steps run in one compiled function (a loop
inside it: ``tf.while_loop``, ``jax.lax.scan``; PyTorch loops eagerly), traced once per
maximizer, with the backend's own gradients; ``steps`` bounds the work.

Example:
    >>> maxer = ActivationMaximizer(model, "conv2", steps=64)         # doctest: +SKIP
    >>> result = maxer(channels=[0, 1, 2, 3])                           # doctest: +SKIP
    >>> result.images.shape, result.history.shape                       # doctest: +SKIP
    ((4, 32, 32, 1), (64, 4))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from fmlogger._checks import check_choice, check_int
from fmlogger.capture.backend import adapter

PARAMETRIZATIONS = ("pixel", "fourier")
OBJECTIVES = ("mean", "center")


def irfft2_matrices(h: int, w: int) -> tuple[np.ndarray, ...]:
    """Real matrices ``(ch, sh, cw, sw)`` with which ``irfft2`` is four matrix products.

    ``irfft2(X, (h, w))`` of ``X = Xr + i Xi`` (``[..., h, w // 2 + 1]``) is ``Zr @ cw - Zi @ sw``
    with ``Zr = ch @ Xr - sh @ Xi`` and ``Zi = sh @ Xr + ch @ Xi`` (an inverse DFT along ``h``,
    then the real inverse along ``w``, whose inner bins count twice); the same numbers as
    ``numpy.fft.irfft2`` with ``keras.ops`` only, so it runs and differentiates on every backend.

    Example:
        >>> x = np.random.default_rng(0).standard_normal((2, 5, 4)) + 1j
        >>> ch, sh, cw, sw = irfft2_matrices(5, 6)
        >>> zr, zi = ch @ x.real - sh @ x.imag, sh @ x.real + ch @ x.imag
        >>> bool(np.allclose(zr @ cw - zi @ sw, np.fft.irfft2(x, (5, 6))))
        True
    """
    ky = np.arange(h)
    angle_h = 2 * np.pi * np.outer(ky, ky) / h  # [y, ky]
    kx = np.arange(w // 2 + 1)
    weight = np.where((kx == 0) | (2 * kx == w), 1.0, 2.0)[:, None]
    angle_w = 2 * np.pi * np.outer(kx, np.arange(w)) / w  # [kx, x]
    mats = (np.cos(angle_h) / h, np.sin(angle_h) / h)
    mats += (weight * np.cos(angle_w) / w, weight * np.sin(angle_w) / w)
    return tuple(m.astype(np.float32) for m in mats)


@dataclasses.dataclass(frozen=True)
class ActMaxResult:
    """The outcome of one maximization.

    Attributes:
        layer: the layer path.
        channels: the channel index each image maximises.
        images: float32 ``[k, H, W, C]`` inside ``value_range``.
        history: float32 ``[steps, k]``: the objective (activation, jittered input) at each step.
        final: float32 ``[k]``: the activation of each final image (no jitter).
        initial: float32 ``[k]``: the activation of each starting image (no jitter).
    """

    layer: str
    channels: tuple
    images: np.ndarray
    history: np.ndarray
    final: np.ndarray
    initial: np.ndarray


def _check_number(name: str, value, minimum: float = 0.0) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or value < minimum
    ):
        raise ValueError(f"{name} must be a number >= {minimum}. Received: {name}={value!r}")
    return float(value)


class ActivationMaximizer:
    """Optimises one input per channel of ``layer`` so that the channel fires as much as it can.

    Args:
        model: a single-input Keras model.
        layer: a layer name or path (``"backbone/conv3"`` inside a nested model).
        input_shape: one sample's shape ``(H, W, C)``; None reads ``model.inputs``.
        steps: gradient-ascent steps (the work bound).
        learning_rate: Adam step size on the parameters.
        jitter: largest random roll, in pixels, at each step (0: none).
        tv: weight of the total-variation penalty (mean absolute neighbour difference, unit range).
        l2: weight of the L2 penalty (mean squared distance from mid-range, unit range).
        parametrization: ``"pixel"`` or ``"fourier"``.
        objective: ``"mean"`` (mean over the map) or ``"center"`` (the centre unit).
        value_range: the input range the images live in, e.g. ``(0, 1)`` or ``(0, 255)``.
        seed: seeds the start image and the jitter.

    Raises:
        ValueError: for an option outside what is allowed, or a layer that names no layer.
    """

    def __init__(
        self,
        model,
        layer: str,
        *,
        input_shape: Sequence[int] | None = None,
        steps: int = 64,
        learning_rate: float = 0.05,
        jitter: int = 2,
        tv: float = 0.05,
        l2: float = 0.01,
        parametrization: str = "pixel",
        objective: str = "mean",
        value_range: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
    ):
        from fmlogger.capture.layers import select_layers

        check_int("steps", steps, 1)
        check_int("jitter", jitter, 0)
        check_int("seed", seed, 0)
        self.learning_rate = _check_number("learning_rate", learning_rate)
        self.tv = _check_number("tv", tv)
        self.l2 = _check_number("l2", l2)
        check_choice("parametrization", parametrization, PARAMETRIZATIONS)
        check_choice("objective", objective, OBJECTIVES)
        lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            raise ValueError(
                f"value_range must be (low, high) with high > low. Received: value_range={value_range!r}"
            )
        if input_shape is None:
            inputs = getattr(model, "inputs", None)
            if not inputs or len(inputs) != 1 or any(d is None for d in tuple(inputs[0].shape)[1:]):
                raise ValueError(
                    f"input_shape is needed: model '{model.name}' has no single fully known input shape. "
                    "Pass input_shape=(H, W, C)."
                )
            input_shape = tuple(inputs[0].shape)[1:]
        self.input_shape = tuple(int(d) for d in input_shape)
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape!r}")
        if isinstance(layer, str) and any(ch in layer for ch in "*?["):
            raise ValueError(f"activation_max layers must be names or paths, no pattern. Received: {layer!r}")
        try:
            hits = select_layers(model, [layer])
        except ValueError as err:
            raise ValueError(f"activation_max layer {layer!r}: {err}") from None
        if len(hits) != 1:
            raise ValueError(
                f"activation_max layer {layer!r} names {len(hits)} layers: {[p for p, _ in hits]}"
            )
        self.adapter = adapter("run activation maximization")
        self.model = model
        self.path, self._layer = hits[0]
        self.steps, self.jitter, self.seed = steps, jitter, seed
        self.parametrization, self.objective = parametrization, objective
        self.value_range = (lo, hi)
        self.trace_count = 0
        self._num_channels: int | None = None
        self._steps = None
        self._evaluate = None

    # ----- parametrisation -------------------------------------------------------------------
    def _param_shape(self, k: int) -> tuple:
        h, w, c = self.input_shape
        if self.parametrization == "fourier":
            return (k, c, h, w // 2 + 1, 2)
        return (k, h, w, c)

    def _spectrum_scale(self) -> np.ndarray:
        h, w, _ = self.input_shape
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        freq = np.sqrt(fx * fx + fy * fy)
        return (1.0 / np.maximum(freq, 1.0 / max(h, w)) * np.sqrt(h * w)).astype(np.float32)

    def _unit_image(self, params):
        """Parameters -> image in unit range [k, H, W, C] (before scaling to ``value_range``)."""
        import keras

        ops = keras.ops
        if self.parametrization == "fourier":
            h, w, _ = self.input_shape
            scale = ops.convert_to_tensor(self._spectrum_scale())
            ch, sh, cw, sw = (ops.convert_to_tensor(m) for m in irfft2_matrices(h, w))
            real, imag = params[..., 0] * scale, params[..., 1] * scale  # [k, c, h, w // 2 + 1]
            zr = ops.einsum("yv,kcvu->kcyu", ch, real) - ops.einsum("yv,kcvu->kcyu", sh, imag)
            zi = ops.einsum("yv,kcvu->kcyu", sh, real) + ops.einsum("yv,kcvu->kcyu", ch, imag)
            spatial = (ops.matmul(zr, cw) - ops.matmul(zi, sw)) / 4.0  # [k, c, h, w]
            return ops.sigmoid(ops.transpose(spatial, (0, 2, 3, 1)))
        return ops.sigmoid(params)

    def _activation(self, image, channels):
        """The objective per image: the chosen channel's mean (or centre) activation."""
        import keras

        from fmlogger.capture.hooks import tapped

        ops = keras.ops
        with tapped(self.path, self._layer) as seen:
            self.model(image, training=False)
        if not seen:
            raise ValueError(f"activation_max layer {self.path!r} was not called in the forward pass.")
        acts = ops.cast(seen[0], "float32")
        rank = len(acts.shape)
        if rank not in (2, 3, 4):
            raise ValueError(
                f"activation_max layer {self.path!r} has a rank-{rank} output; 2, 3 or 4 are supported."
            )
        channels_first = (getattr(self._layer, "data_format", None) or "channels_last") == "channels_first"
        if rank > 2 and not channels_first:
            acts = ops.transpose(acts, (0, rank - 1) + tuple(range(1, rank - 1)))
        total = int(acts.shape[1])
        flat = ops.reshape(acts, (-1, total, int(np.prod(acts.shape[2:]))))  # [k, channels, positions]
        chosen = ops.sum(flat * ops.one_hot(channels, total, dtype="float32")[:, :, None], axis=1)
        if self.objective == "center" and rank == 4:
            h, w = acts.shape[2], acts.shape[3]
            return chosen[:, (h // 2) * w + w // 2]
        return ops.mean(chosen, axis=1)

    # ----- the compiled steps ----------------------------------------------------------------
    def _build(self) -> None:
        import keras

        ops = keras.ops
        lo, hi = self.value_range
        lr, b1, b2, eps = self.learning_rate, 0.9, 0.999, 1e-8

        def total(params, channels, shift):
            unit = self._unit_image(params)
            image = lo + (hi - lo) * unit
            if self.jitter:
                image = ops.roll(ops.roll(image, shift[0], axis=1), shift[1], axis=2)
            act = self._activation(image, channels)
            tv = ops.mean(ops.abs(unit[:, 1:] - unit[:, :-1]), axis=(1, 2, 3)) + ops.mean(
                ops.abs(unit[:, :, 1:] - unit[:, :, :-1]), axis=(1, 2, 3)
            )
            l2 = ops.mean(ops.square(unit - 0.5), axis=(1, 2, 3))
            return ops.sum(-act + self.tv * tv + self.l2 * l2), act

        grad = self.adapter.value_and_grad(total, (0,))

        def steps(params, m, v, t0, channels, shifts):
            """``len(shifts)`` Adam steps in one compiled loop (no Python round trip per step)."""

            def body(carry, shift):
                params, m, v, t = carry
                t = t + 1.0
                (g,), act = grad(params, channels, shift)
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * ops.square(g)
                m_hat = m / (1 - ops.power(b1, t))
                v_hat = v / (1 - ops.power(b2, t))
                return (params - lr * m_hat / (ops.sqrt(v_hat) + eps), m, v, t), act

            (params, m, v, _), history = self.adapter.scan(body, (params, m, v, t0), shifts)
            return params, m, v, history

        def evaluate(params, channels):
            unit = self._unit_image(params)
            return lo + (hi - lo) * unit, self._activation(lo + (hi - lo) * unit, channels)

        p = np.zeros(self._param_shape(1), np.float32)
        c = np.zeros(1, np.int32)
        on_trace = self._traced
        example = (p, p, p, np.float32(0), c, np.zeros((1, 2), np.int32))
        self._steps = self.adapter.compile(steps, self.model, example, on_trace=on_trace, grad=True)
        self._evaluate = self.adapter.compile(evaluate, self.model, (p, c), on_trace=on_trace)

    def _traced(self) -> None:
        self.trace_count += 1

    @property
    def num_channels(self) -> int:
        """Channels (units) of the layer's output."""
        if self._num_channels is None:
            from fmlogger.capture.hooks import output_shapes

            shapes = output_shapes(
                self.model, np.zeros((1,) + self.input_shape, np.float32), [(self.path, self._layer)]
            )
            shape = shapes[self.path]
            channels_first = (
                getattr(self._layer, "data_format", None) or "channels_last"
            ) == "channels_first"
            self._num_channels = int(shape[1] if channels_first or len(shape) == 2 else shape[-1])
        return self._num_channels

    def __call__(
        self,
        channels: Sequence[int] | int | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ActMaxResult:
        """Runs ``steps`` of gradient ascent for each channel in ``channels``.

        Args:
            channels: channel indices, an int ``k`` for the first ``k``, or None for the first 16.
            progress: called as ``progress(step, steps)`` after every step (a CLI progress bar).

        Returns:
            an ``ActMaxResult``.

        Raises:
            ValueError: for a channel index outside the layer's channels.
        """
        total = self.num_channels
        if channels is None or (isinstance(channels, (int, np.integer)) and not isinstance(channels, bool)):
            chosen = np.arange(min(total, 16 if channels is None else int(channels)), dtype=np.int32)
        else:
            chosen = np.asarray(list(channels), dtype=np.int64)
            if chosen.ndim != 1 or chosen.size == 0 or chosen.min() < 0 or chosen.max() >= total:
                raise ValueError(
                    f"activation_max channels of layer {self.path!r} must be indices in [0, {total}). "
                    f"Received: {list(channels)!r}"
                )
            chosen = chosen.astype(np.int32)
        if self._steps is None:
            self._build()
        rng = np.random.default_rng(self.seed)
        k = len(chosen)
        params = (0.01 * rng.standard_normal(self._param_shape(k))).astype(np.float32)
        m = np.zeros_like(params)
        v = np.zeros_like(params)
        shifts = rng.integers(-self.jitter, self.jitter + 1, size=(self.steps, 2)).astype(np.int32)
        _, initial = self._evaluate(params, chosen)
        # Without a progress bar all steps run in one call; with one, in about 30 chunks.
        chunk = self.steps if progress is None else max(1, -(-self.steps // 30))
        history = []
        for start in range(0, self.steps, chunk):
            stop = min(start + chunk, self.steps)
            params, m, v, acts = self._steps(params, m, v, np.float32(start), chosen, shifts[start:stop])
            history.append(self.adapter.to_numpy(acts))
            if progress is not None:
                progress(stop, self.steps)
        history = np.concatenate(history).astype(np.float32)
        images, final = self._evaluate(params, chosen)
        return ActMaxResult(
            layer=self.path,
            channels=tuple(int(c) for c in chosen),
            images=self.adapter.to_numpy(images).astype(np.float32),
            history=history,
            final=self.adapter.to_numpy(final).astype(np.float32),
            initial=self.adapter.to_numpy(initial).astype(np.float32),
        )


def activation_maximization(
    model,
    layer: str,
    channels: Sequence[int] | int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> ActMaxResult:
    """One-call activation maximization: ``ActivationMaximizer(model, layer, **options)(channels)``.

    Example:
        >>> result = activation_maximization(model, "conv1", [0, 1], steps=32)   # doctest: +SKIP
        >>> result.images.shape                                                   # doctest: +SKIP
        (2, 32, 32, 1)
    """
    return ActivationMaximizer(model, layer, **options)(channels, progress=progress)
