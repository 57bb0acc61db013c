import numpy as np
import pytest

pytest.importorskip("tensorflow")

from fmlogger import FeatureMapLogger, tags  # noqa: E402
from helpers.models import tiny_cnn, tiny_data  # noqa: E402
from helpers.runs import image_steps, read_run  # noqa: E402


def test_log_arrays_writes_images_and_stats_read_back_by_tensorboard(tmp_path):
    x = np.zeros((5, 3, 3, 2), np.float32)
    x[:, :, :, 0] = np.arange(9).reshape(3, 3)
    x[0, 0, 0, 1] = np.nan
    with FeatureMapLogger(tmp_path, min_tile_size=3, padding=1, max_samples=5) as logger:
        logger.log_arrays({"block/conv": x}, step=7)
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    (event,) = run.images["feature_maps/block/conv"]
    assert event.step == 7
    assert event.images.shape == (5, 5, 9, 3)  # 5 samples kept (not 3); RGB because of the NaN marker
    assert event.images[1, 1:4, 1:4, 0].ravel().tolist() == [0, 32, 64, 96, 128, 159, 191, 223, 255]
    assert tuple(event.images[0, 1, 5]) == (255, 0, 255)
    scalars = {tag: values for tag, values in run.scalars.items()}
    assert scalars["feature_map_stats/block/conv/nonfinite"] == [(7, 1.0)]
    assert scalars["feature_map_stats/block/conv/mean"][0][1] == pytest.approx(np.nanmean(x), rel=1e-5)
    assert set(scalars) == {tags.stat_tag("block/conv", s) for s in tags.STAT_NAMES}
    assert "2 of 2 channels" in run.descriptions["feature_maps/block/conv"]


def test_log_model_at_several_steps(tmp_path):
    model = tiny_cnn()
    x, _ = tiny_data(6)
    logger = FeatureMapLogger(tmp_path, ["conv*"], colormap="viridis", max_samples=2)
    for step in (0, 5, 10):
        frames = logger.log(model, x, step)
    logger.close()
    assert logger.trace_count == 1
    assert set(frames) == {"conv1", "conv2"}
    run = read_run(tmp_path / "feature_maps")
    assert image_steps(run, "feature_maps/conv1") == [0, 5, 10]
    images = run.images["feature_maps/conv2"][-1].images
    assert images.shape[0] == 2 and images.shape[-1] == 3
    np.testing.assert_array_equal(images, frames["conv2"].images)


def test_bad_layer_fails_before_anything_is_written(tmp_path):
    logger = FeatureMapLogger(tmp_path, ["conv7"])
    with pytest.raises(ValueError, match="Did you mean 'conv.' or 'conv.'"):
        logger.log(tiny_cnn(), tiny_data(2)[0], 0)
    assert not (tmp_path / "feature_maps").exists()


def test_unwritable_log_dir_fails_at_construction(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        FeatureMapLogger(blocker / "runs")


def test_a_layer_that_cannot_be_drawn_is_reported_and_the_others_written(tmp_path, caplog):
    with FeatureMapLogger(tmp_path) as logger:
        frames = logger.log_arrays({"vol": np.zeros((1, 2, 2, 2, 2)), "ok": np.ones((1, 4, 4, 1))}, 0)
    assert list(frames) == ["ok"]
    assert "logging layer 'vol' failed" in caplog.text and "5-D output" in caplog.text
    with pytest.raises(ValueError, match="5-D"):
        FeatureMapLogger(tmp_path, on_error="raise").log_arrays({"vol": np.zeros((1, 2, 2, 2, 2))}, 0)
