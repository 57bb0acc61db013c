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


def image_tag(layer_path: str) -> str:
    """The image tag of a layer: ``feature_maps/<layer path>``."""
    return IMAGE_PREFIX + layer_path


def stat_tag(layer_path: str, stat: str) -> str:
    """The scalar tag of one statistic of a layer: ``feature_map_stats/<layer path>/<stat>``."""
    return f"{STATS_PREFIX}{layer_path}/{stat}"


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
