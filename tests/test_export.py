"""``fmlogger export``: every logged PNG, and one GIF per layer and sample with the steps in order."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from helpers.runs import read_run

from fmlogger import tags
from fmlogger.runs.events import images_by_step
from fmlogger.cli.main import main
from fmlogger.runs.export import read_frame_step

STEPS = [0, 2, 4, 6, 8, 10, 12]


@pytest.fixture
def run(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(0)
    with FeatureMapLogger(tmp_path / "logs", max_samples=2, max_channels=4) as logger:
        for step in STEPS:
            logger.log_arrays({"block/conv": rng.random((2, 6, 6, 4), dtype=np.float32)}, step)
    return tmp_path / "logs", logger.run_dir


def test_exports_every_png_unchanged_and_ordered_gifs(run, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image, ImageSequence

    log_dir, run_dir = run
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(log_dir), "--out", str(out)]) == 0
    assert f"wrote {2 * len(STEPS) + len(STEPS)} PNG(s) and 2 GIF(s)" in capsys.readouterr().out

    tag = tags.image_tag("block/conv")
    logged = images_by_step(run_dir, tag)
    folder = out / "feature_maps" / "block" / "conv"
    for step in STEPS:
        for i in range(2):
            assert (folder / f"step_{step:06d}_sample_{i}.png").read_bytes() == logged[step][i]
    assert (out / "feature_map_timeline" / "block" / "conv" / "step_000012_sample_0.png").exists()
    assert not (out / "feature_map_timeline" / "block" / "conv" / "sample_0.gif").exists()

    decoded = read_run(run_dir).images[tag]
    for i in range(2):
        with Image.open(folder / f"sample_{i}.gif") as gif:
            frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
        assert len(frames) == len(STEPS)
        h = decoded[0].images.shape[1]
        assert [read_frame_step(f, h) for f in frames] == STEPS
        for frame, event in zip(frames, decoded):
            np.testing.assert_array_equal(frame[:h, : event.images.shape[2]], event.images[i, :, :, 0])


def test_without_pillow_pngs_are_written_and_the_message_says_what_to_install(
    run, tmp_path, capsys, monkeypatch
):
    log_dir, _ = run
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail as if not installed
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(log_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'fmlogger[export]'" in err and "--no-gif" in err
    assert len(os.listdir(out / "feature_maps" / "block" / "conv")) == 2 * len(STEPS)
    assert main(["export", "--logdir", str(log_dir), "--out", str(tmp_path / "png_only"), "--no-gif"]) == 0


def test_odd_tag_characters_become_safe_folders():
    from fmlogger.runs.export import tag_folder

    assert tag_folder("feature_maps/backbone/conv 1:a") == os.path.join(
        "feature_maps", "backbone", "conv_1_a"
    )
    assert tag_folder("feature_maps/../x") == os.path.join("feature_maps", "_", "x")
