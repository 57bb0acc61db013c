"""Shared fixtures. Helpers (tiny models, reading runs back, a real TensorBoard) live in ``helpers/``.

TensorFlow is imported only by the tests that need it (``import fmlogger`` stays light).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from helpers.backend import BACKEND, has_tensorflow


def pytest_collection_modifyitems(config, items):
    """Skips ``requires_tf`` tests, with the reason, when Keras does not run on TensorFlow."""
    if has_tensorflow():
        return
    missing = ", TensorFlow not installed" if BACKEND == "tensorflow" else ""
    reason = f"needs TensorFlow as the Keras backend (this run: KERAS_BACKEND={BACKEND}{missing})"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "requires_tf" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
