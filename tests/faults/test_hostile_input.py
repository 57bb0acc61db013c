"""Hostile construction input: each bad value fails at construction with a message naming the argument."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fmlogger import FeatureMapLogger


@pytest.mark.parametrize(
    "run_name", ["..", ".", "", " ", "a/b", "../escape", "a\\b", "/abs/path", "nul\0name", 3, None]
)
def test_run_name_must_be_one_folder_name(tmp_path, run_name):
    with pytest.raises(ValueError, match=r"run_name must be one folder name.*Received: run_name=") as info:
        FeatureMapLogger(str(tmp_path / "logs"), run_name=run_name)
    assert repr(run_name) in str(info.value)
    assert not (tmp_path / "logs").exists() and not os.path.exists(tmp_path / "escape")


def test_plain_run_names_are_accepted(tmp_path):
    logger = FeatureMapLogger(str(tmp_path), run_name="exp-1 (lr=0.1)", render=None)
    logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=0)
    logger.close()
    assert os.path.isdir(tmp_path / "exp-1 (lr=0.1)")
