"""FeatureMapLogger: one step of capture -> views -> sink, usable without ``fit``.

Example:
    >>> import numpy as np, tempfile
    >>> logger = FeatureMapLogger(tempfile.mkdtemp(), render=RenderSettings(min_tile_size=8))
    >>> frames = logger.log_arrays({"conv1": np.random.rand(2, 8, 8, 4)}, step=0)
    >>> logger.close()
    >>> frames["conv1"].images.shape
    (2, 19, 19, 1)
    >>> logger.log(model, probe_images, step=1)                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fmlogger import tags
from fmlogger._checks import check_bool, check_int, check_not_iterator
from fmlogger.capture.probe import Probe, make_probe
from fmlogger.errors import ErrorPolicy
from fmlogger.render.renderer import Frame, RenderSettings
from fmlogger.sinks.claims import Claims
from fmlogger.sinks.event_sink import EventSink
from fmlogger.sinks.state import RunRecord
from fmlogger.views import options as _options
from fmlogger.views.base import Batch
from fmlogger.views.embeddings import EmbeddingsView
from fmlogger.views.explanations import ExplanationsView
from fmlogger.views.feature_maps import FeatureMapView, LayerArrays, to_host
from fmlogger.views.pca_rgb import PCARGBView, check_pca_rgb
from fmlogger.views.pipeline import PendingFrames, Pipeline
from fmlogger.views.timelines import TimelineView

__all__ = ["FeatureMapLogger", "PendingFrames"]


class FeatureMapLogger:
    """Captures chosen layers of a model on a batch and writes them to TensorBoard as images.

    Each step every view (``fmlogger.views``) turns the probe into images and scalars, written as
    one event to ``<log_dir>/<run_name>``: ``feature_maps/``, ``feature_map_stats/``,
    ``feature_map_timeline/``, ``pca_rgb/``, ``saliency/``, ``gradcam/``, ``activation_max/``.

    Args:
        log_dir: the TensorBoard log folder (shared with ``keras.callbacks.TensorBoard`` is fine).
        layers: names, paths (``"backbone/conv1"``), globs (``"conv*"``) or layer classes; None picks
            spatial 4-D outputs spread over the model (<= ``max_layers``; fewer past ~12 Mi px a step).
        render: a ``RenderSettings`` (normalization, colormap, channels, grid).
        timeline: True/False, or a ``TimelineSettings`` (rows and channel columns kept).
        embeddings: layer names/paths/patterns to embed (with ``embedding_data``), or an
            ``EmbeddingSettings``; written by ``log_embeddings``.
        explain: an ``ExplainSettings`` (``explain_settings=`` is the same group): target
            class, overlay alpha and colormap, SmoothGrad/IG/activation-maximization options.
        saliency: methods drawn over each probe sample, among ``tags.SALIENCY_METHODS``.
        gradcam: layer names or paths (``"backbone/conv3"``) for Grad-CAM overlays.
        activation_max: layer paths, or ``{path: channels}``, for activation maximization.
        pca_rgb: True (every logged 4-D layer) or layer paths: channels on 3 principal components as RGB.
        max_samples: images per layer and step (the first samples of the batch).
        max_layers: cap on the default layer choice.
        on_error: ``"warn"`` (report once, go on) or ``"raise"``.
        run_name: the run sub-folder under ``log_dir``: one folder name (not empty, ``.``, ``..``;
            no ``/``, ``\\``, NUL), marked while written so other processes are warned (``sinks.claims``).
        resume: continue the channel choice, ``fixed`` range and timelines saved in the run
            folder by an earlier logger; False starts afresh and overwrites them.
        background: render, encode and write each step on a worker thread (``log`` returns after
            the forward/gradient passes; ``flush``/``close`` wait; worker errors reach ``on_error``
            at the next call). False, or ``on_error="raise"``, does all inside ``log``.
        max_pending_steps: steps that may wait for the worker; ``log`` blocks beyond that.
        **shortcuts: today's flat keywords, each a field of one group (one mapping:
            ``fmlogger.views.options.SHORTCUTS``); passed with their group, the values must agree:

            normalize -> render.normalize                     clip_percentile -> render.clip_percentile
            colormap -> render.colormap                       max_channels -> render.max_channels
            channel_order -> render.channel_order             cols -> render.cols
            min_tile_size -> render.min_tile_size             padding -> render.padding
            data_format -> render.data_format                 max_tile_size -> render.max_tile_size
            timeline_max_rows -> timeline.max_rows            timeline_max_channels -> timeline.max_channels
            embedding_data -> embeddings.data                 embedding_pooling -> embeddings.pooling
            embedding_max_points -> embeddings.max_points     embedding_tsne -> embeddings.tsne
            embedding_keep_last -> embeddings.keep_last

    Raises:
        ValueError: an option value outside what is allowed, or a flat keyword contradicting its
            group (the message names it). TypeError: an unknown keyword, or a bytes ``log_dir``.
        PermissionError: when ``log_dir`` is not writable.
    """

    def __init__(
        self, log_dir, layers=None, *, render: RenderSettings | None = None, timeline=True,
        embeddings=None, explain=None, saliency=None, gradcam=None, activation_max=None, pca_rgb=False,
        max_samples: int = 4, max_layers: int = 16, on_error: str = "warn", run_name: str = tags.RUN_SUBDIR,
        resume: bool = True, background: bool = True, max_pending_steps: int = 2, explain_settings=None,
        **shortcuts,
    ):
        check_int("max_samples", max_samples, 1)
        check_int("max_pending_steps", max_pending_steps, 1)
        check_int("max_layers", max_layers, 1)
        check_bool("background", background)
        check_bool("resume", resume)
        check_not_iterator("layers", layers)
        check_pca_rgb(pca_rgb)
        options = _options.resolve(
            render=render, timeline=timeline, embeddings=embeddings, explain=explain,
            explain_settings=explain_settings, shortcuts=shortcuts,
        )
        self.sink = EventSink(log_dir, run_name)
        self.claims = Claims(self.sink.run_dir)
        from fmlogger.capture.layers import check_layer_specs

        others = saliency or gradcam or activation_max or options.embeddings
        check_layer_specs(layers, allow_empty=bool(others))  # layers=[] is fine if something else is logged
        self.log_dir, self.layers, self.max_samples = self.sink.log_dir, layers, max_samples
        self.settings, self.errors = options.render, ErrorPolicy(on_error)
        maps = FeatureMapView(layers, self.settings, max_samples=max_samples, max_layers=max_layers)
        self.feature_maps = maps
        self.record = RunRecord(self.run_dir, self.settings, maps.renderer, resume=resume)
        saved = self.record.saved_rows
        self.timelines = options.timeline and TimelineView(options.timeline, maps, saved=saved)
        self.pca_rgb = PCARGBView(pca_rgb, maps) if pca_rgb else None
        self.explanations = ExplanationsView(saliency, gradcam, activation_max, options.explain)
        fmt = self.settings.data_format
        self.embeddings = options.embeddings and EmbeddingsView(options.embeddings, data_format=fmt)
        self.pipeline = Pipeline(  # on_error="raise": all inline, so training stops at the failing step
            [v for v in (maps, self.timelines, self.pca_rgb, self.explanations) if v], self.sink, self.errors,
            background=background and on_error != "raise", max_pending=max_pending_steps,
            after_write=self._save_state,
        )

    @property
    def run_dir(self) -> str:
        """The folder the event files go to: ``<log_dir>/<run_name>``."""
        return self.sink.run_dir

    @property
    def renderer(self):
        """The feature maps' ``Renderer`` (channel choice and ``fixed`` range per layer)."""
        return self.feature_maps.renderer

    @property
    def pending_steps(self) -> int:
        """Steps handed to the background writer and not written yet."""
        return self.pipeline.pending

    @property
    def trace_count(self) -> int:
        """How often the forward pass was traced (1 once capturing has started)."""
        capture = self.feature_maps.capture
        return capture.trace_count if capture is not None else 0

    def check_writable(self) -> None:
        """Creates the run folder and a scratch file in it: ``PermissionError``/``OSError`` now if not."""
        self.sink.check_writable()

    def capture_for(self, model, inputs):
        """Prepares every view for ``model`` once (layers resolved, passes traced); the ``Capture``."""
        known = self.feature_maps.capture
        for view in self.pipeline.views + ([self.embeddings] if self.embeddings is not None else []):
            view.prepare(model, inputs)
        if self.feature_maps.capture is not known:
            self.claims.add(self.feature_maps.capture.paths)
        return self.feature_maps.capture

    def log(self, model, inputs, step: int, *, labels=None) -> dict[str, Frame]:
        """Captures ``model`` on ``inputs`` (a batch, list/dict for multi-input, or ``(x, y)``; its
        first ``max_samples``) and writes every view at ``step``. ``labels`` (default: the ``y``
        of ``(x, y)``) are the saliency/Grad-CAM targets with target ``"label"`` or ``"auto"``.

        Returns:
            ``{layer path: Frame}`` of what was written (with ``background``, a ``PendingFrames``
            that waits for the worker when read).
        """
        check_int("step", step, 0)
        self.pipeline.report_finished()
        probe = make_probe("inputs", inputs, self.max_samples)
        self.record_probe(probe, source=inputs)
        self.capture_for(model, probe.x)
        labels = probe.y if labels is None else np.asarray(labels)[: self.max_samples]
        return self.pipeline.log(model, Batch(step, probe.x, labels))

    def log_arrays(
        self, arrays: Mapping[str, np.ndarray], step: int, *, data_format: str | None = None
    ) -> dict[str, Frame]:
        """Writes activations from anywhere (custom loops, other frameworks) at ``step``.

        Args:
            arrays: ``{name: array}`` (tags ``feature_maps/<name>``), samples first: ``[n, h, w, c]``
                (``[n, c, h, w]`` with ``data_format="channels_first"``), ``[n, t, c]`` or ``[n, units]``.
            step: the TensorBoard step.
            data_format: overrides the logger's ``data_format`` for these arrays.

        Returns:
            ``{name: Frame}`` of what was written (with ``background``, a ``PendingFrames``);
            the arrays are copied first: reusing them is safe.
        """
        check_int("step", step, 0)
        self.pipeline.report_finished()
        host, failures = to_host(arrays, self.max_samples, copy=True)
        self.pipeline.report(failures)
        self.claims.add(host)
        batch = Batch(step)
        fmt = data_format or self.settings.data_format
        batch.computed[self.feature_maps] = LayerArrays(host, {name: fmt for name in host})
        return self.pipeline.write(batch)

    def _save_state(self, batch: Batch) -> None:
        self.claims.mark_written()  # the run folder exists now: other processes see this one writes it
        if self.sink.intact():  # else the run folder was removed: the next step re-creates it, then saves
            self.record.after_step(self.sink.writer, batch.step, self.timelines)

    def record_probe(self, probe, *, source=None) -> dict:
        """Fingerprints the probe (hash of its bytes, shape, dtype) for the run's state; warns once
        when it differs from the one saved in the run folder or used before. Returns it."""
        if not isinstance(probe, Probe):
            probe = Probe(probe)
        return self.record.set_probe(probe.x, seed=probe.seed, source=source, given=probe.given)

    def log_embeddings(self, model, step: int) -> dict[str, np.ndarray]:
        """Pools the ``embeddings`` layers over their data and writes, before returning, the Projector
        entry ``"<layer> @ epoch <step>"`` and the ``embedding_pca/`` (``embedding_tsne/``) images.

        Returns:
            ``{layer path: float32 [N, D]}``, the vectors written (empty after a reported failure).
            Raises ValueError when the logger was made without ``embeddings``.
        """
        if self.embeddings is None:
            needs = "embeddings=[<layer>, ...], embedding_data=x or (x, y)"
            raise ValueError(f"log_embeddings needs FeatureMapLogger(..., {needs}).")
        batch = Batch(step)
        Pipeline([self.embeddings], self.sink, self.errors, background=False).log(model, batch)
        embedded = batch.computed.get(self.embeddings)
        return embedded.tensors if embedded is not None else {}

    def flush(self) -> None:
        """Waits for the background writer, reports its failures, and flushes the event file."""
        self.pipeline.flush()

    def close(self) -> None:
        """Waits for the background writer (its failures are reported after the event file is
        closed) and closes the event file; logging again opens a new one."""
        self.claims.release()
        self.pipeline.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
