"""The embedding view: chosen layers over an embedding set, for the Projector and as scatter plots.

For each layer in ``EmbeddingSettings.layers`` every sample of the embedding set is pooled to one
vector (``fmlogger.render.pooling.pool``), captured in batches through one traced forward pass
(``fmlogger.capture.traced.Capture``, which also returns the model's output for the predicted
class). ``produce`` then gives

* the Projector entry ``"<layer> @ epoch <step>"`` (tensor, metadata columns, sprite once),
  which the TensorBoard sink writes into the run folder, and
* images, so the step slider works: ``embedding_pca/<layer>`` (2-D PCA, Procrustes-aligned to
  the previous step, coloured by label) and, with ``tsne=True``, ``embedding_tsne/<layer>``
  (scikit-learn's t-SNE, seeded and started from the previous step's layout).

Example:
    >>> import numpy as np
    >>> settings = EmbeddingSettings(layers=["conv3"], data=np.zeros((10, 8, 8, 1)), pooling="max")
    >>> settings.layers, settings.pooling, EmbeddingsView(settings).size
    (('conv3',), 'max', 10)
    >>> EmbeddingSettings(layers=["conv3"], data=np.zeros((10, 4)), pooling="mean")
    Traceback (most recent call last):
    ...
    ValueError: pooling must be one of ('avg', 'max', 'flatten'). Received: pooling='mean'
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from typing import Any

import numpy as np

from fmlogger import tags
from fmlogger._checks import check_choice, check_int, check_numeric, check_probe_source
from fmlogger.capture.probe import as_probe, head, leaves, map_inputs
from fmlogger.render.pca import AlignedProjection
from fmlogger.render.pooling import POOLING, pool
from fmlogger.render.scatter import scatter_image
from fmlogger.sinks import projector
from fmlogger.sinks.base import ImageSummary, Output, ProjectorEntry
from fmlogger.sinks.metadata import escape_label
from fmlogger.views.base import Batch, View

log = logging.getLogger("fmlogger")

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
    names, codes = np.unique(
        values.astype(str) if values.dtype.kind in "OSU" else values, return_inverse=True
    )
    if len(names) > MAX_COLOR_CATEGORIES:
        return None, None
    return codes.reshape(-1), [escape_label(n) for n in names]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbeddingSettings:
    """Which layers are embedded, over which samples, and how.

    Args:
        layers: layer names, paths or patterns (as ``FeatureMapLogger``'s ``layers``), at least one.
        data: the embedding set: ``x``, ``(x, y)`` or a ``tf.data.Dataset`` (see
            ``fmlogger.capture.probe.as_probe``); labels colour the scatter and go into the
            Projector's metadata. Not compared (``==``) and not shown in ``repr``.
        pooling: ``"avg"`` (global average), ``"max"`` or ``"flatten"`` (``render.pooling.pool``).
        max_points: samples of ``data`` used (the first ones), 1..100,000 (the Projector's limit).
        batch_size: samples per forward pass.
        tsne: also draw a t-SNE scatter (needs scikit-learn: ``pip install 'fmlogger[tsne]'``).
        tsne_max_points: t-SNE uses the first this many points (>= 10).
        seed: t-SNE's random state.
        keep_last: the Projector keeps the newest this many logged steps (0, the default: every
            step); older steps' tensors, metadata files and bundle shards are removed from disk
            and from the Projector's config.

    Raises:
        ValueError: naming the field, for a bad value or missing ``data``; ImportError for
            ``tsne=True`` without scikit-learn.
    """

    layers: Any = None
    data: Any = dataclasses.field(default=None, repr=False, compare=False)
    pooling: str = "avg"
    max_points: int = projector.MAX_POINTS
    batch_size: int = 256
    tsne: bool = False
    tsne_max_points: int = 2000
    seed: int = 0
    keep_last: int = 0

    def __post_init__(self):
        layers = self.layers
        if layers is None or (not isinstance(layers, (str, type)) and len(layers) == 0):
            raise ValueError(f"layers must name at least one layer. Received: layers={layers!r}")
        object.__setattr__(self, "layers", (layers,) if isinstance(layers, (str, type)) else tuple(layers))
        check_choice("pooling", self.pooling, POOLING)
        check_int("max_points", self.max_points, 1)
        if self.max_points > projector.MAX_POINTS:
            raise ValueError(
                f"max_points must be at most {projector.MAX_POINTS:,} (the Projector's limit). "
                f"Received: max_points={self.max_points!r}"
            )
        check_int("batch_size", self.batch_size, 1)
        check_int("tsne_max_points", self.tsne_max_points, 10)
        check_int("seed", self.seed, 0)
        check_int("keep_last", self.keep_last, 0)
        if not isinstance(self.tsne, bool):
            raise ValueError(f"tsne must be True or False. Received: tsne={self.tsne!r}")
        if self.tsne and not tsne_available():
            raise ImportError(TSNE_INSTALL_HINT)
        if self.data is None:
            raise ValueError("embeddings=[...] needs data=x or (x, y): the samples to embed.")


def _check_label_count(data) -> None:
    """Raises ``ValueError`` when ``data=(x, y)`` holds a different number of labels than samples."""
    if not (isinstance(data, tuple) and len(data) > 1 and data[1] is not None):
        return
    samples = {int(np.shape(leaf)[0]) for leaf in leaves(data[0]) if np.ndim(leaf)}
    labels = np.shape(data[1])[0] if np.ndim(data[1]) else 0
    if samples and labels not in samples:
        raise ValueError(
            "data=(x, y) must hold one label per sample. "
            f"Received {samples.pop()} samples and {labels} labels."
        )


@dataclasses.dataclass
class Embedded:
    """What ``compute`` hands to ``produce``: ``{layer path: float32 [N, D]}`` and the model output."""

    tensors: dict[str, np.ndarray]
    output: np.ndarray | None


class EmbeddingsView(View):
    """Pools chosen layers over an embedding set; produces Projector entries and scatter views.

    Args:
        settings: an ``EmbeddingSettings``.
        data_format: layout of the inputs, for the sprite.

    Raises:
        ValueError: for an embedding set that cannot be read.
    """

    what = "computing embeddings"

    def __init__(self, settings: EmbeddingSettings, *, data_format: str = "channels_last"):
        try:
            check_probe_source("data", settings.data)
            _check_label_count(settings.data)
            self.data = as_probe(settings.data, settings.max_points)
            check_numeric("data", leaves(self.data.x))
        except ValueError as err:
            raise ValueError(f"embedding_data: {err}") from err
        self.settings = settings
        self.data_format = data_format
        self.labels = class_labels(self.data.y)
        self.capture = None
        self._sprite_given = False
        self._pca_views: dict[str, AlignedProjection] = {}
        self._tsne_views: dict[str, AlignedProjection] = {}
        self._tsne_previous: dict[str, np.ndarray] = {}

    @property
    def size(self) -> int:
        return self.data.size

    def prepare(self, model, x=None) -> None:
        """Builds the batched ``Capture`` (embedding layers + the model output) for ``model``."""
        from fmlogger.capture.traced import Capture

        if self.capture is None or self.capture.model is not model:
            example = head(self.data.x, min(self.settings.batch_size, self.size))
            try:
                self.capture = Capture(model, list(self.settings.layers), example, include_output=True)
            except ValueError as err:  # name the option the user set
                raise ValueError(str(err).replace("layers=", "embeddings=", 1)) from err

    def compute(self, model, batch: Batch | None = None) -> Embedded:
        """Runs the embedding set through ``model`` in batches (``batch`` is not used)."""
        from fmlogger.capture.traced import Capture

        self.prepare(model)
        pooled: dict[str, list] = {}
        outputs = []
        step = self.settings.batch_size
        for start in range(0, self.size, step):
            arrays = self.capture(map_inputs(lambda a, start=start: a[start : start + step], self.data.x))
            for name, array in arrays.items():
                if name == Capture.OUTPUT:
                    outputs.append(array)
                else:
                    fmt = self.capture.data_formats.get(name, "channels_last")
                    pooled.setdefault(name, []).append(pool(array, self.settings.pooling, fmt))
        tensors = {name: np.concatenate(parts) for name, parts in pooled.items()}
        return Embedded(tensors, np.concatenate(outputs) if outputs else None)

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

    def produce(self, batch: Batch) -> Output:
        """The Projector entry (with the sprite the first time) and the scatter images of ``batch.step``."""
        embedded = batch.computed.get(self)
        if embedded is None:
            return Output()
        columns = self.metadata(embedded.output)
        inputs = leaves(self.data.x)
        sprite = inputs[0] if len(inputs) == 1 and not self._sprite_given else None
        self._sprite_given = True
        keep_last = self.settings.keep_last
        entry = ProjectorEntry(embedded.tensors, columns or None, sprite, self.data_format, keep_last)
        out = Output(projector=entry)
        color_by = columns.get("label", columns.get("predicted"))
        codes, names = _categories(color_by)
        legend = "label" if "label" in columns else "predicted class"
        for name, embedding in embedded.tensors.items():
            try:
                out.images.append(self._pca_image(name, embedding, batch.step, codes, names, legend))
                if self.settings.tsne:
                    out.images.append(self._tsne_image(name, embedding, batch.step, codes, names, legend))
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                out.failures.append((f"drawing the embedding views of '{name}'", err))
        return out

    def _pca_image(self, name, embedding, step, codes, names, legend) -> ImageSummary:
        view = self._pca_views.setdefault(name, AlignedProjection())
        points = view.project(embedding)
        ratio = view.last_fit.explained_variance_ratio
        image = scatter_image(
            points,
            codes,
            names,
            title=f"{name} @ epoch {step}: PCA, {ratio[0]:.0%} + {ratio[1]:.0%} of variance",
            xlabel="PC1 (aligned to previous epoch)",
            ylabel="PC2",
        )
        return ImageSummary(
            tags.embedding_pca_tag(name),
            image[None],
            f"{name}: {len(points)} points, {embedding.shape[1]}-D ({self.settings.pooling} pooling), first "
            f"two principal components, rotated/reflected onto the previous step; colour = {legend}.",
        )

    def _tsne_image(self, name, embedding, step, codes, names, legend) -> ImageSummary:
        from sklearn.manifold import TSNE

        x = np.asarray(embedding[: self.settings.tsne_max_points], np.float64)
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
            n_components=2,
            perplexity=float(min(30.0, (n - 1) / 3)),
            init=init,
            early_exaggeration=exaggeration,
            learning_rate="auto",
            random_state=self.settings.seed,
        ).fit_transform(x)
        self._tsne_previous[name] = layout
        points = self._tsne_views.setdefault(name, AlignedProjection()).align(layout)
        image = scatter_image(
            points,
            None if codes is None else codes[:n],
            names,
            title=f"{name} @ epoch {step}: t-SNE",
            xlabel="t-SNE 1",
            ylabel="t-SNE 2",
        )
        return ImageSummary(
            tags.embedding_tsne_tag(name),
            image[None],
            f"{name}: t-SNE of the first {n} points (seed {self.settings.seed}, started from the "
            f"previous step's layout); colour = {legend}.",
        )
