"""Scaling activations to display values in [0, 1] (pure numpy, vectorized).

Maps arrive as float arrays of shape ``[n, k, h, w]`` (sample, channel, row, column). Every mode
returns float32 of the same shape with values in [0, 1] and NaN exactly where the input was NaN or
±Inf, so the colorizer can paint those pixels in a marker colour.

Modes:
    per_map:   each (sample, channel) map min-max scaled on its own.
    per_layer: one min-max range per sample over all of its channels.
    symmetric: ``x / max|x|`` per sample -> [-1, 1], shown as ``(v + 1) / 2`` so 0 is mid-scale
               (pair it with the diverging ``coolwarm`` colormap).
    fixed:     a range computed once (by the caller, at the first logged step) and reused, so
               brightness is comparable across epochs; values outside it saturate.

``clip_percentile=p`` replaces min and max by the p-th and (100-p)-th percentiles (and ``max|x|``
by the (100-p)-th percentile of ``|x|``) before scaling. Constant maps (``max == min``) render at
0, the bottom of the scale (``symmetric``: 0 stays mid-scale); no division by zero happens.

Example:
    >>> import numpy as np
    >>> normalize(np.array([[[[0.0, 2.0, 4.0]]]]), "per_map").tolist()
    [[[[0.0, 0.5, 1.0]]]]
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

NORMALIZE_MODES = ("per_map", "per_layer", "symmetric", "fixed")

_AXES = {"per_map": (2, 3), "per_layer": (1, 2, 3), "symmetric": (1, 2, 3)}


@contextlib.contextmanager
def _quiet_nan_warnings():
    """Silences numpy's 'All-NaN slice' RuntimeWarnings: such slices are handled explicitly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _finite_view(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Returns ``x`` as float32 with ±Inf turned into NaN, and whether everything was finite."""
    x = np.asarray(x, dtype=np.float32)
    finite = np.isfinite(x)
    if finite.all():
        return x, True
    return np.where(finite, x, np.float32(np.nan)), False


def _reduce(x: np.ndarray, axes: tuple[int, ...], q: float | None, all_finite: bool) -> np.ndarray:
    """Min/max (q=None) or the q-th percentile over ``axes``, ignoring NaN, keeping dims."""
    if q is None:
        return x
    flat = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = flat.reshape(flat.shape[: x.ndim - len(axes)] + (-1,))
    pick = np.percentile if all_finite else np.nanpercentile
    with np.errstate(all="ignore"):
        value = pick(flat, q, axis=-1)
    return np.expand_dims(np.asarray(value, dtype=np.float32), axes)


def value_range(
    x: np.ndarray,
    axes: tuple[int, ...],
    clip_percentile: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of the finite values of ``x`` over ``axes`` (dims kept).

    With ``clip_percentile=p`` they are the p-th and (100-p)-th percentiles. Slices with no finite
    value get the range (0, 0).
    """
    x, all_finite = _finite_view(x)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        if clip_percentile:
            lo = _reduce(x, axes, clip_percentile, all_finite)
            hi = _reduce(x, axes, 100.0 - clip_percentile, all_finite)
        elif all_finite:
            lo = x.min(axis=axes, keepdims=True)
            hi = x.max(axis=axes, keepdims=True)
        else:
            lo = np.nanmin(x, axis=axes, keepdims=True)
            hi = np.nanmax(x, axis=axes, keepdims=True)
    return np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=0.0)


def normalize(
    x: np.ndarray,
    mode: str,
    *,
    clip_percentile: float | None = None,
    fixed_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Scales maps ``[n, k, h, w]`` to [0, 1]; NaN marks non-finite inputs. See the module doc.

    Args:
        x: activations, any float or int dtype, shape ``[n, k, h, w]``. Not modified.
        mode: one of ``NORMALIZE_MODES``.
        clip_percentile: percentile in [0, 50) clipped at each end, or None.
        fixed_range: ``(low, high)``; required for and only used by ``mode="fixed"``.

    Returns:
        float32 array of the same shape, values in [0, 1] or NaN.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}. Received: normalize={mode!r}")
    x, _ = _finite_view(x)
    if mode == "fixed":
        if fixed_range is None:
            raise ValueError("normalize='fixed' needs fixed_range=(low, high).")
        lo, hi = (np.float32(v) for v in fixed_range)
    elif mode == "symmetric":
        magnitude, _ = _finite_view(np.abs(x))
        _, top = value_range(magnitude, _AXES[mode], clip_percentile)
        with np.errstate(all="ignore"):
            scaled = np.where(top > 0, x / np.where(top > 0, top, 1), 0).astype(np.float32)
        scaled = np.where(np.isnan(x), np.float32(np.nan), scaled)
        return np.clip((scaled + 1) * 0.5, 0, 1, out=scaled)
    else:
        lo, hi = value_range(x, _AXES[mode], clip_percentile)
    span = hi - lo
    with np.errstate(all="ignore"):
        out = ((x - lo) / np.where(span > 0, span, 1)).astype(np.float32)
    out = np.where(span > 0, out, np.float32(0)) if np.any(span <= 0) else out
    out = np.where(np.isnan(x), np.float32(np.nan), out)
    return np.clip(out, 0, 1, out=out)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255: ``round(v * 255)`` with halves up; NaN -> 0, values outside clipped.

    Example:
        >>> to_uint8(np.array([0.0, 0.5, 1.0, np.nan])).tolist()
        [0, 128, 255, 0]
    """
    unit = np.asarray(unit)
    unit = np.nan_to_num(unit if unit.dtype.kind == "f" else unit.astype(np.float64), nan=0.0)
    return np.floor(np.clip(unit, 0, 1) * 255 + 0.5).astype(np.uint8)
