"""Names on disk, in one place: tag prefixes, the run sub-folder and the format version.

The writer side (``summary.py``, ``logger.py``) and the reader side (``reader.py``, tests, the CLI)
import these instead of spelling strings, so a rename happens here or nowhere.

Example:
    >>> from fmlogger import tags
    >>> tags.image_tag("block1/conv")
    'feature_maps/block1/conv'
"""

from __future__ import annotations

RUN_SUBDIR = "feature_maps"
"""Run folder under ``log_dir``, beside the ``train``/``validation`` runs of Keras' TensorBoard."""

IMAGE_PREFIX = "feature_maps/"
STATS_PREFIX = "feature_map_stats/"
STAT_NAMES = ("mean", "std", "zero_fraction", "nonfinite")
"""Per-layer scalars: mean and std of the finite activations, fraction exactly zero, NaN/Inf count."""

FORMAT_VERSION = 1

TIMELINE_PREFIX = "feature_map_timeline/"
"""One image per layer whose rows are the logged steps, rewritten at every step (see ``timeline.py``)."""

RUN_INFO_TAG = "feature_map_run/info"
"""Text summary with the probe fingerprint and render settings (TensorBoard's Text tab)."""

STATE_FILE = "fmlogger_state.json"
"""JSON in the run folder: render settings, per-layer channel choice and fixed range, probe fingerprint."""

TIMELINES_FILE = "fmlogger_timelines.rows"
"""Beside ``STATE_FILE``: each layer's timeline rows (steps and tiles), restored on resume."""

TIMELINES_FILE_V1 = "fmlogger_timelines.npz"
"""The rows file of fmlogger 0.1 (a rewritten ``.npz``): still read, replaced at the next save."""


def image_tag(layer_path: str) -> str:
    """The image tag of a layer: ``feature_maps/<layer path>``."""
    return IMAGE_PREFIX + layer_path


def stat_tag(layer_path: str, stat: str) -> str:
    """The scalar tag of one statistic of a layer: ``feature_map_stats/<layer path>/<stat>``."""
    return f"{STATS_PREFIX}{layer_path}/{stat}"


def timeline_tag(layer_path: str) -> str:
    """The timeline image tag of a layer: ``feature_map_timeline/<layer path>``."""
    return TIMELINE_PREFIX + layer_path


SALIENCY_PREFIX = "saliency/"
GRADCAM_PREFIX = "gradcam/"
ACTMAX_PREFIX = "activation_max/"
SALIENCY_METHODS = ("vanilla", "smoothgrad", "integrated_gradients")
"""Names accepted by ``saliency=[...]``; each is also the last part of its tag."""


def saliency_tag(method: str) -> str:
    """The overlay tag of a saliency method: ``saliency/<method>``."""
    return SALIENCY_PREFIX + method


def gradcam_tag(layer_path: str) -> str:
    """The Grad-CAM overlay tag of a layer: ``gradcam/<layer path>``."""
    return GRADCAM_PREFIX + layer_path


def actmax_tag(layer_path: str) -> str:
    """The activation-maximization tag of a layer: ``activation_max/<layer path>``."""
    return ACTMAX_PREFIX + layer_path


PROJECTOR_SUBDIR = "projector"
"""Folder inside the run folder for the Projector's bundles, metadata and sprite."""

PCA_RGB_PREFIX = "pca_rgb/"
EMBEDDING_PCA_PREFIX = "embedding_pca/"
EMBEDDING_TSNE_PREFIX = "embedding_tsne/"


def pca_rgb_tag(layer_path: str) -> str:
    """The PCA-RGB image tag of a layer: ``pca_rgb/<layer path>``."""
    return PCA_RGB_PREFIX + layer_path


def embedding_pca_tag(layer_path: str) -> str:
    """The aligned PCA scatter tag of an embedding layer: ``embedding_pca/<layer path>``."""
    return EMBEDDING_PCA_PREFIX + layer_path


def embedding_tsne_tag(layer_path: str) -> str:
    """The t-SNE scatter tag of an embedding layer: ``embedding_tsne/<layer path>``."""
    return EMBEDDING_TSNE_PREFIX + layer_path
