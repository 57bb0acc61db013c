"""The explanation view: saliency, Grad-CAM and activation maximization of the probe.

What the options ``saliency=``, ``gradcam=`` and ``activation_max=`` ask for, with the
``ExplainSettings``:

* ``saliency/<method>``: one heatmap overlay per probe sample;
* ``gradcam/<layer path>``: one overlay per probe sample;
* ``activation_max/<layer path>``: one image, the optimised inputs of the chosen channels tiled.

``prepare`` builds the traced gradient functions and maximizers once (and checks layers and
channels before training); ``compute`` runs only the gradient passes and the optimisation and
returns host arrays: the rows of every saliency method in one chunked pass
(``fmlogger.explain.plans``), one Grad-CAM pass per layer at the layer's resolution;
``produce`` (on the background worker) reduces, resizes, colours and draws the overlays and
grids (numpy only).

Example:
    >>> view = ExplanationsView(["vanilla"], ["conv2"], None, ExplainSettings(alpha=0.4))
    >>> view.active, view.methods, view.gradcam
    (True, ('vanilla',), ('conv2',))
    >>> view.prepare(model, x)                                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

import numpy as np

from fmlogger import tags
from fmlogger.explain.plans import Plan, integrated_gradients_plan, smoothgrad_plan, vanilla_plan
from fmlogger.explain.settings import ExplainSettings, check_actmax, check_paths, check_saliency
from fmlogger.render.overlay import attribution_map, overlay, tile_images
from fmlogger.sinks.base import Failure, ImageSummary, Output
from fmlogger.views.base import Batch, View

_REDUCE = {"vanilla": "max_abs", "smoothgrad": "max_abs", "integrated_gradients": "abs_sum"}
_REDUCE_TEXT = {"max_abs": "max |value| over input channels", "abs_sum": "|sum over input channels|"}


@dataclasses.dataclass
class Explained:
    """What ``compute`` hands to ``produce``: host arrays only.

    Attributes:
        x: float32 probe ``[n, ...]``.
        target: how the explained classes were chosen (``"labels"``, ``"predicted class"``, ...).
        classes: the explained class of each sample, or None when they could not be chosen.
        maps: ``{tag: (where, heat or attribution, what, reduction or None)}`` for saliency
            (attributions shaped like ``x``) and Grad-CAM (heatmaps at the layer's resolution;
            the overlay resizes them to the input's).
        actmax: ``{layer path: (where, ActMaxResult)}``.
        failures: ``(where, error)`` of the methods that failed.
    """

    x: np.ndarray
    target: str
    classes: np.ndarray | None = None
    maps: dict = dataclasses.field(default_factory=dict)
    actmax: dict = dataclasses.field(default_factory=dict)
    failures: list[Failure] = dataclasses.field(default_factory=list)


class ExplanationsView(View):
    """The ``saliency`` / ``gradcam`` / ``activation_max`` images of one logger.

    Args:
        saliency: methods among ``tags.SALIENCY_METHODS``, or None.
        gradcam: layer names or paths, or None.
        activation_max: layer paths (first ``settings.actmax_channels`` channels each), or a dict
            ``{path: [channels] | n | None}``, or None.
        settings: an ``ExplainSettings``.
        progress: ``progress(label)`` returning a ``(step, steps)`` callback per maximized layer
            (a CLI progress bar), or None.

    Raises:
        ValueError: for an unknown method or a malformed entry (layers are checked by ``prepare``).
    """

    what = "saliency/gradcam/activation_max"

    def __init__(
        self,
        saliency=None,
        gradcam=None,
        activation_max=None,
        settings: ExplainSettings | None = None,
        *,
        progress: Callable[[str], Callable[[int, int], None]] | None = None,
    ):
        if settings is not None and not isinstance(settings, ExplainSettings):
            raise ValueError(
                "explain must be an fmlogger.ExplainSettings or None. "
                f"Received: explain={settings!r} of type {type(settings).__name__}"
            )
        self.settings = settings or ExplainSettings()
        self.methods = check_saliency(saliency)
        self.gradcam = check_paths("gradcam", gradcam)
        self.activation_max = check_actmax(activation_max)
        self.progress = progress
        self.model = None
        self.saliency = None
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
        self._maximizers = self._build_maximizers(model, x)
        self.saliency, self._gradcam_paths, self.model = saliency, paths, model

    def _build_maximizers(self, model, x: np.ndarray) -> dict:
        from fmlogger.explain.actmax import ActivationMaximizer

        s = self.settings
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
                    f"activation_max channels of layer {maxer.path!r} must lie in [0, {total}). "
                    f"Received: {channels!r}"
                )
            maximizers[maxer.path] = (maxer, channels)
        return maximizers

    def _target(self, labels):
        target = self.settings.target
        if target == "auto":
            return ("label", "labels") if labels is not None else ("predicted", "predicted class")
        if target == "label":
            return "label", "labels"
        return target, ("predicted class" if target == "predicted" else f"class {target}")

    def compute(self, model, batch: Batch) -> Explained | None:
        """The gradient passes and maximizations of ``batch`` (None on steps ``every_n_steps`` skips).

        One method failing skips only that method (listed in ``failures``).
        """
        if not self.active or batch.step % self.settings.every_n_steps:
            return None
        self.prepare(model, batch.x)
        sal = self.saliency
        target, target_text = self._target(batch.labels)
        out = Explained(np.asarray(batch.x, dtype=np.float32), target_text)
        x = out.x
        try:
            out.classes = sal.targets(x, target, batch.labels)
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            out.failures.append(("choosing saliency targets", err))
        methods = self.methods if out.classes is not None else ()
        try:  # one gradient pass for every method's rows
            together = self._attributions(x, out.classes, methods) if len(methods) > 1 else {}
        except Exception:  # noqa: BLE001 - each method then runs alone, so only failing ones are skipped
            together = {}
        for method in methods:
            reduce = _REDUCE[method]
            what = f"saliency {method}: {_REDUCE_TEXT[reduce]}"
            run = partial(together.get, method) if together else partial(self._alone, x, out.classes, method)
            self._attempt(out, out.maps, tags.saliency_tag(method), f"saliency '{method}'", run, what, reduce)
        for path in self._gradcam_paths if out.classes is not None else ():
            cam = partial(sal.gradcam, x, path, out.classes, upsample=False)  # the overlay resizes it
            self._attempt(
                out,
                out.maps,
                tags.gradcam_tag(path),
                f"gradcam '{path}'",
                cam,
                f"Grad-CAM of layer {path}",
                None,
            )
        for path, (maxer, channels) in self._maximizers.items():
            bar = self.progress(f"activation_max {path}") if self.progress else None
            self._attempt(
                out, out.actmax, path, f"activation_max '{path}'", partial(maxer, channels, progress=bar)
            )
        return out

    def _plan(self, method: str, x: np.ndarray) -> Plan:
        s = self.settings
        if method == "vanilla":
            return vanilla_plan(x)
        if method == "smoothgrad":
            return smoothgrad_plan(x, samples=s.smoothgrad_samples, noise=s.smoothgrad_noise, seed=s.seed)
        return integrated_gradients_plan(x, baseline=s.ig_baseline, steps=s.ig_steps)

    def _attributions(self, x: np.ndarray, classes: np.ndarray, methods) -> dict:
        """``{method: attribution}`` from one chunked gradient pass over the rows of every method."""
        return dict(zip(methods, self.saliency.attribute(x, classes, [self._plan(m, x) for m in methods])))

    def _alone(self, x: np.ndarray, classes: np.ndarray, method: str) -> np.ndarray:
        return self._attributions(x, classes, (method,))[method]

    @staticmethod
    def _attempt(out: Explained, into: dict, key: str, where: str, run, *extra) -> None:
        """``into[key] = (where, run(), *extra)``, or the failure noted under ``where``."""
        try:
            into[key] = (where, run(), *extra)
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            out.failures.append((where, err))

    def produce(self, batch: Batch) -> Output:
        """Draws the overlays (heatmap over each sample) and the activation-maximization grids."""
        explained = batch.computed.get(self)
        out = Output(failures=list(explained.failures) if explained is not None else [])
        items = [*explained.maps.items(), *explained.actmax.items()] if explained is not None else []
        for key, (where, *parts) in items:
            try:
                draw = self._overlay if key in explained.maps else self._actmax_grid
                out.images.append(draw(explained, key, *parts))
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                out.failures.append((where, err))
        return out

    def _overlay(self, explained: Explained, tag: str, value, what: str, reduce: str | None) -> ImageSummary:
        s = self.settings
        heat = attribution_map(value, reduce) if reduce else value
        images = overlay(
            explained.x,
            heat,
            alpha=s.alpha,
            colormap=s.colormap,
            clip_percentile=s.clip_percentile,
            min_size=s.min_size,
        )
        shown = (
            ", ".join(str(int(c)) for c in explained.classes[:16]) if explained.classes is not None else ""
        )
        description = (
            f"{what}; target: {explained.target} ({shown}); heatmap over the input, alpha={s.alpha}, "
            f"colormap={s.colormap}, scaled per sample to its "
            f"{100 - (s.clip_percentile or 0):g}th percentile."
        )
        return ImageSummary(tag, images, description)

    def _actmax_grid(self, explained: Explained, path: str, result) -> ImageSummary:
        maxer = self._maximizers[path][0]
        grid = tile_images(
            result.images, value_range=maxer.value_range, min_tile_size=min(self.settings.min_size, 64)
        )
        finals = ", ".join(f"{c}: {a:.3g}" for c, a in zip(result.channels[:16], result.final[:16]))
        description = (
            f"activation maximization of layer {path}: channels {list(result.channels)}, row by row; "
            f"{maxer.steps} steps, {maxer.parametrization} parametrisation, jitter={maxer.jitter}, "
            f"tv={maxer.tv}, l2={maxer.l2}, seed={maxer.seed}. Final activation per channel: {finals}."
        )
        return ImageSummary(tags.actmax_tag(path), grid[None], description)
