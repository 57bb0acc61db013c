import subprocess
import sys

import pytest

from helpers.runs import feature_map_tags, image_steps, read_run


@pytest.mark.slow  # a subprocess
def test_demo_writes_feature_maps_for_each_epoch(tmp_path):
    pytest.importorskip("tensorflow")
    out = subprocess.run(
        [sys.executable, "-m", "fmlogger", "demo", "--logdir", str(tmp_path), "--epochs", "2", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"tensorboard --logdir {tmp_path}" in out.stdout
    run = read_run(tmp_path / "feature_maps")
    assert feature_map_tags(run) == {"feature_maps/conv1", "feature_maps/conv2", "feature_maps/conv3"}
    # conv1 16 ch of 32x32 -> 4x4 grid of 32 px tiles: 4 * 33 + 1 = 133; conv3 64 ch of 8x8 (x4) -> 8 x 33 + 1
    assert run.images["feature_maps/conv1"][0].images.shape == (4, 133, 133, 1)
    assert run.images["feature_maps/conv3"][0].images.shape == (4, 265, 265, 1)
    assert image_steps(run, "feature_maps/conv2") == [0, 1, 2]
    assert [s for s, _ in run.scalars["feature_map_stats/conv3/zero_fraction"]] == [0, 1, 2]
    assert (tmp_path / "train").is_dir() and (tmp_path / "validation").is_dir()


@pytest.mark.slow  # a subprocess
def test_bad_epochs_is_rejected():
    out = subprocess.run(
        [sys.executable, "-m", "fmlogger", "demo", "--epochs", "0"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "must be a positive integer" in out.stderr
