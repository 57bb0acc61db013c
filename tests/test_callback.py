import logging

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from fmlogger import FeatureMapCallback, tags  # noqa: E402
from helpers.models import tiny_cnn, tiny_data  # noqa: E402
from helpers.runs import feature_map_tags, image_steps, read_run  # noqa: E402


def fit(model, callback, epochs, **kwargs):
    x, y = tiny_data(16)
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[callback], **kwargs)


def test_fit_logs_step_0_untrained_then_after_each_epoch(tmp_path):
    x, y = tiny_data(8, seed=1)
    model = tiny_cnn()
    cb = FeatureMapCallback(tmp_path, (x, y), ["conv1", "conv2"], max_samples=5)
    fit(model, cb, epochs=3)
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert feature_map_tags(run) == {"feature_maps/conv1", "feature_maps/conv2"}
    for tag in feature_map_tags(run):
        assert image_steps(run, tag) == [0, 1, 2, 3]
        assert all(event.images.shape[0] == 5 for event in run.images[tag])
    for stat in tags.STAT_NAMES:
        assert [s for s, _ in run.scalars[tags.stat_tag("conv1", stat)]] == [0, 1, 2, 3]
    assert cb.logger.trace_count == 1


def test_grid_size_matches_layer_shape(tmp_path):
    x, y = tiny_data(4)
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], min_tile_size=28, padding=2)
    fit(tiny_cnn(), cb, epochs=1)
    images = read_run(tmp_path / "feature_maps").images["feature_maps/conv1"][0].images
    # conv1: 14x14 maps upscaled x2 = 28 px; 4 channels -> 2x2 grid; 2 * (28 + 2) + 2 = 62
    assert images.shape == (4, 62, 62, 1)


def test_step_0_shows_the_untrained_model(tmp_path):
    model = tiny_cnn()
    x, _ = tiny_data(2)
    before = np.asarray(model.get_layer("conv1")(x))
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], max_samples=1, min_tile_size=1, padding=0, cols=4)
    fit(model, cb, epochs=1)
    first = read_run(tmp_path / "feature_maps").images["feature_maps/conv1"][0]
    ch0 = before[0, :, :, 0]
    expected = np.floor((ch0 - ch0.min()) / (ch0.max() - ch0.min()) * 255 + 0.5)
    np.testing.assert_array_equal(first.images[0, :, :14, 0], expected.astype(np.uint8))


def test_every_n_epochs_keeps_the_last_epoch(tmp_path):
    cb = FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"], every_n_epochs=2)
    fit(tiny_cnn(), cb, epochs=5)
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 2, 4, 5]


def test_initial_epoch_continues_the_steps(tmp_path):
    model = tiny_cnn()
    fit(model, FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"]), epochs=2)
    fit(model, FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"]), epochs=4, initial_epoch=2)
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 1, 2, 3, 4]


def test_every_n_batches_counts_batches(tmp_path):
    cb = FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"], every_n_batches=3)
    fit(tiny_cnn(), cb, epochs=2)  # 16 samples / batch 8 = 2 batches per epoch -> 4 batches
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 3, 4]  # 4: the last


def test_every_n_batches_also_logs_the_last_batch(tmp_path):
    x, y = tiny_data(26)
    cb = FeatureMapCallback(tmp_path, x, ["conv1"], every_n_batches=5)
    tiny_cnn().fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[cb])  # 13 batches
    assert cb.logged_steps == [0, 5, 10, 13]
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 5, 10, 13]


def test_probe_from_a_batched_dataset_is_taken_once(tmp_path):
    x, y = tiny_data(12, seed=3)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    cb = FeatureMapCallback(tmp_path, dataset, ["conv1"], max_samples=7)
    np.testing.assert_array_equal(cb.probe.x, x[:7])
    np.testing.assert_array_equal(cb.probe.y, y[:7])
    unbatched = FeatureMapCallback(tmp_path, tf.data.Dataset.from_tensor_slices(x), ["conv1"], max_samples=3)
    np.testing.assert_array_equal(unbatched.probe.x, x[:3])


def test_default_layers_are_the_4d_ones(tmp_path):
    cb = FeatureMapCallback(tmp_path, tiny_data(2)[0])
    fit(tiny_cnn(), cb, epochs=1)
    assert feature_map_tags(read_run(tmp_path / "feature_maps")) == {
        "feature_maps/conv1", "feature_maps/pool1", "feature_maps/conv2"
    }


def test_unknown_layer_fails_before_the_first_epoch(tmp_path):
    cb = FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv_1"])
    with pytest.raises(ValueError, match="Did you mean 'conv1'"):
        fit(tiny_cnn(), cb, epochs=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"every_n_epochs": 0}, "every_n_epochs must be an integer >= 1. Received: every_n_epochs=0"),
     ({"normalize": "zscore"}, "normalize must be one of"),
     ({"on_error": "ignore"}, "on_error must be one of ('warn', 'raise')"),
     ({"max_samples": 0}, "max_samples must be an integer >= 1")],
)
def test_bad_options_fail_at_construction(tmp_path, kwargs, match):
    with pytest.raises(ValueError) as err:
        FeatureMapCallback(tmp_path, tiny_data(2)[0], **kwargs)
    assert match in str(err.value)


def test_a_probe_cut_to_max_samples_says_so_once(tmp_path, caplog):
    """probe=x[:8] with max_samples=4: one warning naming both counts, then 4 images per step."""
    model = tiny_cnn()
    x, y = tiny_data(8)
    callback = FeatureMapCallback(str(tmp_path), probe=x[:8], layers=["conv1"], max_samples=4)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    said = [r.getMessage() for r in caplog.records if "the probe holds" in r.getMessage()]
    assert said == [
        "fmlogger: the probe holds 8 samples; 4 of them (the first ones) are logged (max_samples=4). "
        "Pass max_samples=8 to log them all."
    ]
    run = read_run(callback.logger.run_dir)
    assert [e.images.shape[0] for e in run.images[tags.image_tag("conv1")]] == [4, 4, 4]


def test_a_probe_within_max_samples_says_nothing(tmp_path, caplog):
    model = tiny_cnn()
    x, y = tiny_data(8)
    callback = FeatureMapCallback(str(tmp_path), probe=x[:4], layers=["conv1"], max_samples=4)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert not [r for r in caplog.records if "the probe holds" in r.getMessage()]


def test_a_resumed_fit_does_not_write_steps_already_in_the_run(tmp_path, caplog):
    """A job killed after logging epoch 2 but before its checkpoint: epochs 2 and 3 are trained again."""
    model = tiny_cnn()
    fit(model, FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"]), epochs=3)  # steps 0..3
    resumed = FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"])
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        fit(model, resumed, epochs=5, initial_epoch=1)
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 1, 2, 3, 4, 5]
    assert resumed.logged_steps == [4, 5]
    warned = [r.getMessage() for r in caplog.records if "already in" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("fmlogger: step 2 is already in")
    assert "resume=False" in warned[0]


def test_a_fit_resumed_after_its_checkpoint_logs_the_missing_starting_step(tmp_path):
    """A job killed after its checkpoint of epoch 2 but before step 2 was on disk: the resumed fit
    logs step 2 from the restored weights before training on."""
    from fmlogger import FeatureMapLogger

    model = tiny_cnn()
    x, y = tiny_data(16)
    fit(model, FeatureMapCallback(tmp_path / "run", x[:2], ["conv1"]), epochs=1)  # steps 0, 1
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # epoch 2: checkpointed, its step lost
    with FeatureMapLogger(tmp_path / "expected", ["conv1"], background=False) as logger:
        logger.log(model, x[:2], 2)  # the weights the resumed fit starts from
    resumed = FeatureMapCallback(tmp_path / "run", x[:2], ["conv1"])
    fit(model, resumed, epochs=3, initial_epoch=2)
    run = read_run(tmp_path / "run" / "feature_maps")
    assert image_steps(run, "feature_maps/conv1") == [0, 1, 2, 3] and resumed.logged_steps == [2, 3]
    expected = read_run(tmp_path / "expected" / "feature_maps").images["feature_maps/conv1"][0]
    assert run.images["feature_maps/conv1"][2].pngs == expected.pngs
    fresh = FeatureMapCallback(tmp_path / "fresh", x[:2], ["conv1"])
    fit(model, fresh, epochs=5, initial_epoch=4)
    assert fresh.logged_steps == [4, 5]  # a fit starting at epoch 4 shows where it starts, as at 0


def test_resume_false_writes_every_step_again(tmp_path):
    model = tiny_cnn()
    fit(model, FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"]), epochs=1)
    fit(model, FeatureMapCallback(tmp_path, tiny_data(2)[0], ["conv1"], resume=False), epochs=1)
    assert image_steps(read_run(tmp_path / "feature_maps"), "feature_maps/conv1") == [0, 0, 1, 1]
