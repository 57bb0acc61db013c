"""PCA in numpy (SVD), PCA-RGB images of feature maps, and 2-D embeddings aligned across steps.

Everything here is numpy only. Principal directions have no intrinsic sign (and 2-D layouts no
intrinsic rotation), so views computed step after step would flip and spin; this module fixes a
sign convention for the first step and aligns every later step to the one before it: per
component by sign (PCA RGB keeps its colours) or by an orthogonal Procrustes rotation/reflection
(scatter plots keep their layout).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 8)) * [5, 2, 1, .1, .1, .1, .1, .1]
    >>> fit = pca(x, 2)
    >>> fit.components.shape, bool(fit.explained_variance_ratio.sum() > 0.9)
    ((2, 8), True)
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from fmlogger.render.normalize import to_uint8
from fmlogger.render.resize import upscale, upscale_factor

_CONTROLLER = []  # the threadpoolctl controller, made on first use ([None] when not installed)


def single_threaded_blas():
    """A context in which numpy's BLAS/LAPACK use one thread (needs ``threadpoolctl``, else a no-op).

    The matrices here are small (``d x d`` for d channels). Right after a TensorFlow call, a
    multi-threaded OpenBLAS competes with TensorFlow's spinning worker threads: ``eigh`` of a
    64 x 64 matrix measured 27-104 ms that way on 2 cores, 3 ms (with the TF call) on one thread.
    """
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # noqa: BLE001 - optional: not installed, or no BLAS found
            _CONTROLLER.append(None)
    controller = _CONTROLLER[0]
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


@dataclasses.dataclass(frozen=True)
class PCAFit:
    """The first ``k`` principal directions of a data set.

    Attributes:
        mean: float64 ``[d]``, the data mean.
        components: float64 ``[k, d]``, orthonormal rows, by decreasing variance.
        explained_variance: float64 ``[k]``, variance along each component.
        explained_variance_ratio: float64 ``[k]``, that variance over the total variance (0 when
            the data has no variance).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Projects ``x`` ``[m, d]`` on the components: ``[m, k]`` float64."""
        return (np.asarray(x, np.float64) - self.mean) @ self.components.T


def pca(x: np.ndarray, k: int) -> PCAFit:
    """Principal component analysis of the rows of ``x`` by SVD.

    For tall data (more than twice as many rows as columns) the ``d x d`` scatter matrix
    ``Xc^T Xc`` is diagonalised (its eigenvectors are the right singular vectors of the centred
    data, ``O(m d^2)``); otherwise the centred data's SVD is taken directly. Non-finite
    values are replaced by 0 first. When ``d < k`` or the rank is lower than ``k``, the missing
    components are zero rows with zero variance.

    Args:
        x: ``[m, d]`` samples in rows (any float or int dtype).
        k: how many components, >= 1.

    Returns:
        A ``PCAFit``; component signs follow ``sign_convention``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"pca needs a 2-D array [samples, features]. Received shape {x.shape}")
    with single_threaded_blas():
        return _pca(x, k)


def _pca(x: np.ndarray, k: int) -> PCAFit:
    x = np.where(np.isfinite(x), x, 0.0)
    m, d = x.shape
    mean = x.mean(axis=0) if m else np.zeros(d)
    xc = x - mean
    if m > 2 * d:
        # Symmetric eigendecomposition of the scatter matrix = SVD of the data (V, s^2). ``eigh``
        # rather than ``svd(hermitian=True)``: measured 0.24 ms vs 96 ms for d = 64 with a
        # multi-threaded OpenBLAS on 2 busy cores.
        s2, v = np.linalg.eigh(xc.T @ xc)
        order = np.argsort(s2)[::-1]
        variance = np.clip(s2[order], 0.0, None) / max(m - 1, 1)
        vt = v[:, order].T
    else:
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        variance = s**2 / max(m - 1, 1)
    total = float(xc.var(axis=0, ddof=1).sum()) if m > 1 else 0.0
    components = np.zeros((k, d))
    explained = np.zeros(k)
    r = min(k, vt.shape[0])
    components[:r] = vt[:r]
    explained[:r] = variance[:r]
    ratio = explained / total if total > 0 else np.zeros(k)
    return PCAFit(mean, sign_convention(components), explained, ratio)


def sign_convention(components: np.ndarray) -> np.ndarray:
    """Flips each row so that its largest-magnitude entry is positive (a deterministic sign)."""
    components = np.asarray(components, np.float64)
    if components.size == 0:
        return components
    pivot = components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)]
    return components * np.where(pivot < 0, -1.0, 1.0)[:, None]


def align_signs(components: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Flips each row of ``components`` that points away (negative dot) from the same row of ``previous``."""
    if previous is None or np.shape(previous) != np.shape(components):
        return components
    dots = np.einsum("kd,kd->k", components, previous)
    return components * np.where(dots < 0, -1.0, 1.0)[:, None]


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal matrix ``R`` (rotation or reflection) minimising ``||source @ R - target||``.

    Both are ``[m, k]`` point sets with the same rows; they are centred first. Solved by the SVD
    of ``source^T target`` (Schoenemann 1966): ``R = U V^T``.
    """
    a = np.asarray(source, np.float64)
    b = np.asarray(target, np.float64)
    u, _, vt = np.linalg.svd((a - a.mean(0)).T @ (b - b.mean(0)))
    return u @ vt


class AlignedProjection:
    """2-D projections of the same points at successive steps, each aligned to the one before.

    ``project`` does PCA; ``align`` takes any layout (e.g. t-SNE) of the same points. The first
    layout gets PCA's sign convention; every later one is rotated/reflected (orthogonal
    Procrustes) onto the previous, so an unchanged embedding gives identical coordinates.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(1).normal(size=(50, 6))
        >>> view = AlignedProjection()
        >>> a = view.project(x); b = view.project(-x)      # a sign flip of every feature
        >>> bool(np.allclose(a, b))
        True
    """

    def __init__(self):
        self.previous: np.ndarray | None = None
        self.last_fit: PCAFit | None = None

    def project(self, x: np.ndarray) -> np.ndarray:
        """PCA of ``x`` ``[m, d]`` to ``[m, 2]``, centred and aligned to the previous step."""
        fit = pca(x, 2)
        self.last_fit = fit
        with single_threaded_blas():
            points = fit.transform(x)
        return self.align(points)

    def align(self, layout: np.ndarray) -> np.ndarray:
        """Centres ``layout`` ``[m, 2]`` and aligns it to the previous layout (same points, same order)."""
        layout = np.asarray(layout, np.float64)
        layout = layout - layout.mean(axis=0)
        if self.previous is not None and self.previous.shape == layout.shape:
            rotation = procrustes(layout, self.previous)
            snapped = np.round(rotation)
            if np.abs(rotation - snapped).max() < 1e-6:  # a pure flip/swap: apply it exactly
                rotation = snapped
            layout = layout @ rotation
        self.previous = layout
        return layout


def pca_rgb(
    maps: np.ndarray, *, previous: np.ndarray | None = None, percentile: float = 1.0
) -> tuple[np.ndarray, PCAFit]:
    """Summarises all channels of feature maps as colour: each position's channel vector on the first 3 PCs.

    The PCA is fitted over every spatial position of every sample (the rows of
    ``maps.reshape(-1, c)``); component ``i`` becomes colour channel ``i`` (R, G, B), each
    scaled from its ``percentile``..``100 - percentile`` range over the batch to 0..255. Layers
    with fewer than 3 channels leave the missing colours at 0.

    Args:
        maps: ``[n, h, w, c]`` channels-last activations.
        previous: the components of the previous step (``fit.components``), to keep colours
            from flipping between steps; None for the sign convention alone.
        percentile: clipped at both ends before scaling, in [0, 50).

    Returns:
        ``(rgb, fit)``: uint8 ``[n, h, w, 3]`` and the ``PCAFit`` (its ``components`` are the ones
        used, sign-aligned).

    Example:
        >>> import numpy as np
        >>> rgb, fit = pca_rgb(np.random.default_rng(0).random((2, 4, 4, 8)))
        >>> rgb.shape, rgb.dtype.name
        ((2, 4, 4, 3), 'uint8')
    """
    maps = np.asarray(maps)
    if maps.ndim != 4:
        raise ValueError(f"pca_rgb needs [n, h, w, c] maps. Received shape {maps.shape}")
    n, h, w, c = maps.shape
    rows = maps.reshape(-1, c)
    fit = pca(rows, 3)
    components = align_signs(fit.components, previous)
    fit = dataclasses.replace(fit, components=components)
    with single_threaded_blas():
        scores = fit.transform(rows)  # [n*h*w, 3]
    lo = np.percentile(scores, percentile, axis=0)
    hi = np.percentile(scores, 100 - percentile, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    unit = np.clip((scores - lo) / span, 0.0, 1.0)
    unit[:, hi <= lo] = 0.0
    return to_uint8(unit).reshape(n, h, w, 3), fit


class PCARGBRenderer:
    """PCA-RGB images of layers step after step, keeping each layer's colours from flipping.

    Args:
        min_size: maps are upscaled (nearest neighbour, integer factor) until their longer side
            reaches this many pixels.

    Example:
        >>> import numpy as np
        >>> images, fit = PCARGBRenderer(min_size=8).render("conv1", np.random.rand(2, 4, 4, 5))
        >>> images.shape
        (2, 8, 8, 3)
    """

    def __init__(self, *, min_size: int = 32):
        self.min_size = int(min_size)
        self._components: dict[str, np.ndarray] = {}

    def render(
        self, name: str, maps: np.ndarray, data_format: str = "channels_last"
    ) -> tuple[np.ndarray, PCAFit]:
        """``[n, h, w, c]`` (or ``[n, c, h, w]``) -> uint8 ``[n, H, W, 3]`` and the fit."""
        maps = np.asarray(maps, np.float32)
        if maps.ndim != 4:
            raise ValueError(f"PCA RGB needs 4-D feature maps. Received shape {maps.shape} for '{name}'")
        if data_format == "channels_first":
            maps = maps.transpose(0, 2, 3, 1)
        rgb, fit = pca_rgb(maps, previous=self._components.get(name))
        self._components[name] = fit.components
        return upscale(rgb, upscale_factor(maps.shape[1], maps.shape[2], self.min_size)), fit
