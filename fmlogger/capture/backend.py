"""The backend adapter: the few operations that differ between TensorFlow, JAX and PyTorch.

Everything else in ``capture/`` and ``explain/`` is written once with ``keras.ops`` and calls
these; after "arrays on the host as numpy" nothing depends on the backend. One adapter per
Keras backend (``backend_tf``, ``backend_jax``, ``backend_torch``), each with:

* ``compile(fn, model, example_args, *, on_trace, grad)``: ``fn`` as one compiled function of
  ``model`` (``tf.function`` with the first axis free; ``jax.jit`` with the model's variables
  passed in, so new weights never retrace; PyTorch runs ``fn`` eagerly, under ``torch.no_grad``
  unless ``grad``). ``on_trace()`` is called each time ``fn`` is traced (never on PyTorch);
* ``value_and_grad(fn, argnums)``: ``fn(*args) -> (scalar, aux)`` to ``(grads, aux)``;
* ``scan(body, carry, xs)``: a loop over the rows of ``xs`` inside a compiled function;
* ``to_numpy``, ``belongs`` (a tensor of the function being traced, not of a Keras build
  pass), ``scope(model)`` (TensorFlow's distribution scope), ``eager()`` (a context for eager
  passes), ``fixed_shapes`` (compiled functions retrace per shape: callers pad batches).

Example:
    >>> adapter().name                            # doctest: +SKIP
    'jax'
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Callable, Sequence

import numpy as np

SUPPORTED = ("tensorflow", "jax", "torch")
"""The Keras backends fmlogger captures and explains on."""

EXTRAS = {"tensorflow": "cpu", "jax": "jax", "torch": "torch"}
"""The ``pip install 'fmlogger[<extra>]'`` that brings each backend."""

_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
_MODULES = {"tensorflow": "backend_tf", "jax": "backend_jax", "torch": "backend_torch"}
_adapters: dict = {}


def current() -> str:
    """The Keras backend of this process (imports Keras)."""
    import keras

    return keras.backend.backend()


def unsupported_message(name: str, what: str) -> str:
    """Why ``what`` cannot run on backend ``name``, and what to do instead."""
    return (
        f"fmlogger cannot {what} on the Keras backend '{name}': it supports "
        f"{', '.join(SUPPORTED)}. Set KERAS_BACKEND=jax (pip install 'fmlogger[jax]'), "
        "KERAS_BACKEND=torch (pip install 'fmlogger[torch]') or KERAS_BACKEND=tensorflow "
        "(pip install 'fmlogger[cpu]') before Keras is imported."
    )


def select(name: str) -> None:
    """Makes ``name`` the Keras backend of this process (``KERAS_BACKEND``), before Keras is imported.

    Raises:
        ValueError: for a name outside ``SUPPORTED``.
        RuntimeError: when Keras was already imported with another backend, or the backend's
            package is not installed (naming the ``pip install`` that brings it).
    """
    if name not in SUPPORTED:
        raise ValueError(f"backend must be one of {SUPPORTED}. Received: backend={name!r}")
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if active != name:
            raise RuntimeError(
                f"Keras was already imported with the backend '{active}'; the backend '{name}' can only "
                "be chosen before Keras is imported (set KERAS_BACKEND before starting Python)."
            )
        return
    if importlib.util.find_spec(_PACKAGES[name]) is None:
        raise RuntimeError(
            f"the Keras backend '{name}' is not installed in this environment: "
            f"pip install 'fmlogger[{EXTRAS[name]}]'"
        )
    os.environ["KERAS_BACKEND"] = name


def adapter(what: str = "capture layer outputs"):
    """The adapter of the current Keras backend (one instance per process).

    Args:
        what: the feature asking, for the error message.

    Raises:
        RuntimeError: on a backend fmlogger does not support (``numpy``, ``openvino``), naming
            it and what to install or set instead.
    """
    name = current()
    if name not in _adapters:
        if name not in SUPPORTED:
            raise RuntimeError(unsupported_message(name, what))
        module = importlib.import_module(f"fmlogger.capture.{_MODULES[name]}")
        _adapters[name] = module.Adapter()
    return _adapters[name]


def run_in_chunks(ad, fn: Callable, arrays: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """``fn(*chunk)`` over chunks of ``batch_size`` rows of ``arrays``; each output concatenated as numpy.

    On a backend that compiles per shape (``ad.fixed_shapes``: JAX) a short chunk is padded (its
    last row repeated) to the next power of two, at most ``batch_size``, and the padding is cut
    off the outputs: at most ``1 + log2(batch_size)`` shapes, so traces, whatever ``n``.

    Example:
        >>> class Eager: fixed_shapes = False; to_numpy = staticmethod(np.asarray)
        >>> run_in_chunks(Eager(), lambda a: (a * 2,), [np.arange(5)], 2)[0].tolist()
        [0, 2, 4, 6, 8]
    """
    n = len(arrays[0])
    parts = []
    for start in range(0, n, batch_size):
        chunk = [array[start : start + batch_size] for array in arrays]
        size = len(chunk[0])
        pad = min(batch_size, 1 << max(0, size - 1).bit_length()) - size if ad.fixed_shapes else 0
        if pad > 0:
            chunk = [np.concatenate([c, np.repeat(c[-1:], pad, axis=0)]) for c in chunk]
        outputs = fn(*chunk)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        parts.append([ad.to_numpy(o)[:size] for o in outputs])
    return [np.concatenate(column) for column in zip(*parts)]
