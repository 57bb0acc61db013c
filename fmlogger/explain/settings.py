"""Saliency, Grad-CAM and activation maximization as producers for ``FeatureMapLogger``.

``Explainers`` holds what the logger options ``saliency=``, ``gradcam=`` and ``activation_max=``
ask for, validates it before training starts, and at each logged step turns the probe into
images written through the logger's ``SummaryWriter``:

* ``saliency/<method>``: one overlay per probe sample (heatmap over the input);
* ``gradcam/<layer path>``: one overlay per probe sample;
* ``activation_max/<layer path>``: one image, the optimised inputs of the chosen channels tiled.

The traced gradient functions and maximizers are built once and reused at every step.

Example:
    >>> cb = FeatureMapCallback("runs", probe=(x[:4], y[:4]), layers=["conv1"],       # doctest: +SKIP
    ...                         saliency=["vanilla", "integrated_gradients"],
    ...                         gradcam=["backbone/conv3"], activation_max={"conv1": [0, 1, 2]},
    ...                         explain_settings=ExplainSettings(alpha=0.4, ig_steps=64))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from fmlogger import tags
from fmlogger.render import colormaps
from fmlogger.explain.actmax import OBJECTIVES, PARAMETRIZATIONS
from fmlogger.render.overlay import overlay, tile_images
from fmlogger._checks import check_choice as _check_choice, check_int as _check_int

EXPLAIN_TARGETS = ("auto", "label", "predicted")
_REDUCE = {"vanilla": "max_abs", "smoothgrad": "max_abs", "integrated_gradients": "abs_sum"}
_REDUCE_TEXT = {"max_abs": "max |value| over input channels", "abs_sum": "|sum over input channels|"}


@dataclasses.dataclass(frozen=True)
class ExplainSettings:
    """How saliency, Grad-CAM and activation maximization are computed and drawn.

    Args:
        target: ``"auto"`` (the probe's labels if it has them, else the predicted class),
            ``"label"``, ``"predicted"`` or a class index used for every sample.
        alpha: heatmap weight of the overlays, in [0, 1].
        colormap: heatmap colormap (``fmlogger.render.colormaps.COLORMAPS``).
        clip_percentile: heatmaps are scaled per sample to their ``100 - p`` percentile.
        min_size: overlays and activation-maximization tiles are upscaled (integer factor) to
            at least this many pixels.
        batch_size: inputs per gradient call.
        smoothgrad_samples, smoothgrad_noise: SmoothGrad's noisy copies and noise (fraction of
            each sample's value range).
        ig_steps, ig_baseline: Integrated Gradients' intervals and baseline (a number).
        actmax_channels: channels per layer when ``activation_max`` lists paths (the first n).
        actmax_steps, actmax_learning_rate, actmax_jitter, actmax_tv, actmax_l2,
            actmax_parametrization, actmax_objective: see ``fmlogger.explain.actmax.ActivationMaximizer``.
        actmax_value_range: the input range of the optimised images; None uses the probe's
            min and max.
        every_n_steps: run the explainers only at steps divisible by this (they cost more than
            feature maps); feature maps are still logged at every step.
        seed: seeds SmoothGrad's noise and the maximizers (the same at every step).
    """

    target: object = "auto"
    alpha: float = 0.5
    colormap: str = "viridis"
    clip_percentile: float | None = 0.5
    min_size: int = 128
    batch_size: int = 32
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15
    ig_steps: int = 32
    ig_baseline: float = 0.0
    actmax_channels: int = 16
    actmax_steps: int = 64
    actmax_learning_rate: float = 0.05
    actmax_jitter: int = 2
    actmax_tv: float = 0.05
    actmax_l2: float = 0.01
    actmax_parametrization: str = "pixel"
    actmax_objective: str = "mean"
    actmax_value_range: tuple | None = None
    every_n_steps: int = 1
    seed: int = 0

    def __post_init__(self):
        if not (
            self.target in EXPLAIN_TARGETS
            or (
                isinstance(self.target, (int, np.integer))
                and not isinstance(self.target, bool)
                and self.target >= 0
            )
        ):
            raise ValueError(
                f"target must be one of {EXPLAIN_TARGETS} or a class index >= 0. Received: target={self.target!r}"
            )
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1]. Received: alpha={self.alpha!r}")
        _check_choice("colormap", self.colormap, colormaps.COLORMAPS)
        _check_choice("actmax_parametrization", self.actmax_parametrization, PARAMETRIZATIONS)
        _check_choice("actmax_objective", self.actmax_objective, OBJECTIVES)
        for name in (
            "min_size",
            "batch_size",
            "smoothgrad_samples",
            "ig_steps",
            "actmax_channels",
            "actmax_steps",
            "every_n_steps",
        ):
            _check_int(name, getattr(self, name), 1)
        _check_int("actmax_jitter", self.actmax_jitter, 0)
        _check_int("seed", self.seed, 0)
        if self.clip_percentile is not None and not 0 <= self.clip_percentile < 50:
            raise ValueError(
                f"clip_percentile must be in [0, 50) or None. Received: clip_percentile={self.clip_percentile!r}"
            )
        for name in ("smoothgrad_noise", "actmax_learning_rate", "actmax_tv", "actmax_l2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
        if self.actmax_value_range is not None and (
            len(self.actmax_value_range) != 2 or not self.actmax_value_range[1] > self.actmax_value_range[0]
        ):
            raise ValueError(
                f"actmax_value_range must be (low, high) with high > low, or None. Received: {self.actmax_value_range!r}"
            )


def _check_saliency(saliency) -> tuple[str, ...]:
    if saliency is None:
        return ()
    methods = (saliency,) if isinstance(saliency, str) else tuple(saliency)
    for method in methods:
        if method not in tags.SALIENCY_METHODS:
            raise ValueError(
                f"saliency entries must be among {tags.SALIENCY_METHODS}. Received: saliency={list(methods)!r}"
            )
    return tuple(dict.fromkeys(methods))


def _check_paths(name: str, value) -> tuple[str, ...]:
    if value is None:
        return ()
    paths = (value,) if isinstance(value, str) else tuple(value)
    for path in paths:
        if not isinstance(path, str) or not path or any(ch in path for ch in "*?["):
            raise ValueError(
                f"{name} entries must be layer names or paths ('backbone/conv3'), no patterns. "
                f"Received: {name}={list(paths)!r}"
            )
    return paths


def _check_actmax(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        paths = _check_paths("activation_max", list(value))
        out = {}
        for path in paths:
            channels = value[path]
            ok = channels is None or (
                isinstance(channels, (int, np.integer)) and not isinstance(channels, bool) and channels >= 1
            )
            if not ok:
                try:
                    channels = [int(c) for c in channels]
                    ok = bool(channels) and all(c >= 0 for c in channels)
                except (TypeError, ValueError):
                    ok = False
            if not ok:
                raise ValueError(
                    "activation_max as a dict maps a layer path to channel indices (a non-empty list), "
                    f"a count n (the first n) or None. Received: activation_max[{path!r}]={value[path]!r}"
                )
            out[path] = channels
        return out
    return {path: None for path in _check_paths("activation_max", value)}


class Explainers:
    """The ``saliency`` / ``gradcam`` / ``activation_max`` producers of one logger.

    Args:
        saliency: methods among ``tags.SALIENCY_METHODS``, or None.
        gradcam: layer names or paths, or None.
        activation_max: layer paths (first ``settings.actmax_channels`` channels each), or a dict
            ``{path: [channels] | n | None}``, or None.
        settings: an ``ExplainSettings``.

    Raises:
        ValueError: for an unknown method or a malformed entry (layers are checked by ``prepare``).
    """

    def __init__(
        self, saliency=None, gradcam=None, activation_max=None, settings: ExplainSettings | None = None
    ):
        if settings is not None and not isinstance(settings, ExplainSettings):
            raise ValueError(
                f"explain_settings must be an fmlogger.explain.settings.ExplainSettings or None. Received: {type(settings).__name__}"
            )
        self.settings = settings or ExplainSettings()
        self.methods = _check_saliency(saliency)
        self.gradcam = _check_paths("gradcam", gradcam)
        self.activation_max = _check_actmax(activation_max)
        self.model = None
        self._saliency = None
        self._gradcam_paths: list[str] = []
        self._maximizers: dict = {}

    @property
    def active(self) -> bool:
        return bool(self.methods or self.gradcam or self.activation_max)

    def prepare(self, model, x) -> None:
        """Builds the gradient functions and maximizers for ``model``; checks layers and channels.

        Raises:
            ValueError: for a multi-input probe, an unknown layer (the message lists the layers),
                a non-4-D Grad-CAM layer, or a channel index out of range.
        """
        if not self.active or self.model is model:
            return
        from fmlogger.explain.actmax import ActivationMaximizer
        from fmlogger.explain.saliency import Saliency

        if isinstance(x, (list, dict)):
            raise ValueError("saliency, gradcam and activation_max need a single-input model and probe.")
        x = np.asarray(x, dtype=np.float32)
        s = self.settings
        saliency = Saliency(model, batch_size=s.batch_size)
        saliency.targets(x[:1], "predicted")  # builds (and checks the model's output) once
        if not isinstance(s.target, str):
            saliency.targets(x[:1], s.target)  # a class index out of range fails now, not at step 1
        paths = [saliency._resolve_layer(layer)[0] for layer in self.gradcam]
        if paths:
            from fmlogger.capture.hooks import output_shapes

            shapes = output_shapes(model, x[:1], [saliency._resolve_layer(p) for p in paths])
            for path in paths:
                if len(shapes.get(path, ())) != 4:
                    raise ValueError(
                        f"gradcam layers must have 4-D outputs; layer {path!r} has shape "
                        f"{shapes.get(path, 'none (not called)')}."
                    )
        value_range = s.actmax_value_range
        if value_range is None:
            lo, hi = float(np.min(x)), float(np.max(x))
            value_range = (lo, hi) if hi > lo else (lo, lo + 1.0)
        maximizers = {}
        for layer, channels in self.activation_max.items():
            maxer = ActivationMaximizer(
                model,
                layer,
                input_shape=x.shape[1:],
                steps=s.actmax_steps,
                learning_rate=s.actmax_learning_rate,
                jitter=s.actmax_jitter,
                tv=s.actmax_tv,
                l2=s.actmax_l2,
                parametrization=s.actmax_parametrization,
                objective=s.actmax_objective,
                value_range=value_range,
                seed=s.seed,
            )
            total = maxer.num_channels
            if channels is None:
                channels = min(s.actmax_channels, total)
            if isinstance(channels, list) and max(channels) >= total:
                raise ValueError(
                    f"activation_max channels of layer {maxer.path!r} must lie in [0, {total}). Received: {channels!r}"
                )
            maximizers[maxer.path] = (maxer, channels)
        self._saliency, self._gradcam_paths, self._maximizers = saliency, paths, maximizers
        self.model = model

    def _target(self, labels):
        target = self.settings.target
        if target == "auto":
            return ("label", "labels") if labels is not None else ("predicted", "predicted class")
        if target == "label":
            return "label", "labels"
        return target, ("predicted class" if target == "predicted" else f"class {target}")

    def log(self, model, x, labels, step: int, writer, errors) -> list[str]:
        """Computes and writes every requested explanation of ``x`` at ``step``; returns the tags.

        Failures go through ``errors`` (an ``ErrorPolicy``): one method failing skips only that
        method.
        """
        if not self.active or step % self.settings.every_n_steps:
            return []
        self.prepare(model, x)
        s = self.settings
        x = np.asarray(x, dtype=np.float32)
        written = []
        sal = self._saliency
        target, target_text = self._target(labels)
        try:
            classes = sal.targets(x, target, labels)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            errors.report("choosing saliency targets", err)
            classes = None
        shown = ", ".join(str(int(c)) for c in classes[:16]) if classes is not None else ""

        def draw(tag, heat, what):
            images = overlay(
                x,
                heat,
                alpha=s.alpha,
                colormap=s.colormap,
                clip_percentile=s.clip_percentile,
                min_size=s.min_size,
            )
            description = (
                f"{what}; target: {target_text} ({shown}); heatmap over the input, alpha={s.alpha}, "
                f"colormap={s.colormap}, scaled per sample to its {100 - (s.clip_percentile or 0):g}th percentile."
            )
            writer.image(tag, images, step, description)
            written.append(tag)

        if classes is not None:
            from fmlogger.render.overlay import attribution_map

            for method in self.methods:
                try:
                    if method == "vanilla":
                        attr = sal.vanilla(x, classes)
                    elif method == "smoothgrad":
                        attr = sal.smoothgrad(
                            x, classes, samples=s.smoothgrad_samples, noise=s.smoothgrad_noise, seed=s.seed
                        )
                    else:
                        attr = sal.integrated_gradients(x, classes, baseline=s.ig_baseline, steps=s.ig_steps)
                    reduce = _REDUCE[method]
                    draw(
                        tags.saliency_tag(method),
                        attribution_map(attr, reduce),
                        f"saliency {method}: {_REDUCE_TEXT[reduce]}",
                    )
                except Exception as err:  # noqa: BLE001
                    errors.report(f"saliency '{method}'", err)
            for path in self._gradcam_paths:
                try:
                    draw(tags.gradcam_tag(path), sal.gradcam(x, path, classes), f"Grad-CAM of layer {path}")
                except Exception as err:  # noqa: BLE001
                    errors.report(f"gradcam '{path}'", err)
        for path, (maxer, channels) in self._maximizers.items():
            try:
                result = maxer(channels)
                grid = tile_images(
                    result.images, value_range=maxer.value_range, min_tile_size=min(s.min_size, 64)
                )
                finals = ", ".join(f"{c}: {a:.3g}" for c, a in zip(result.channels[:16], result.final[:16]))
                description = (
                    f"activation maximization of layer {path}: channels {list(result.channels)}, row by row; "
                    f"{maxer.steps} steps, {maxer.parametrization} parametrisation, jitter={maxer.jitter}, "
                    f"tv={maxer.tv}, l2={maxer.l2}, seed={maxer.seed}. Final activation per channel: {finals}."
                )
                writer.image(tags.actmax_tag(path), grid[None], step, description)
                written.append(tags.actmax_tag(path))
            except Exception as err:  # noqa: BLE001
                errors.report(f"activation_max '{path}'", err)
        return written
