"""Shared fixtures. Helpers (tiny models, reading runs back, a real TensorBoard) live in ``helpers/``.

TensorFlow is imported only by the tests that need it (``import fmlogger`` stays light).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)
