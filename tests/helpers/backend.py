"""The Keras backend the tests run on (``KERAS_BACKEND``, TensorFlow by default) and what it implies."""

from __future__ import annotations

import importlib.util
import os

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
"""The Keras backend of this test session."""

TRACES = 0 if BACKEND == "torch" else 1
"""Traces of one compiled function: 1 (``tf.function``, ``jax.jit``), 0 on eager PyTorch."""


def has_tensorflow() -> bool:
    """True when TensorFlow can be imported and Keras runs on it (what ``requires_tf`` tests need)."""
    return BACKEND == "tensorflow" and importlib.util.find_spec("tensorflow") is not None
