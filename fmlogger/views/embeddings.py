"""Embeddings of chosen layers over an embedding set: Projector files and aligned scatter views.

For each layer in ``embeddings`` every sample of the embedding set is pooled to one vector
(``fmlogger.sinks.projector.pool``), captured in batches through one traced forward pass
(``fmlogger.capture.traced.Capture``, which also returns the model's output for the predicted class).
Each logged step then writes

* the Projector entry ``"<layer> @ epoch <step>"`` (tensor, metadata.tsv, sprite), and
* images through the run's ``SummaryWriter``, so the step slider works: ``embedding_pca/<layer>``
  (2-D PCA, Procrustes-aligned to the previous step, coloured by label) and, with
  ``tsne=True``, ``embedding_tsne/<layer>`` (scikit-learn's t-SNE, seeded and started from the
  previous step's layout).

Example:
    >>> producer = EmbeddingProducer(["conv3"], (x_val, y_val), writer=writer)   # doctest: +SKIP
    >>> producer.log(model, step=1)                                               # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Sequence

import numpy as np

from fmlogger import tags
from fmlogger.sinks import projector
from fmlogger.errors import ErrorPolicy
from fmlogger.render.pca import AlignedProjection
from fmlogger.capture.probe import as_probe, head, leaves, map_inputs
from fmlogger._checks import check_int as _check_int
from fmlogger.render.scatter import scatter_image

log = logging.getLogger("fmlogger")

DEFAULT_BATCH_SIZE = 256
DEFAULT_TSNE_POINTS = 2000
MAX_COLOR_CATEGORIES = 50
TSNE_INSTALL_HINT = (
    "embedding_tsne=True needs scikit-learn, which is not installed in this environment. Install it "
    "with `pip install 'fmlogger[tsne]'` (or `pip install scikit-learn`), or pass embedding_tsne=False."
)


def tsne_available() -> bool:
    """True when scikit-learn can be imported (checked without importing it)."""
    return importlib.util.find_spec("sklearn") is not None


def class_labels(y) -> np.ndarray | None:
    """Labels ``[n]`` from ``y``: class indices as they are, one-hot rows -> argmax, ``[n, 1]`` -> ``[n]``."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return y.reshape(len(y), -1)[:, 0] if y.ndim >= 2 else y


def predicted_classes(output: np.ndarray | None, labels: np.ndarray | None = None) -> np.ndarray | None:
    """The predicted class of each sample, when ``output`` looks like a classifier's; else None.

    ``[n, k]`` with k >= 2: argmax (when labels are given, they must be integers below k). ``[n]``
    or ``[n, 1]``: a binary classifier only when labels are given and are 0/1; threshold 0.5
    for outputs within [0, 1] (probabilities), 0 otherwise (logits).
    """
    if output is None:
        return None
    out = np.asarray(output).reshape(len(output), -1)
    integer_labels = labels is not None and np.issubdtype(np.asarray(labels).dtype, np.integer)
    if out.shape[1] >= 2:
        if labels is not None and not (integer_labels and labels.min() >= 0 and labels.max() < out.shape[1]):
            return None
        return np.argmax(out, axis=1)
    if not integer_labels or not np.isin(labels, (0, 1)).all():
        return None
    column = out[:, 0]
    threshold = 0.5 if column.min() >= 0 and column.max() <= 1 else 0.0
    return (column > threshold).astype(np.int64)


def _categories(values: np.ndarray | None) -> tuple[np.ndarray | None, list[str] | None]:
    """Colour codes and legend names for the scatter, or (None, None) for one colour."""
    if values is None:
        return None, None
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values[np.isfinite(values)], 1) == 0):
        return None, None  # a continuous target: no categories to colour by
    names, codes = np.unique(values.astype(str) if values.dtype.kind in "OSU" else values, return_inverse=True)
    if len(names) > MAX_COLOR_CATEGORIES:
        return None, None
    return codes.reshape(-1), [projector.escape_label(n) for n in names]


class EmbeddingProducer:
    """Pools chosen layers over an embedding set and writes Projector entries and scatter views.

    Args:
        layers: layer names, paths or patterns (as ``FeatureMapLogger``'s ``layers``).
        data: the embedding set: ``x``, ``(x, y)`` or a ``tf.data.Dataset`` (see
            ``fmlogger.capture.probe.as_probe``); its first ``max_points`` samples are kept.
        writer: the run's ``SummaryWriter`` (its folder gets the Projector files).
        pooling: ``"avg"``, ``"max"`` or ``"flatten"`` (see ``fmlogger.sinks.projector.pool``).
        max_points: at most this many samples, 1..100,000 (the Projector's limit).
        batch_size: samples per forward pass.
        tsne: also draw a t-SNE scatter (needs scikit-learn).
        tsne_max_points: t-SNE uses the first this many points.
        data_format: layout of the inputs, for the sprite.
        errors: the error policy for failures while training.
        seed: t-SNE's random state.

    Raises:
        ValueError: for a bad option or empty data; ImportError for ``tsne=True`` without
            scikit-learn.
    """

    def __init__(
        self,
        layers: Sequence,
        data,
        *,
        writer,
        pooling: str = "avg",
        max_points: int = projector.MAX_POINTS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tsne: bool = False,
        tsne_max_points: int = DEFAULT_TSNE_POINTS,
        data_format: str = "channels_last",
        errors: ErrorPolicy | None = None,
        seed: int = 0,
    ):
        if layers is None or (not isinstance(layers, type) and len(layers) == 0):
            raise ValueError(f"embeddings must name at least one layer. Received: embeddings={layers!r}")
        if pooling not in projector.POOLING:
            raise ValueError(
                f"embedding_pooling must be one of {projector.POOLING}. Received: embedding_pooling={pooling!r}"
            )
        _check_int("embedding_max_points", max_points, 1)
        if max_points > projector.MAX_POINTS:
            raise ValueError(
                f"embedding_max_points must be at most {projector.MAX_POINTS:,} (the Projector's limit). "
                f"Received: embedding_max_points={max_points!r}"
            )
        _check_int("embedding_batch_size", batch_size, 1)
        _check_int("embedding_tsne_max_points", tsne_max_points, 10)
        if tsne and not tsne_available():
            raise ImportError(TSNE_INSTALL_HINT)
        if data is None:
            raise ValueError("embeddings=[...] needs embedding_data=x or (x, y): the samples to embed.")
        try:
            self.data = as_probe(data, max_points)
        except ValueError as err:
            raise ValueError(f"embedding_data: {err}") from err
        self.layers = [layers] if isinstance(layers, (str, type)) else list(layers)
        self.writer = writer
        self.pooling = pooling
        self.batch_size = batch_size
        self.tsne = tsne
        self.tsne_max_points = tsne_max_points
        self.data_format = data_format
        self.errors = errors or ErrorPolicy("warn")
        self.seed = seed
        self.labels = class_labels(self.data.y)
        self.projector = projector.ProjectorWriter(writer.run_dir)
        self._capture = None
        self._sprite_done = False
        self._remote_reported = False
        self._pca_views: dict[str, AlignedProjection] = {}
        self._tsne_views: dict[str, AlignedProjection] = {}
        self._tsne_previous: dict[str, np.ndarray] = {}

    @property
    def size(self) -> int:
        return self.data.size

    def capture_for(self, model):
        """The batched ``Capture`` (embedding layers + the model output), built on first use."""
        from fmlogger.capture.traced import Capture

        if self._capture is None or self._capture.model is not model:
            example = head(self.data.x, min(self.batch_size, self.size))
            try:
                self._capture = Capture(model, self.layers, example, include_output=True)
            except ValueError as err:  # name the option the user set
                raise ValueError(str(err).replace("layers=", "embeddings=", 1)) from err
        return self._capture

    def compute(self, model) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Runs the embedding set through ``model`` in batches.

        Returns:
            ``({layer path: float32 [N, D]}, model output [N, ...] or None)``.
        """
        from fmlogger.capture.traced import Capture

        capture = self.capture_for(model)
        pooled: dict[str, list] = {}
        outputs = []
        for start in range(0, self.size, self.batch_size):
            arrays = capture(map_inputs(lambda a: a[start : start + self.batch_size], self.data.x))
            for name, array in arrays.items():
                if name == Capture.OUTPUT:
                    outputs.append(array)
                else:
                    pooled.setdefault(name, []).append(
                        projector.pool(array, self.pooling, capture.data_formats.get(name, "channels_last"))
                    )
        embeddings = {name: np.concatenate(parts) for name, parts in pooled.items()}
        return embeddings, (np.concatenate(outputs) if outputs else None)

    def metadata(self, output: np.ndarray | None) -> dict[str, np.ndarray]:
        """The metadata columns: ``label``, ``predicted`` and ``correct`` where available."""
        columns: dict[str, np.ndarray] = {}
        predicted = predicted_classes(output, self.labels)
        if self.labels is not None:
            columns["label"] = self.labels
        if predicted is not None:
            columns["predicted"] = predicted
            if self.labels is not None:
                columns["correct"] = np.where(predicted == self.labels, "yes", "no")
        return columns

    def log(self, model, step: int) -> dict[str, np.ndarray]:
        """Computes the embeddings at ``step`` and writes the Projector entries and scatter images.

        Returns:
            ``{layer path: [N, D] embedding}`` of what was written (empty after a reported failure).
        """
        try:
            embeddings, output = self.compute(model)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.errors.report(f"computing embeddings at step {step}", err)
            return {}
        columns = self.metadata(output)
        if not self._sprite_done and "://" not in self.projector.run_dir:
            self._sprite_done = True
            try:
                arrays = leaves(self.data.x)
                if len(arrays) == 1 and not self.projector.write_sprite(arrays[0], data_format=self.data_format):
                    log.info("fmlogger: embedding inputs are not images; the Projector gets no sprite.")
            except Exception as err:  # noqa: BLE001
                self.errors.report("writing the Projector sprite", err)
        if "://" in self.projector.run_dir:  # gs://, s3://: the Projector reads local folders only
            if not self._remote_reported:
                self._remote_reported = True
                log.warning(
                    "fmlogger: log_dir %s is not a local folder; Projector files are not written "
                    "(the embedding_pca/ images are).", self.projector.run_dir,
                )
        else:
            try:
                self.projector.add(step, embeddings, columns or None)
            except Exception as err:  # noqa: BLE001
                self.errors.report(f"writing Projector files to {self.projector.run_dir}", err)
        color_by = columns.get("label", columns.get("predicted"))
        codes, names = _categories(color_by)
        legend = "label" if "label" in columns else "predicted class"
        for name, embedding in embeddings.items():
            try:
                self._write_pca(name, embedding, step, codes, names, legend)
                if self.tsne:
                    self._write_tsne(name, embedding, step, codes, names, legend)
            except Exception as err:  # noqa: BLE001
                self.errors.report(f"drawing the embedding views of '{name}'", err)
        try:
            self.writer.flush()
        except Exception as err:  # noqa: BLE001
            self.errors.report(f"flushing embeddings at step {step}", err)
        return embeddings

    def _write_pca(self, name, embedding, step, codes, names, legend) -> np.ndarray:
        view = self._pca_views.setdefault(name, AlignedProjection())
        points = view.project(embedding)
        ratio = view.last_fit.explained_variance_ratio
        image = scatter_image(
            points, codes, names,
            title=f"{name} @ epoch {step}: PCA, {ratio[0]:.0%} + {ratio[1]:.0%} of variance",
            xlabel="PC1 (aligned to previous epoch)", ylabel="PC2",
        )
        self.writer.image(
            tags.embedding_pca_tag(name), image[None], step,
            f"{name}: {len(points)} points, {embedding.shape[1]}-D ({self.pooling} pooling), first two "
            f"principal components, rotated/reflected onto the previous step; colour = {legend}.",
        )
        return points

    def _write_tsne(self, name, embedding, step, codes, names, legend) -> np.ndarray:
        from sklearn.manifold import TSNE

        x = np.asarray(embedding[: self.tsne_max_points], np.float64)
        n = len(x)
        if n < 5:
            raise ValueError(f"t-SNE needs at least 5 points; the embedding set has {n}.")
        previous = self._tsne_previous.get(name)
        if previous is not None and len(previous) == n:
            # Continue from the last layout as it is, without early exaggeration (which would
            # tear it up first): clusters that did not change stay where they were.
            init, exaggeration = previous, 1.0
        else:
            init, exaggeration = "pca", 12.0
        layout = TSNE(
            n_components=2, perplexity=float(min(30.0, (n - 1) / 3)), init=init,
            early_exaggeration=exaggeration, learning_rate="auto", random_state=self.seed,
        ).fit_transform(x)
        self._tsne_previous[name] = layout
        points = self._tsne_views.setdefault(name, AlignedProjection()).align(layout)
        image = scatter_image(
            points, None if codes is None else codes[:n], names,
            title=f"{name} @ epoch {step}: t-SNE", xlabel="t-SNE 1", ylabel="t-SNE 2",
        )
        self.writer.image(
            tags.embedding_tsne_tag(name), image[None], step,
            f"{name}: t-SNE of the first {n} points (seed {self.seed}, started from the previous "
            f"step's layout); colour = {legend}.",
        )
        return points
