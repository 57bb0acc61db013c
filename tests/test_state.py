"""The run state: resumed runs keep channels and fixed scale; probe fingerprint and settings recorded."""

from __future__ import annotations

import json
import logging

import numpy as np

from fmlogger import tags
from fmlogger.runs.events import iter_values
from fmlogger.sinks.state import load_state, probe_fingerprint
from helpers.models import tiny_cnn, tiny_data
from helpers.runs import read_run

OPTIONS = {
    "normalize": "fixed",
    "channel_order": "top_k",
    "max_channels": 3,
    "min_tile_size": 1,
    "padding": 0,
    "max_samples": 1,
}


def first_step_maps():
    """[1, 2, 2, 6]: channel means 4.5, 1, 6, 0, 2, 7.5 -> top 3 = 5, 2, 0; range over them 0..10."""
    values = np.array([6, 1, 8, 0, 2, 10], np.float32)
    maps = np.broadcast_to(values, (1, 2, 2, 6)).copy()
    maps[0, 1, 1, [0, 2, 5]] = 0
    return maps


def later_maps():
    """Channel 1 is now by far the strongest; channel 5 sits at 5 (half of the first range)."""
    maps = np.zeros((1, 2, 2, 6), np.float32)
    maps[..., 1] = 100
    maps[..., 5] = 5
    return maps


def test_fingerprint_hashes_bytes_shape_and_dtype():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    fp = probe_fingerprint(x, seed=7)
    assert fp["shape"] == [3, 4] and fp["dtype"] == "float32" and fp["samples"] == 3 and fp["seed"] == 7
    assert probe_fingerprint(x.copy())["sha256"] == fp["sha256"]
    assert probe_fingerprint(x.astype(np.float64))["sha256"] != fp["sha256"]
    assert probe_fingerprint(x.reshape(3, 2, 2))["sha256"] != fp["sha256"]
    changed = x.copy()
    changed[2, 3] += 1
    assert probe_fingerprint(changed)["sha256"] != fp["sha256"]
    multi = probe_fingerprint({"b": x, "a": x[:, :2]})
    assert multi["shape"] == {"a": [3, 2], "b": [3, 4]} and multi["samples"] == 3


def test_resumed_logger_keeps_channel_order_and_fixed_scale(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    with FeatureMapLogger(tmp_path, **OPTIONS) as first:
        frame0 = first.log_arrays({"conv": first_step_maps()}, 0)["conv"]
    assert frame0.channels == (5, 2, 0)
    saved = load_state(first.run_dir)["layers"]["conv"]
    assert saved["channels"] == [5, 2, 0] and saved["fixed_range"] == [0.0, 10.0]
    assert saved["settings"]["channel_order"] == "top_k"  # per layer: loggers may share a run folder

    with FeatureMapLogger(tmp_path, **OPTIONS) as resumed:  # a new process would do the same
        frame1 = resumed.log_arrays({"conv": later_maps()}, 1)["conv"]
    assert frame1.channels == (5, 2, 0)
    # 2x2 grid of 2x2 tiles, no padding: top-left tile is channel 5 at 5 on the 0..10 scale:
    # round(0.5 * 255) = 128 (halves up). Channels 2 and 0 are 0 -> 0; the empty cell is padding
    # (mid-gray 128; tile 5 is 128 too: the 0..10 scale is what this checks).
    image = read_run(resumed.run_dir).images[tags.image_tag("conv")][-1].images[0, :, :, 0]
    assert image.tolist() == [[128, 128, 0, 0], [128, 128, 0, 0], [0, 0, 128, 128], [0, 0, 128, 128]]

    with FeatureMapLogger(tmp_path / "fresh", **OPTIONS) as fresh:
        assert fresh.log_arrays({"conv": later_maps()}, 1)["conv"].channels[0] == 1
    with FeatureMapLogger(tmp_path, resume=False, **OPTIONS) as restart:
        assert restart.log_arrays({"conv": later_maps()}, 2)["conv"].channels[0] == 1
    assert load_state(restart.run_dir)["layers"]["conv"]["channels"][0] == 1


def test_changed_settings_warn_and_drop_what_no_longer_applies(tmp_path, caplog):
    from fmlogger.logger import FeatureMapLogger

    with FeatureMapLogger(tmp_path, **OPTIONS) as first:
        first.log_arrays({"conv": first_step_maps()}, 0)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        other = FeatureMapLogger(tmp_path, **{**OPTIONS, "channel_order": "index"})
        assert other.log_arrays({"conv": later_maps()}, 1)["conv"].channels == (0, 1, 2)
    assert (
        "render settings of conv differ" in caplog.text
        and "channel_order: 'top_k' -> 'index'" in caplog.text
    )
    other.close()


def test_probe_fingerprint_mismatch_on_resume_warns(tmp_path, caplog):
    from fmlogger.logger import FeatureMapLogger

    x1 = np.zeros((1, 4), np.float32)
    with FeatureMapLogger(tmp_path, **OPTIONS) as first:
        first.record_probe(x1)
        first.log_arrays({"conv": first_step_maps()}, 0)
    with caplog.at_level(logging.WARNING, logger="fmlogger"), FeatureMapLogger(tmp_path, **OPTIONS) as same:
        same.record_probe(x1.copy())
    assert "probe differs" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="fmlogger"), FeatureMapLogger(tmp_path, **OPTIONS) as other:
        other.record_probe(np.ones((1, 4), np.float32))
        other.log_arrays({"conv": later_maps()}, 1)
    assert "the probe differs from the one saved in" in caplog.text
    assert (
        load_state(other.run_dir)["probe"]["sha256"]
        == probe_fingerprint(np.ones((1, 4), np.float32))["sha256"]
    )


def test_fit_resume_keeps_choice_and_records_seeded_probe(tmp_path):
    import keras

    from fmlogger.callback import FeatureMapCallback

    keras.utils.set_random_seed(0)
    x, y = tiny_data(16)
    model = tiny_cnn()
    options = {
        "layers": ["conv2"],
        "max_samples": 4,
        "probe_seed": 3,
        "channel_order": "top_k",
        "normalize": "fixed",
        "max_channels": 3,
    }
    first = FeatureMapCallback(tmp_path, (x, y), **options)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[first])
    state = load_state(first.logger.run_dir)
    chosen, value_range = state["layers"]["conv2"]["channels"], state["layers"]["conv2"]["fixed_range"]
    idx = np.sort(np.random.default_rng(3).choice(16, 4, replace=False))
    assert state["probe"] == probe_fingerprint(x[idx], seed=3)

    resumed = FeatureMapCallback(tmp_path, (x, y), **options)
    model.fit(x, y, epochs=2, initial_epoch=1, verbose=0, callbacks=[resumed])
    run = read_run(resumed.logger.run_dir)
    assert [e.step for e in run.images[tags.image_tag("conv2")]] == [0, 1, 2]
    state = load_state(resumed.logger.run_dir)
    assert (state["layers"]["conv2"]["channels"], state["layers"]["conv2"]["fixed_range"]) == (
        chosen, value_range
    )
    assert list(resumed.logger.renderer.state()["conv2"]["channels"]) == chosen
    assert f"{len(chosen)} of 6 channels" in run.descriptions[tags.image_tag("conv2")]


def test_text_summary_holds_fingerprint_and_settings(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with FeatureMapLogger(tmp_path, **OPTIONS) as logger:
        logger.record_probe(x)
        logger.log_arrays({"conv": first_step_maps()}, 0)
        logger.log_arrays({"conv": first_step_maps()}, 1)
    texts = [
        (step, value.tensor.string_val[0].decode())
        for tag, step, value in iter_values(logger.run_dir, plugin="text")
        if tag == tags.RUN_INFO_TAG
    ]
    assert [step for step, _ in texts] == [0]  # written once
    text = texts[0][1]
    assert (
        probe_fingerprint(x)["sha256"] in text
        and "| normalize | fixed |" in text
        and "| shape | [2, 4] |" in text
    )
    with open(f"{logger.run_dir}/{tags.STATE_FILE}") as f:
        assert json.load(f)["settings"]["channel_order"] == "top_k"


def test_unreadable_state_is_warned_and_ignored(tmp_path, caplog):
    from fmlogger.logger import FeatureMapLogger

    run_dir = tmp_path / tags.RUN_SUBDIR
    run_dir.mkdir()
    (run_dir / tags.STATE_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        logger = FeatureMapLogger(tmp_path, **OPTIONS)
    assert "cannot read" in caplog.text
    assert logger.log_arrays({"conv": first_step_maps()}, 0)["conv"].channels == (5, 2, 0)
    logger.close()


def test_loggers_sharing_a_run_folder_keep_each_others_layers(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    first = FeatureMapLogger(tmp_path, **OPTIONS)
    second = FeatureMapLogger(tmp_path, **{**OPTIONS, "channel_order": "index"})
    first.log_arrays({"a": first_step_maps()}, 0)
    second.log_arrays({"b": first_step_maps()}, 0)
    first.log_arrays({"a": first_step_maps()}, 1)
    first.flush()
    second.flush()
    layers = load_state(first.run_dir)["layers"]
    assert layers["a"]["channels"] == [5, 2, 0] and layers["a"]["settings"]["channel_order"] == "top_k"
    assert layers["b"]["channels"] == [0, 1, 2] and layers["b"]["settings"]["channel_order"] == "index"
    first.close()
    second.close()


def test_state_of_an_unknown_format_version_is_warned_about_and_ignored(tmp_path, caplog):
    from fmlogger.logger import FeatureMapLogger

    with FeatureMapLogger(tmp_path, **OPTIONS) as first:
        first.log_arrays({"conv": first_step_maps()}, 0)
    path = tmp_path / tags.RUN_SUBDIR / tags.STATE_FILE
    state = json.loads(path.read_text())
    for version in (tags.FORMAT_VERSION + 1, None):
        state["format_version"] = version
        path.write_text(json.dumps(state))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fmlogger"):
            assert load_state(path.parent) is None
            resumed = FeatureMapLogger(tmp_path, **OPTIONS)
        assert caplog.messages[0] == (
            f"fmlogger: {path} has format_version {version!r}, which this fmlogger does not know (it reads "
            f"{tags.FORMAT_VERSION!r}); ignoring it and starting with a fresh state."
        )
        # ignored: the saved top-k choice (5, 2, 0) is not restored, channel 1 leads now
        assert resumed.log_arrays({"conv": later_maps()}, 1)["conv"].channels[0] == 1
        resumed.close()


def test_loggers_sharing_a_run_folder_keep_each_others_timeline_rows(tmp_path):
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.sinks.timeline_rows import load_rows

    first = FeatureMapLogger(tmp_path, **OPTIONS)
    second = FeatureMapLogger(tmp_path, **OPTIONS)
    first.log_arrays({"a": first_step_maps()}, 0)
    first.flush()
    second.log_arrays({"b": later_maps()}, 0)
    second.flush()
    first.log_arrays({"a": later_maps()}, 1)  # the file changed under it: b is read back and kept
    first.close()
    second.close()
    rows = load_rows(first.run_dir)
    assert (rows["a"].steps, rows["b"].steps) == ([0, 1], [0])
    with FeatureMapLogger(tmp_path, **OPTIONS) as resumed:  # restores both, continues one
        resumed.log_arrays({"a": first_step_maps()}, 2)
    rows = load_rows(first.run_dir)
    assert (rows["a"].steps, rows["b"].steps, rows["a"].count) == ([0, 1, 2], [0], 3)
    np.testing.assert_array_equal(rows["b"].tiles[0], resumed.timelines.timelines["b"]._rows[0][1])
