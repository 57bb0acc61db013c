"""Trouble during training: ``on_error="warn"`` reports once and training goes on; ``"raise"`` stops.

Covered: a layer that starts producing NaN/Inf mid-training (drawn and counted, not a failure),
the run folder removed mid-run (a new event file, reported), and an output the renderer cannot
draw (a 5-D Conv3D output: that layer is skipped, the others are logged).
"""

from __future__ import annotations

import logging
import re
import shutil

import numpy as np
import pytest

from fmlogger import tags
from helpers.models import tiny_cnn, tiny_data, with_volumes
from helpers.runs import feature_map_tags, image_steps, read_run


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "fmlogger" and r.levelno == logging.WARNING]


def _poisonable():
    """conv -> poison (adds a non-trainable scalar, 0 until poisoned) -> gap -> head."""
    import keras

    class Poison(keras.layers.Layer):
        def build(self, shape):
            self.amount = self.add_weight(shape=(), initializer="zeros", trainable=False, name="amount")

        def call(self, x):
            return x + self.amount

    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = Poison(name="poison")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="after")(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("on_error", ["warn", "raise"])
def test_nan_mid_training_is_drawn_counted_and_reported_once(on_error, tmp_path, caplog):
    import keras

    from fmlogger import FeatureMapCallback
    from fmlogger.render.colormaps import nonfinite_color

    model = _poisonable()
    x, y = tiny_data(8)
    # After epoch 2 (step 2 logged clean), the poison layer starts emitting NaN (and so does
    # everything after it, weights included, once the loss is NaN).
    poison = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch == 1 and model.get_layer("poison").amount.assign(np.nan)
    )
    callback = FeatureMapCallback(tmp_path, x[:2], ["poison"], max_samples=2, on_error=on_error)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        history = model.fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[callback, poison])

    assert len(history.history["loss"]) == 4  # training went on under both policies
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert image_steps(run, "feature_maps/poison") == [0, 1, 2, 3, 4]
    nonfinite = dict(run.scalars[tags.stat_tag("poison", "nonfinite")])
    assert [nonfinite[s] for s in range(3)] == [0, 0, 0]
    assert nonfinite[3] == nonfinite[4] == 2 * 14 * 14 * 3  # every value of both samples
    clean, poisoned = run.images["feature_maps/poison"][2].images, run.images["feature_maps/poison"][3].images
    assert clean.shape[-1] == 1 and poisoned.shape[-1] == 3  # gray, then gray + the RGB marker
    marker = np.asarray(nonfinite_color("gray"), np.uint8)
    assert np.all(poisoned[:, 1:43, 1:43] == marker)  # the first tile: 14x14 upscaled x3, inside the padding
    nan_warnings = [m for m in _warnings(caplog) if "NaN/Inf" in m]
    assert nan_warnings == [
        f"fmlogger: layer 'poison' produced {2 * 14 * 14 * 3} NaN/Inf values at step 3; "
        "they are drawn in the marker colour and counted in "
        f"{tags.stat_tag('poison', 'nonfinite')}."
    ]


def _remove_after_epoch(log_dir, epoch_to_remove, *, written_by=None):
    """Deletes ``log_dir`` when ``epoch_to_remove`` ends; first waits for the background writer of
    ``written_by`` (a callback), so the step logged at that epoch's end went into the old folder."""
    import keras

    def remove(epoch, logs):
        if epoch == epoch_to_remove:
            if written_by is not None:
                written_by.logger.flush()
            shutil.rmtree(log_dir)

    return keras.callbacks.LambdaCallback(on_epoch_end=remove)


def test_run_folder_removed_mid_run_warn_recreates_and_goes_on(tmp_path, caplog):
    from fmlogger import FeatureMapCallback

    log_dir = tmp_path / "logs"
    x, y = tiny_data(8)
    callback = FeatureMapCallback(log_dir, x[:2], ["conv1"], max_samples=2)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        history = tiny_cnn().fit(
            x, y, epochs=4, batch_size=4, verbose=0,
            callbacks=[callback, _remove_after_epoch(log_dir, 1, written_by=callback)],
        )
    assert len(history.history["loss"]) == 4
    # steps 0..2 went with the deleted folder; 3 and 4 are in the re-created one
    run = read_run(log_dir / tags.RUN_SUBDIR)
    assert image_steps(run, "feature_maps/conv1") == [3, 4]
    [warning] = _warnings(caplog)
    # "the event file" when the background writer's state save re-created the folder first
    assert re.match(
        re.escape(
            f"fmlogger: writing step 3 to {log_dir / tags.RUN_SUBDIR} failed and is skipped: "
            "FileNotFoundError: "
        )
        + r"the (run folder \(with its event file\)|event file) "
        + re.escape(f"{log_dir / tags.RUN_SUBDIR}/events.out.tfevents."),
        warning,
    ), warning
    assert (
        "was removed while training; the steps it held are gone. Writing from this step on to a new "
        in warning
    )


def test_run_folder_removed_mid_run_raise_stops(tmp_path):
    import keras

    from fmlogger import FeatureMapCallback

    log_dir = tmp_path / "logs"
    x, y = tiny_data(8)
    epochs = []
    counter = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(epoch))
    callback = FeatureMapCallback(log_dir, x[:2], ["conv1"], max_samples=2, on_error="raise")
    with pytest.raises(FileNotFoundError, match="was removed while training"):
        tiny_cnn().fit(
            x, y, epochs=4, batch_size=4, verbose=0,
            callbacks=[_remove_after_epoch(log_dir, 1), callback, counter],
        )
    assert epochs == [0]  # raised at step 2, in the callback after epoch 1, before later callbacks


def test_undrawable_output_warn_skips_that_layer_once(tmp_path, caplog):
    from fmlogger import FeatureMapCallback

    x, y = tiny_data(8)
    callback = FeatureMapCallback(tmp_path, x[:2], ["conv2d", "conv3d"], max_samples=2)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        history = with_volumes().fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 3
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert feature_map_tags(run) == {"feature_maps/conv2d"}
    assert image_steps(run, "feature_maps/conv2d") == [0, 1, 2, 3]
    assert _warnings(caplog) == [
        "fmlogger: logging layer 'conv3d' failed and is skipped: UnsupportedOutput: 5-D output of shape "
        "(2, 14, 14, 2, 2) (volumes, e.g. Conv3D) is not drawn; pick 2-D, 3-D or 4-D layers, or reshape the "
        "volume and use log_arrays. Training goes on; further failures of this kind are not reported. "
        "Pass on_error='raise' to stop instead."
    ]


def test_layers_whose_names_differ_only_by_digits_are_reported_apart(tmp_path, caplog):
    from fmlogger import FeatureMapCallback

    x, y = tiny_data(8)
    callback = FeatureMapCallback(tmp_path, x[:2], ["conv2d", "c3d_1", "c3d_2"], max_samples=2)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model = with_volumes(["c3d_1", "c3d_2"])
        history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 3
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert feature_map_tags(run) == {"feature_maps/conv2d"}
    assert image_steps(run, "feature_maps/conv2d") == [0, 1, 2, 3]
    # each volume failed at all 4 steps: one warning per layer, each naming its layer
    warnings = _warnings(caplog)
    assert sorted(w.split(" failed and is skipped: ")[0] for w in warnings) == [
        "fmlogger: logging layer 'c3d_1'",
        "fmlogger: logging layer 'c3d_2'",
    ]
    assert all("UnsupportedOutput: 5-D output of shape (2, 14, 14, 2, 2)" in w for w in warnings)


def test_undrawable_output_raise_stops_before_training(tmp_path):
    import keras

    from fmlogger import FeatureMapCallback
    from fmlogger.render.renderer import UnsupportedOutput

    x, y = tiny_data(8)
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    callback = FeatureMapCallback(tmp_path, x[:2], ["conv3d"], max_samples=2, on_error="raise")
    with pytest.raises(UnsupportedOutput, match=r"5-D output of shape \(2, 14, 14, 2, 2\)"):
        with_volumes().fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callback, counter])
    assert batches == []  # step 0 is logged when epoch 0 begins


def test_the_same_failure_at_every_step_is_reported_once(caplog):
    from fmlogger.errors import ErrorPolicy

    policy = ErrorPolicy("warn")
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        for step in range(5):
            policy.report(f"flushing step {step} to runs/a", OSError("disk full"))
        policy.report("flushing step 9 to runs/a", ValueError("other cause"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "flushing step 0 to runs/a failed" in messages[0] and "OSError: disk full" in messages[0]


def test_a_kind_is_the_site_without_its_step_and_the_error_type(caplog):
    from fmlogger.errors import ErrorPolicy

    assert ErrorPolicy.site("writing step 12 to runs/a") == "writing step # to runs/a"
    assert ErrorPolicy.site("logging embeddings at epoch 3") == "logging embeddings at epoch #"
    assert ErrorPolicy.site("logging layer 'c3d_12'") == "logging layer 'c3d_12'"  # names keep their digits
    policy = ErrorPolicy("warn")
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        for step in range(3):
            for name in ("block1/conv", "block2/conv", "block10/conv"):
                policy.report(f"logging layer '{name}' at step {step}", ValueError("bad"))
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
        "fmlogger: logging layer 'block1/conv' at step 0",
        "fmlogger: logging layer 'block2/conv' at step 0",
        "fmlogger: logging layer 'block10/conv' at step 0",
    ]
