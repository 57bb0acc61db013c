"""Argument checks shared by every option-taking class: fail fast, name the argument, echo the value.

Example:
    >>> check_int("max_channels", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: max_channels must be an integer >= 1. Received: max_channels=0
    >>> check_choice("colormap", "jet", ("gray", "viridis"))
    Traceback (most recent call last):
    ...
    ValueError: colormap must be one of ('gray', 'viridis'). Received: colormap='jet'
    >>> check_folder_name("run_name", "../up")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: run_name must be one folder name (not empty, '.' or '..'; no '/', backslash or NUL).
    Received: run_name='../up'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def check_choice(name: str, value, allowed: Sequence) -> None:
    """Raises ``ValueError`` naming ``name`` and the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}. Received: {name}={value!r}")


def check_int(name: str, value, minimum: int, allow_none: bool = False) -> None:
    """Raises ``ValueError`` unless ``value`` is an integer (no bool) ``>= minimum``, or None if allowed."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}. Received: {name}={value!r}")


def check_folder_name(name: str, value) -> None:
    """Raises ``ValueError`` unless ``value`` is a single folder name: a non-empty string that is not
    ``.`` or ``..`` and holds no ``/``, ``\\`` or NUL (so it cannot leave the folder it is joined to)."""
    bad = (
        not isinstance(value, str) or value.strip() in ("", ".", "..")
        or any(ch in value for ch in ("/", "\\", "\0"))
    )
    if bad:
        raise ValueError(
            f"{name} must be one folder name (not empty, '.' or '..'; no '/', backslash or NUL). "
            f"Received: {name}={value!r}"
        )


def check_bool(name: str, value) -> None:
    """Raises ``ValueError`` unless ``value`` is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False. Received: {name}={value!r}")


def check_not_iterator(name: str, value) -> None:
    """Raises ``ValueError`` for a generator or other one-shot iterator, which would be used up by
    the first look at it (and then name nothing); lists, tuples and arrays pass."""
    if isinstance(value, Iterator):
        raise ValueError(
            f"{name} must be a list or tuple, not a one-shot iterator (pass list(...)). "
            f"Received: {name}={value!r}"
        )


def check_probe_source(name: str, value) -> None:
    """Raises ``ValueError`` for what can never be a batch: None, text, a one-shot iterator (a
    ``tf.data.Dataset`` is fine)."""
    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(
            f"{name} must be an array/tensor batch, an (x, y) tuple, a list or dict of arrays, or a "
            f"tf.data.Dataset. Received: {name}={value!r}"
        )
    check_not_iterator(name, value)


def check_numeric(name: str, arrays) -> None:
    """Raises ``ValueError`` unless every array in ``arrays`` holds numbers (bool, int, float)."""
    for array in arrays:
        kind = np.asarray(array).dtype.kind
        if kind not in "biuf":
            raise ValueError(
                f"{name} must hold numbers (bool, int or float arrays). "
                f"Received an array of dtype {np.asarray(array).dtype} (shape {np.shape(array)})."
            )


def check_at_most(name: str, value, limit, why: str) -> None:
    """Raises ``ValueError`` saying ``why`` when ``value`` is above ``limit``."""
    if value > limit:
        raise ValueError(f"{name} must be at most {limit}: {why}. Received: {name}={value!r}")
