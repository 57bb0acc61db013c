"""Saliency methods as rows of gradient inputs, so that several methods share one gradient pass.

A ``Plan`` says, for each of the ``n`` samples of a probe, at which ``repeats`` inputs the
gradient is taken (``make(sample, k)``) and how much each counts (``weights[k]``); ``finish``
turns the weighted sum of gradients into the attribution. Vanilla gradients are one row per
sample, SmoothGrad ``samples`` noisy rows, Integrated Gradients ``steps + 1`` rows along the path.

``run_plans`` puts the rows of every plan into one index space and runs the compiled gradient
function over chunks of ``batch_size`` rows of it: vanilla + SmoothGrad + Integrated Gradients of
a probe cost ``ceil(rows / batch_size)`` calls, not one or more per method, and at most
``batch_size`` inputs exist at once. A chunk's rows are made when it runs, in order, so seeded
noise is the same however the rows are chunked.

Example:
    >>> x = np.ones((2, 3, 3, 1), np.float32)
    >>> plans = [vanilla_plan(x), integrated_gradients_plan(x, baseline=0.0, steps=4)]
    >>> [p.repeats for p in plans], float(plans[1].make(np.array([0]), np.array([2]))[0, 0, 0, 0])
    ([1, 5], 0.5)
    >>> grads = lambda rows, classes: rows * 2.0            # the gradient of sum(x ** 2)
    >>> [float(a[0, 0, 0, 0]) for a in run_plans(grads, x, np.zeros(2, np.int32), plans, 4)]
    [2.0, 1.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from fmlogger._checks import check_int


def _identity(mean_grad: np.ndarray) -> np.ndarray:
    return mean_grad


@dataclasses.dataclass(frozen=True)
class Plan:
    """One attribution method as rows of gradient inputs.

    Attributes:
        repeats: rows per sample.
        make: ``make(sample, k)``: the float32 inputs of the rows ``(sample[i], k[i])``.
        weights: float64 ``[repeats]``, the weight of each row's gradient in the sum.
        finish: the weighted sum of gradients (float32, shaped like ``x``) -> the attribution.
    """

    repeats: int
    make: Callable[[np.ndarray, np.ndarray], np.ndarray]
    weights: np.ndarray
    finish: Callable[[np.ndarray], np.ndarray] = _identity


def _per_sample(values: np.ndarray, ndim: int) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (ndim - 1))


def vanilla_plan(x: np.ndarray) -> Plan:
    """The gradient at each sample itself."""
    return Plan(1, lambda sample, _k: x[sample], np.ones(1))


def smoothgrad_plan(x: np.ndarray, *, samples: int, noise: float, seed: int) -> Plan:
    """``samples`` copies of each sample with Gaussian noise of std ``noise * (max - min)`` of
    that sample, averaged; the noise is drawn from ``seed`` in row order.

    Raises:
        ValueError: for ``samples < 1`` or ``noise < 0``.
    """
    check_int("samples", samples, 1)
    if not 0 <= float(noise):
        raise ValueError(f"noise must be a fraction >= 0 of the input range. Received: noise={noise!r}")
    axes = tuple(range(1, x.ndim))
    sigma = noise * (x.max(axis=axes) - x.min(axis=axes))
    rng = np.random.default_rng(seed)

    def make(sample, _k):
        eps = rng.standard_normal((len(sample),) + x.shape[1:], dtype=np.float32)
        return x[sample] + eps * _per_sample(sigma[sample], x.ndim)

    return Plan(samples, make, np.full(samples, 1.0 / samples))


def integrated_gradients_plan(x: np.ndarray, *, baseline, steps: int) -> Plan:
    """``steps + 1`` points ``b + a (x - b)`` per sample, trapezoid weights; the attribution is
    ``(x - b)`` times their weighted gradients.

    Raises:
        ValueError: for ``steps < 1`` or a baseline that does not broadcast to ``x``.
    """
    check_int("steps", steps, 1)
    try:
        base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape)
    except ValueError as err:
        raise ValueError(
            f"baseline must be a number or broadcast to x's shape {x.shape}."
            f" Received shape {np.shape(baseline)}"
        ) from err
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] *= 0.5
    diff = x - base

    def make(sample, k):
        return base[sample] + _per_sample(alphas[k], x.ndim) * diff[sample]

    return Plan(steps + 1, make, weights, lambda mean_grad: (diff * mean_grad).astype(np.float32))


def run_plans(
    grads: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    classes: np.ndarray,
    plans: Sequence[Plan],
    batch_size: int,
) -> list[np.ndarray]:
    """Every plan's weighted gradient sum (float32, shaped like ``x``; not yet ``finish``ed).

    Args:
        grads: ``grads(rows, classes)`` -> the gradients of the rows as numpy (at most
            ``batch_size`` rows per call).
        x: the samples ``[n, ...]`` the plans were made for.
        classes: int32 ``[n]``, the target class of each sample.
        plans: the methods, their rows run in this order.
        batch_size: rows per call.
    """
    n = len(x)
    totals = [np.zeros_like(x, dtype=np.float64) for _ in plans]
    sizes = [n * plan.repeats for plan in plans]
    ends = np.cumsum(sizes, dtype=np.int64)
    starts, rows_total = ends - sizes, int(sum(sizes))
    for a in range(0, rows_total, batch_size):
        b = min(a + batch_size, rows_total)
        parts = []  # (plan index, sample, k) of each plan's rows in this chunk
        for i, plan in enumerate(plans):
            lo, hi = max(a, starts[i]), min(b, ends[i])
            if lo < hi:
                index = np.arange(lo, hi) - starts[i]
                parts.append((i, index // plan.repeats, index % plan.repeats))
        rows = [plans[i].make(sample, k).astype(np.float32, copy=False) for i, sample, k in parts]
        chunk = grads(np.concatenate(rows), np.concatenate([classes[sample] for _, sample, _ in parts]))
        offset = 0
        for i, sample, k in parts:
            part = chunk[offset : offset + len(sample)].astype(np.float64)
            offset += len(sample)
            weighted = part * _per_sample(plans[i].weights[k], x.ndim)
            first = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])
            totals[i][sample[first]] += np.add.reduceat(weighted, first, axis=0)
    return [total.astype(np.float32) for total in totals]
