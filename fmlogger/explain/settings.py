"""How saliency, Grad-CAM and activation maximization are computed and drawn: ``ExplainSettings``,
and the checks of the logger options ``saliency=``, ``gradcam=`` and ``activation_max=``.

The producer that uses them is ``fmlogger.views.explanations.ExplanationsView``.

Example:
    >>> ExplainSettings(alpha=0.4, ig_steps=64).ig_steps
    64
    >>> check_saliency("vanilla"), check_actmax({"conv1": [0, 2]})
    (('vanilla',), {'conv1': [0, 2]})
    >>> ExplainSettings(alpha=2)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a number in [0, 1]. Received: alpha=2
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

import numpy as np

from fmlogger import tags
from fmlogger._checks import check_choice, check_int
from fmlogger.explain.actmax import OBJECTIVES, PARAMETRIZATIONS
from fmlogger.render import colormaps

EXPLAIN_TARGETS = ("auto", "label", "predicted")


@dataclasses.dataclass(frozen=True, kw_only=True)
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
                f"target must be one of {EXPLAIN_TARGETS} or a class index >= 0. "
                f"Received: target={self.target!r}"
            )
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1]. Received: alpha={self.alpha!r}")
        check_choice("colormap", self.colormap, colormaps.COLORMAPS)
        check_choice("actmax_parametrization", self.actmax_parametrization, PARAMETRIZATIONS)
        check_choice("actmax_objective", self.actmax_objective, OBJECTIVES)
        for name in (
            "min_size",
            "batch_size",
            "smoothgrad_samples",
            "ig_steps",
            "actmax_channels",
            "actmax_steps",
            "every_n_steps",
        ):
            check_int(name, getattr(self, name), 1)
        check_int("actmax_jitter", self.actmax_jitter, 0)
        check_int("seed", self.seed, 0)
        clip = self.clip_percentile
        if clip is not None and not (_finite(clip) and 0 <= clip < 50):
            raise ValueError(
                "clip_percentile must be a number in [0, 50) or None. "
                f"Received: clip_percentile={self.clip_percentile!r}"
            )
        for name in ("smoothgrad_noise", "actmax_learning_rate", "actmax_tv", "actmax_l2"):
            value = getattr(self, name)
            if not (_finite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={value!r}")
        baseline = self.ig_baseline
        if not _finite(baseline) and not _finite_array(baseline):
            raise ValueError(
                "ig_baseline must be a finite number, or a numeric array shaped like one sample or "
                f"like the probe. Received: ig_baseline={baseline!r}"
            )
        low_high = self.actmax_value_range
        if low_high is not None and not (
            _finite_array(low_high) and np.shape(low_high) == (2,) and low_high[1] > low_high[0]
        ):
            raise ValueError(
                "actmax_value_range must be (low, high) of finite numbers with high > low, or None. "
                f"Received: actmax_value_range={low_high!r}"
            )


def _finite(value) -> bool:
    """Whether ``value`` is one finite real number (not a bool, not a string)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and bool(
        np.isfinite(value)
    )


def _finite_array(value) -> bool:
    """Whether ``value`` is a non-empty array (or sequence) of finite numbers (no bools, no strings)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.size > 0 and array.dtype.kind in "iuf" and bool(np.isfinite(array).all())


def _names(name: str, value, what: str) -> tuple:
    """``value`` as a tuple: one string, or a collection of entries (checked by the caller); a number
    or a one-shot iterator is refused naming ``name``."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bytes) or not isinstance(value, Collection):  # a set, list or tuple
        raise ValueError(f"{name} must be {what}, a list of them, or None. Received: {name}={value!r}")
    return tuple(value)


def check_saliency(saliency) -> tuple[str, ...]:
    if saliency is None:
        return ()
    methods = _names("saliency", saliency, f"a method among {tags.SALIENCY_METHODS}")
    for method in methods:
        if method not in tags.SALIENCY_METHODS:
            raise ValueError(
                f"saliency entries must be among {tags.SALIENCY_METHODS}. "
                f"Received: saliency={list(methods)!r}"
            )
    return tuple(dict.fromkeys(methods))


def check_paths(name: str, value) -> tuple[str, ...]:
    if value is None:
        return ()
    paths = _names(name, value, "a layer name or path ('backbone/conv3')")
    for path in paths:
        if not isinstance(path, str) or not path or any(ch in path for ch in "*?["):
            raise ValueError(
                f"{name} entries must be layer names or paths ('backbone/conv3'), no patterns. "
                f"Received: {name}={list(paths)!r}"
            )
    return paths


def check_actmax(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        paths = check_paths("activation_max", list(value))
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
    return {path: None for path in check_paths("activation_max", value)}
