"""FeatureMapLogger: one step of capture -> render -> write, usable without ``fit``.

Example:
    >>> logger = FeatureMapLogger("runs/exp1", layers=["conv*"])    # doctest: +SKIP
    >>> for step in range(3):                                       # doctest: +SKIP
    ...     train_some(model)
    ...     logger.log(model, probe_images, step)
    >>> logger.close()                                              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Iterator, Mapping

import numpy as np

from fmlogger import tags
from fmlogger.render.png import encode_png
from fmlogger.sinks.worker import Worker
from fmlogger.errors import ErrorPolicy
from fmlogger.capture.probe import as_probe
from fmlogger._checks import check_int as _check_int
from fmlogger.render.renderer import Frame, Renderer, RenderSettings
from fmlogger.sinks.events import SummaryWriter

log = logging.getLogger("fmlogger")


def _check_log_dir(log_dir) -> str:
    """Fails fast, naming the path and the OS error, when ``log_dir`` cannot be created/written."""
    try:
        path = os.fspath(log_dir)
    except TypeError as err:
        raise TypeError(f"log_dir must be a path. Received: log_dir={log_dir!r}") from err
    if not path.strip():
        raise ValueError("log_dir must be a non-empty path. Received: log_dir=''")
    if "://" in path:  # gs://, s3://, hdfs://: TensorFlow's file systems check themselves
        return path
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"log_dir={path!r} cannot be created: {probe!r} is a file, not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"log_dir={path!r} is not writable: no write permission on {probe!r}.")
    return path


def _check_writable(log_dir: str, run_dir: str) -> None:
    """Creates ``run_dir`` and a scratch file in it; raises naming the path and the OS error."""
    if "://" in run_dir:
        return
    try:
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".fmlogger-write-check-"):
            pass
    except OSError as err:
        kind = PermissionError if isinstance(err, PermissionError) else OSError
        raise kind(
            f"log_dir={log_dir!r} is not writable: creating {run_dir!r} failed with "
            f"{type(err).__name__}: {err.strerror or err} (errno {err.errno})."
        ) from err


class PendingFrames(Mapping):
    """``{layer path: Frame}`` of a step that the background writer may still be rendering.

    Reading it (``frames["conv1"]``, ``len``, iteration) waits for that step to be written;
    ``done()`` tells without waiting.
    """

    def __init__(self, future):
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def _frames(self) -> dict:
        return self._future.result()[0]

    def __getitem__(self, name: str) -> Frame:
        return self._frames()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames())

    def __len__(self) -> int:
        return len(self._frames())

    def __repr__(self) -> str:
        return f"PendingFrames({self._frames()!r})" if self.done() else "PendingFrames(<being written>)"


class FeatureMapLogger:
    """Captures chosen layers of a model on a batch and writes them to TensorBoard as images.

    Images go to ``<log_dir>/feature_maps`` under ``feature_maps/<layer path>``, one image per
    sample; per-layer statistics under ``feature_map_stats/<layer path>/<stat>``. The file writer
    is created on the first write and flushed after every step.

    Args:
        log_dir: the TensorBoard log folder (shared with ``keras.callbacks.TensorBoard`` is fine).
        layers: layer names, paths (``"backbone/conv1"``), glob patterns (``"conv*"``) or layer
            classes; None picks every layer with a 4-D output (at most ``max_layers``).
        max_samples: images per layer and step (the first samples of the batch).
        normalize, clip_percentile, colormap, max_channels, channel_order, cols, min_tile_size,
            padding, data_format, max_tile_size: see ``fmlogger.RenderSettings``.
        max_layers: cap on the default layer choice.
        on_error: ``"warn"`` (report once, go on) or ``"raise"``.
        run_name: the run sub-folder under ``log_dir``.
        timeline: also write ``feature_map_timeline/<layer path>``: one image whose rows are all
            logged steps so far (first probe sample, step number at left), rewritten every step,
            so the newest step, which TensorBoard always keeps, holds the whole history.
        timeline_max_rows: rows kept per timeline (>= 2); past it, an even subsample that keeps
            the first and the newest step.
        timeline_max_channels: channel columns per timeline (the first shown channels), or None.
        resume: reload the channel choice and ``fixed`` range saved in the run folder
            (``fmlogger_state.json``) by an earlier logger, so a resumed run keeps the same
            channels and scale; False starts afresh and overwrites it.
        saliency: saliency methods drawn over each probe sample, among ``"vanilla"``,
            ``"smoothgrad"``, ``"integrated_gradients"``; tags ``saliency/<method>``.
        gradcam: layer names or paths (``"backbone/conv3"``) for Grad-CAM overlays; tags
            ``gradcam/<layer path>``.
        activation_max: layer paths, or ``{path: channels}``, for activation maximization;
            tags ``activation_max/<layer path>`` (one tiled image per layer).
        explain_settings: an ``fmlogger.explain.settings.ExplainSettings`` (target class, overlay alpha
            and colormap, SmoothGrad/IG/activation-maximization options).
        pca_rgb: also log ``pca_rgb/<layer>``: each position's channel vector on the layer's
            first 3 principal components as one RGB image per sample; True for every logged
            4-D layer, or a list of layer paths.
        embeddings: layer names/paths/patterns whose outputs are pooled to one vector per sample
            of ``embedding_data`` and written for TensorBoard's Projector (``log_embeddings``),
            with an aligned PCA scatter under ``embedding_pca/<layer>``.
        embedding_data: the embedding set, ``x`` or ``(x, y)`` (or a ``tf.data.Dataset``);
            labels colour the scatter and go into the Projector's metadata.
        embedding_pooling: ``"avg"`` (global average, default), ``"max"`` or ``"flatten"``.
        embedding_max_points: samples of ``embedding_data`` used, at most 100,000.
        embedding_tsne: also log a t-SNE scatter under ``embedding_tsne/<layer>`` (needs
            scikit-learn: ``pip install 'fmlogger[tsne]'``).
        background: render, encode and write each step on a worker thread, so ``log`` returns
            after the forward pass and the copy to host. ``flush``/``close`` wait for it; errors
            on the worker reach ``on_error`` at the next ``log``, ``flush`` or ``close``. False
            (and ``on_error="raise"``, so training stops at the failing step) does everything
            inside ``log``.
        max_pending_steps: steps that may wait for the worker; ``log`` blocks beyond that (so
            memory stays bounded and no step is dropped).

    Raises:
        ValueError: for an option value outside what is allowed (the message names it).
        PermissionError: when ``log_dir`` is not writable.
    """

    def __init__(
        self,
        log_dir,
        layers=None,
        *,
        max_samples: int = 4,
        normalize: str = "per_map",
        clip_percentile: float | None = None,
        colormap: str = "gray",
        max_channels: int | None = 64,
        channel_order: str = "index",
        cols: int | None = None,
        min_tile_size: int = 32,
        padding: int = 1,
        data_format: str = "channels_last",
        max_layers: int = 16,
        on_error: str = "warn",
        run_name: str = tags.RUN_SUBDIR,
        timeline: bool = True,
        timeline_max_rows: int = 32,
        timeline_max_channels: int | None = 16,
        resume: bool = True,
        saliency=None,
        gradcam=None,
        activation_max=None,
        explain_settings=None,
        pca_rgb=False,
        embeddings=None,
        embedding_data=None,
        embedding_pooling: str = "avg",
        embedding_max_points: int = 100_000,
        embedding_tsne: bool = False,
        background: bool = True,
        max_pending_steps: int = 2,
        max_tile_size: int | None = 64,
    ):
        _check_int("max_samples", max_samples, 1)
        _check_int("max_pending_steps", max_pending_steps, 1)
        if not isinstance(background, bool):
            raise ValueError(f"background must be True or False. Received: background={background!r}")
        _check_int("max_layers", max_layers, 1)
        self.log_dir = _check_log_dir(log_dir)
        from fmlogger.capture.layers import check_layer_specs

        check_layer_specs(layers, allow_empty=bool(saliency or gradcam or activation_max or embeddings))
        self.layers = layers
        self.max_samples = max_samples
        self.max_layers = max_layers
        self.settings = RenderSettings(
            normalize=normalize,
            clip_percentile=clip_percentile,
            colormap=colormap,
            max_channels=max_channels,
            channel_order=channel_order,
            cols=cols,
            min_tile_size=min_tile_size,
            padding=padding,
            data_format=data_format,
            max_tile_size=max_tile_size,
        )
        self.errors = ErrorPolicy(on_error)
        self.renderer = Renderer(self.settings)
        self.writer = SummaryWriter(os.path.join(self.log_dir, run_name))
        self._capture = None
        self._nonfinite_reported: set[str] = set()
        from fmlogger.sinks.state import RunRecord
        from fmlogger.render.timeline import TimelineLog

        self.record = RunRecord(self.writer.run_dir, self.settings, self.renderer, resume=resume)
        self.timelines = (
            TimelineLog(
                self.settings,
                max_rows=timeline_max_rows,
                max_channels=timeline_max_channels,
                run_dir=self.writer.run_dir,
                saved=(self.record.saved or {}).get("timelines"),
            )
            if timeline else None
        )
        from fmlogger.explain.settings import Explainers

        self.explainers = Explainers(saliency, gradcam, activation_max, explain_settings)
        if not (isinstance(pca_rgb, (bool, str)) or (isinstance(pca_rgb, (list, tuple)) and all(isinstance(p, str) for p in pca_rgb))):
            raise ValueError(
                f"pca_rgb must be True, False, or a list of layer paths. Received: pca_rgb={pca_rgb!r}"
            )
        self.pca_rgb = pca_rgb
        self._pca_rgb_renderer = None
        self.embedding_producer = None
        if embeddings is not None or embedding_data is not None:
            from fmlogger.views.embeddings import EmbeddingProducer

            self.embedding_producer = EmbeddingProducer(
                embeddings, embedding_data, writer=self.writer, pooling=embedding_pooling,
                max_points=embedding_max_points, tsne=embedding_tsne, errors=self.errors,
                data_format=data_format,
            )
        self.background = background and on_error != "raise"  # strict: stop at the failing step
        self._worker = Worker(max_pending_steps)

    @property
    def run_dir(self) -> str:
        """The folder the event files go to: ``<log_dir>/<run_name>``."""
        return self.writer.run_dir

    @property
    def trace_count(self) -> int:
        """How often the forward pass was traced (1 once capturing has started)."""
        return self._capture.trace_count if self._capture is not None else 0

    def check_writable(self) -> None:
        """Creates the run folder and a scratch file in it, so an unwritable ``log_dir`` fails now.

        Raises:
            PermissionError, OSError: naming ``log_dir``, the run folder and the OS error.
        """
        _check_writable(self.log_dir, self.run_dir)

    def capture_for(self, model, inputs):
        """The ``Capture`` for ``model``, built (layers resolved, validated) on first use."""
        from fmlogger.capture.traced import Capture

        if self._capture is None or self._capture.model is not model:
            self._capture = Capture(model, self.layers, inputs, max_layers=self.max_layers)
            from fmlogger.sinks.claims import claim

            claim(self.run_dir, [tags.image_tag(p) for p in self._capture.paths], self)
        self.explainers.prepare(model, inputs)
        return self._capture

    def log(self, model, inputs, step: int, *, labels=None) -> dict[str, Frame]:
        """Captures the chosen layers of ``model`` on ``inputs`` and writes them at ``step``.

        Args:
            model: a Keras model.
            inputs: a batch (array, tensor, list/dict for multi-input, or an ``(x, y)`` tuple);
                only the first ``max_samples`` samples are used.
            step: the TensorBoard step.
            labels: the samples' labels, for ``saliency``/``gradcam`` with target ``"label"`` or
                ``"auto"``; default: the ``y`` of an ``(x, y)`` tuple.

        Returns:
            ``{layer path: Frame}`` of what was written (with ``background``, a ``PendingFrames``
            that waits for the worker when read).
        """
        self._report_finished()
        probe = as_probe(inputs, self.max_samples)
        x = probe.x
        self.record_probe(probe, source=inputs)
        capture = self.capture_for(model, x)
        try:
            arrays = capture(x)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.errors.report("capturing layer outputs", err)
            arrays = {}
        frames = self._write(arrays, step, capture.data_formats)
        if self.explainers.active:
            labels = probe.y if labels is None else np.asarray(labels)[: self.max_samples]
            self._explain(model, x, labels, step)
        return frames

    def _explain(self, model, x, labels, step: int) -> None:
        """Writes the saliency / Grad-CAM / activation-maximization images of ``x`` at ``step``."""
        try:
            self.explainers.log(model, x, labels, step, self.writer, self.errors)
            self.writer.flush()
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.errors.report("saliency/gradcam/activation_max", err)

    def log_arrays(self, arrays: Mapping[str, np.ndarray], step: int, *, data_format: str | None = None) -> dict[str, Frame]:
        """Writes activations from anywhere (custom loops, other frameworks) at ``step``.

        Args:
            arrays: ``{name: array}``, each with samples on the first axis: ``[n, h, w, c]``
                (or ``[n, c, h, w]`` with ``data_format="channels_first"``), ``[n, t, c]`` or
                ``[n, units]``. Names become tags ``feature_maps/<name>``.
            step: the TensorBoard step.
            data_format: overrides the logger's ``data_format`` for these arrays.

        Returns:
            ``{name: Frame}`` of what was written (with ``background``, a ``PendingFrames``).
            The arrays are copied before ``log_arrays`` returns: reusing them is safe.
        """
        self._report_finished()
        fmt = data_format or self.settings.data_format
        return self._write({name: arrays[name] for name in arrays}, step, {name: fmt for name in arrays}, copy=True)

    def _write(self, arrays: Mapping, step: int, data_formats: Mapping[str, str], *, copy: bool = False):
        """Takes the arrays to host memory here, then renders and writes them (on the worker)."""
        host, failures = {}, []
        for name, array in arrays.items():
            try:
                value = np.asarray(array.numpy() if hasattr(array, "numpy") else array)[: self.max_samples]
                host[name] = value.copy() if copy else value
            except Exception as err:  # noqa: BLE001 - the error policy decides
                failures.append((f"logging layer '{name}'", err))
        if not self.background:
            frames, later = self._render_and_write(host, step, dict(data_formats))
            self._report(failures + later)
            return frames
        self._report(failures)
        return PendingFrames(self._worker.submit(self._render_and_write, host, step, dict(data_formats)))

    def _render_and_write(self, arrays: Mapping, step: int, data_formats: Mapping[str, str]):
        """Renders, encodes and writes one step as one event; returns ``(frames, failures)``.

        Never raises for a layer: failures are returned as ``(where, error)`` for the caller's
        thread to hand to the error policy.
        """
        frames: dict[str, Frame] = {}
        failures: list[tuple[str, BaseException]] = []
        images, scalars = [], []
        try:
            self.writer.reopen_if_removed()
        except Exception as err:  # noqa: BLE001 - the error policy decides; the step is still written
            failures.append((f"writing step {step} to {self.run_dir}", err))
        for name, array in arrays.items():
            try:
                frame = self.renderer.render(name, array, data_formats.get(name))
                pngs = [encode_png(image) for image in frame.images]
            except Exception as err:  # noqa: BLE001 - the error policy decides
                failures.append((f"logging layer '{name}'", err))
                continue
            n, height, width = frame.images.shape[:3]
            images.append((tags.image_tag(name), width, height, pngs, frame.description))
            scalars.extend((tags.stat_tag(name, stat), frame.stats[stat]) for stat in tags.STAT_NAMES)
            frames[name] = frame
            if frame.stats["nonfinite"] and name not in self._nonfinite_reported:
                self._nonfinite_reported.add(name)
                log.warning(
                    "fmlogger: layer '%s' produced %d NaN/Inf values at step %d; they are drawn in "
                    "the marker colour and counted in %s.",
                    name, frame.stats["nonfinite"], step, tags.stat_tag(name, "nonfinite"),
                )
        try:
            if images or scalars:
                self.writer.write_step(step, pngs=images, scalars=scalars)
        except Exception as err:  # noqa: BLE001
            failures.append((f"writing step {step} to {self.run_dir}", err))
        for name, frame in frames.items():
            if self.timelines is not None:
                try:
                    self.timelines.add(self.writer, name, frame, step)
                except Exception as err:  # noqa: BLE001 - the error policy decides
                    failures.append((f"timeline of layer '{name}'", err))
        if self.pca_rgb:
            failures += self._write_pca_rgb(arrays, step, data_formats)
        try:
            self.record.after_step(self.writer, step, self.timelines)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            failures.append((f"saving the run state in {self.run_dir}", err))
        try:
            self.writer.flush()
        except Exception as err:  # noqa: BLE001
            failures.append((f"flushing step {step} to {self.run_dir}", err))
        return frames, failures

    def _report(self, failures) -> None:
        for where, err in failures:
            self.errors.report(where, err)

    def _collect(self, futures) -> None:
        """Hands the failures of finished background steps to the error policy, oldest first."""
        for future in futures:
            err = future.exception()
            self._report([("background writing", err)] if err is not None else future.result()[1])

    def _report_finished(self) -> None:
        self._collect(self._worker.finished())

    @property
    def pending_steps(self) -> int:
        """Steps handed to the background writer and not written yet."""
        return self._worker.pending

    def record_probe(self, probe, *, source=None) -> dict:
        """Fingerprints the probe (hash of its bytes, shape, dtype) for the run's state and text summary.

        Called by ``log`` (and by the callback with its fixed probe); warns once when the probe
        differs from the one saved in the run folder or used before. Returns the fingerprint.
        """
        from fmlogger.capture.probe import Probe

        if isinstance(probe, Probe):
            return self.record.set_probe(probe.x, seed=probe.seed, source=source)
        return self.record.set_probe(probe, source=source)

    def _write_pca_rgb(self, arrays: Mapping, step: int, data_formats: Mapping[str, str]) -> list:
        """Writes ``pca_rgb/<layer>`` images; returns the failures as ``(where, error)``."""
        from fmlogger.render.pca import PCARGBRenderer

        failures = []
        if self._pca_rgb_renderer is None:
            self._pca_rgb_renderer = PCARGBRenderer(min_size=self.settings.min_tile_size)
        wanted = None if self.pca_rgb is True else set(
            [self.pca_rgb] if isinstance(self.pca_rgb, str) else self.pca_rgb
        )
        for name, array in arrays.items():
            if wanted is not None and name not in wanted:
                continue
            array = np.asarray(array.numpy() if hasattr(array, "numpy") else array)[: self.max_samples]
            if array.ndim != 4:
                continue
            fmt = data_formats.get(name) or "channels_last"
            channels = array.shape[1] if fmt == "channels_first" else array.shape[-1]
            try:
                images, fit = self._pca_rgb_renderer.render(name, array, fmt)
                ratio = fit.explained_variance_ratio
                self.writer.image(
                    tags.pca_rgb_tag(name), images, step,
                    f"{name}: each position's {channels} channels on the first 3 principal components (R, G, B: {ratio[0]:.0%}, "
                    f"{ratio[1]:.0%}, {ratio[2]:.0%} of variance), fitted over the probe at this step.",
                )
            except Exception as err:  # noqa: BLE001 - the error policy decides
                failures.append((f"PCA RGB of layer '{name}'", err))
        return failures

    def log_embeddings(self, model, step: int) -> dict[str, np.ndarray]:
        """Pools the ``embeddings`` layers over ``embedding_data`` and writes them at ``step``.

        Writes the Projector entry ``"<layer> @ epoch <step>"`` (tensor, metadata, sprite) into
        the run folder and the ``embedding_pca/<layer>`` (and ``embedding_tsne/<layer>``) images.

        Returns:
            ``{layer path: float32 [N, D]}``, the vectors written.

        Raises:
            ValueError: when the logger was made without ``embeddings``/``embedding_data``.
        """
        if self.embedding_producer is None:
            raise ValueError(
                "log_embeddings needs FeatureMapLogger(..., embeddings=[<layer>, ...], embedding_data=x or (x, y))."
            )
        return self.embedding_producer.log(model, step)

    def flush(self) -> None:
        """Waits for the background writer, reports its failures, and flushes the event file."""
        self._collect(self._worker.wait())
        self.writer.flush()

    def close(self) -> None:
        """Waits for the background writer, closes the event file; logging again opens a new one.

        Failures of the last steps reach the error policy here (after the file is closed).
        """
        from fmlogger.sinks.claims import release

        release(self.run_dir, self)
        futures = self._worker.shutdown()
        try:
            self.writer.close()
        finally:
            self._collect(futures)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
