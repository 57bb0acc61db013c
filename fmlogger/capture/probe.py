"""The fixed batch that every logged step is computed on.

Accepted forms: an array or tensor batch; an ``(x, y)`` or ``(x,)`` tuple; a list or dict of
arrays for multi-input models; a ``tf.data.Dataset`` of ``x`` or ``(x, y, ...)`` elements, batched
(leading dimension unknown, as passed to ``fit``) or not. The first ``max_samples`` samples are
taken once, copied to host memory and kept, so every step shows the same inputs.

Example:
    >>> import numpy as np
    >>> probe = as_probe((np.zeros((10, 8, 8, 1)), np.arange(10)), max_samples=4)
    >>> probe.x.shape, probe.y.tolist()
    ((4, 8, 8, 1), [0, 1, 2, 3])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fmlogger._arrays import to_numpy


@dataclasses.dataclass(frozen=True)
class Probe:
    """The fixed probe: ``x`` (array, or list/dict of arrays) and optional labels ``y``."""

    x: object
    y: np.ndarray | None = None
    seed: int | None = None
    """The seed the samples were drawn with (``as_probe(..., seed=)``), None for the first samples."""
    given: int | None = None
    """Samples the source held before the cut to ``max_samples`` (None when unknown: a dataset)."""

    @property
    def size(self) -> int:
        first = leaves(self.x)[0]
        return int(first.shape[0])


def leaves(x) -> list:
    """The arrays of an input structure (an array, or a list/dict of them), dict keys sorted."""
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in leaves(x[k])]
    if isinstance(x, list):
        return [v for item in x for v in leaves(item)]
    return [x]


def map_inputs(fn, x):
    """Applies ``fn`` to every array of an input structure, keeping the list/dict around them.

    Example:
        >>> map_inputs(lambda a: a[:1], {"img": np.zeros((3, 2)), "extra": [np.ones(3)]})["extra"][0]
        array([1.])
    """
    if isinstance(x, dict):
        return {k: map_inputs(fn, v) for k, v in x.items()}
    if isinstance(x, list):
        return [map_inputs(fn, v) for v in x]
    return fn(x)


def head(x, n: int):
    """The first ``n`` samples of every array of an input structure."""
    return map_inputs(lambda a: a[:n], x)


def _concat(parts):
    first = parts[0]
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [_concat([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate(parts, axis=0)


def _is_dataset(probe) -> bool:
    return hasattr(probe, "element_spec") and hasattr(probe, "take")


def _from_dataset(dataset, max_samples: int) -> Probe:
    spec = dataset.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    leading = leaves(x_spec)[0].shape
    batched = len(leading) > 0 and leading[0] is None
    xs, ys, seen = [], [], 0
    for element in dataset:
        x, y = (
            (element[0], element[1] if len(element) > 1 else None)
            if isinstance(element, tuple)
            else (element, None)
        )
        x = map_inputs(to_numpy, x)
        y = None if y is None else map_inputs(to_numpy, y)
        if not batched:
            x = map_inputs(lambda a: a[None], x)
            y = None if y is None else np.asarray(y)[None]
        xs.append(x)
        ys.append(y)
        seen += leaves(x)[0].shape[0]
        if seen >= max_samples:
            break
    if not xs:
        raise ValueError("probe dataset is empty: it must yield at least one sample.")
    x = head(_concat(xs), max_samples)
    y = None if any(v is None for v in ys) else np.concatenate(ys)[:max_samples]
    return Probe(x, y)


def as_probe(probe, max_samples: int, *, seed: int | None = None) -> Probe:
    """Turns any accepted probe form into a ``Probe`` of at most ``max_samples`` samples.

    With ``seed=None`` the first ``max_samples`` samples are taken. With an integer ``seed`` and
    more samples than that (arrays, tuples, lists, dicts), ``max_samples`` of them are drawn
    without replacement by ``numpy.random.default_rng(seed)`` and kept in their original order, so
    every run given the same data and seed gets the same probe. A ``tf.data.Dataset`` always gives
    its first samples (seed its own shuffle to make it reproducible).

    Raises:
        ValueError: for an empty probe, an unsupported type, or inputs whose batch sizes differ.
    """
    if seed is not None:
        _check_seed(seed)
    if isinstance(probe, Probe):
        return Probe(
            head(probe.x, max_samples), None if probe.y is None else probe.y[:max_samples], probe.seed
        )
    if _is_dataset(probe):
        return _from_dataset(probe, max_samples)
    y = None
    if isinstance(probe, tuple):
        if not 1 <= len(probe) <= 3:
            raise ValueError(
                "probe as a tuple must be (x,), (x, y) or (x, y, sample_weight). "
                f"Received a tuple of {len(probe)} items."
            )
        probe, y = probe[0], (probe[1] if len(probe) > 1 else None)
    try:
        x = map_inputs(to_numpy, probe)
    except (TypeError, ValueError) as err:
        raise ValueError(
            "probe must be an array/tensor batch, an (x, y) tuple, a list or dict of arrays, or a "
            f"tf.data.Dataset. Received: {type(probe).__name__} ({err})"
        ) from err
    sizes = {int(leaf.shape[0]) if np.ndim(leaf) else 0 for leaf in leaves(x)}
    if 0 in sizes:
        raise ValueError("probe must hold at least one sample along its first axis. Received an empty batch.")
    if len(sizes) > 1:
        raise ValueError(f"probe inputs must share their batch size. Received sizes: {sorted(sizes)}")
    if seed is not None:
        size = sizes.pop()
        if size > max_samples:
            idx = np.sort(np.random.default_rng(seed).choice(size, max_samples, replace=False))
            y = None if y is None else map_inputs(to_numpy, y)[idx]
            return Probe(map_inputs(lambda a: a[idx], x), y, seed, size)
        sizes.add(size)
    y = None if y is None else map_inputs(to_numpy, y)[:max_samples]
    return Probe(head(x, max_samples), y, given=sizes.pop())


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"probe_seed must be a non-negative integer or None. Received: probe_seed={seed!r}")


def make_probe(name: str, value, max_samples: int, *, seed: int | None = None) -> Probe:
    """``as_probe(value)`` after checking it can be a batch of numbers; errors name ``name``.

    Example:
        >>> make_probe("probe", "digits.npz", 4)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: probe must be an array/tensor batch, ... Received: probe='digits.npz'
        >>> make_probe("probe", np.zeros((8, 2)), 4).given
        8
    """
    from fmlogger._checks import check_numeric, check_probe_source

    check_probe_source(name, value)
    probe = as_probe(value, max_samples, seed=seed)
    check_numeric(name, leaves(probe.x))
    return probe
