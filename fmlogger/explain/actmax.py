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
epochs differ only because the model changed. All steps run in one traced ``tf.function`` (a
graph loop, traced once per maximizer); ``steps`` bounds the work.

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

from fmlogger._tf import tensorflow
from fmlogger._checks import check_choice, check_int

PARAMETRIZATIONS = ("pixel", "fourier")
OBJECTIVES = ("mean", "center")


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
        tf = tensorflow()
        if self.parametrization == "fourier":
            h, w, _ = self.input_shape
            scale = tf.constant(self._spectrum_scale())
            spectrum = tf.complex(params[..., 0] * scale, params[..., 1] * scale)
            spatial = tf.signal.irfft2d(spectrum, fft_length=[h, w]) / 4.0
            return tf.sigmoid(tf.transpose(spatial, (0, 2, 3, 1)))
        return tf.sigmoid(params)

    def _activation(self, image, channels):
        """The objective per image: the chosen channel's mean (or centre) activation."""
        from fmlogger.capture.hooks import first_output

        tf = tensorflow()
        with first_output(self.path, self._layer) as seen:
            self.model(image, training=False)
        if not seen:
            raise ValueError(f"activation_max layer {self.path!r} was not called in the forward pass.")
        acts = tf.cast(seen[0], tf.float32)
        rank = len(acts.shape)
        if rank not in (2, 3, 4):
            raise ValueError(
                f"activation_max layer {self.path!r} has a rank-{rank} output; 2, 3 or 4 are supported."
            )
        channels_first = (getattr(self._layer, "data_format", None) or "channels_last") == "channels_first"
        if rank > 2 and not channels_first:
            acts = tf.transpose(acts, (0, rank - 1) + tuple(range(1, rank - 1)))
        flat = tf.reshape(acts, (tf.shape(acts)[0], tf.shape(acts)[1], -1))  # [k, channels, positions]
        chosen = tf.gather(flat, channels, axis=1, batch_dims=1)  # [k, positions]
        if self.objective == "center" and rank == 4:
            h, w = acts.shape[2], acts.shape[3]
            return chosen[:, (h // 2) * w + w // 2]
        return tf.reduce_mean(chosen, axis=1)

    # ----- the traced step -------------------------------------------------------------------
    def _build(self) -> None:
        tf = tensorflow()
        lo, hi = self.value_range
        lr, b1, b2, eps = self.learning_rate, 0.9, 0.999, 1e-8

        def losses(params, channels, shift):
            unit = self._unit_image(params)
            image = lo + (hi - lo) * unit
            if self.jitter:
                image = tf.roll(image, shift=shift, axis=[1, 2])
            act = self._activation(image, channels)
            tv = tf.reduce_mean(tf.abs(unit[:, 1:] - unit[:, :-1]), axis=(1, 2, 3)) + tf.reduce_mean(
                tf.abs(unit[:, :, 1:] - unit[:, :, :-1]), axis=(1, 2, 3)
            )
            l2 = tf.reduce_mean(tf.square(unit - 0.5), axis=(1, 2, 3))
            return act, -act + self.tv * tv + self.l2 * l2

        def one_step(params, m, v, t, channels, shift):
            with tf.GradientTape() as tape:
                tape.watch(params)
                act, loss = losses(params, channels, shift)
                total = tf.reduce_sum(loss)
            g = tape.gradient(total, params)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            m_hat = m / (1 - tf.pow(b1, t))
            v_hat = v / (1 - tf.pow(b2, t))
            return params - lr * m_hat / (tf.sqrt(v_hat) + eps), m, v, act

        def steps(params, m, v, t0, channels, shifts):
            """``len(shifts)`` Adam steps in one graph loop (no Python round trip per step)."""
            self.trace_count += 1
            n = tf.shape(shifts)[0]
            history = tf.TensorArray(tf.float32, size=n, element_shape=tf.TensorShape([None]))

            def body(i, params, m, v, history):
                params, m, v, act = one_step(
                    params, m, v, t0 + tf.cast(i, tf.float32) + 1.0, channels, shifts[i]
                )
                return i + 1, params, m, v, history.write(i, act)

            _, params, m, v, history = tf.while_loop(
                lambda i, *_: i < n, body, (tf.constant(0), params, m, v, history)
            )
            return params, m, v, history.stack()

        def evaluate(params, channels):
            self.trace_count += 1
            unit = self._unit_image(params)
            return lo + (hi - lo) * unit, self._activation(lo + (hi - lo) * unit, channels)

        p_spec = tf.TensorSpec((None,) + self._param_shape(1)[1:], tf.float32)
        c_spec = tf.TensorSpec((None,), tf.int32)
        self._steps = tf.function(
            steps,
            input_signature=[
                p_spec,
                p_spec,
                p_spec,
                tf.TensorSpec((), tf.float32),
                c_spec,
                tf.TensorSpec((None, 2), tf.int32),
            ],
            autograph=False,
        )
        self._evaluate = tf.function(evaluate, input_signature=[p_spec, c_spec], autograph=False)

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
            history.append(acts.numpy())
            if progress is not None:
                progress(stop, self.steps)
        history = np.concatenate(history).astype(np.float32)
        images, final = self._evaluate(params, chosen)
        return ActMaxResult(
            layer=self.path,
            channels=tuple(int(c) for c in chosen),
            images=images.numpy().astype(np.float32),
            history=history,
            final=final.numpy().astype(np.float32),
            initial=initial.numpy().astype(np.float32),
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
