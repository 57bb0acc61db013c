"""Nothing lost: kill -9 mid-training, resuming with ``initial_epoch``, two callbacks in one log_dir."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fmlogger import tags
from helpers.models import tiny_cnn, tiny_data
from helpers.runs import feature_map_tags, image_steps, read_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = textwrap.dedent(
    """
    import os, signal, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.path.insert(0, {tests!r})
    import keras
    from helpers.models import tiny_cnn, tiny_data
    from fmlogger import FeatureMapCallback

    log_dir, weights, initial_epoch, epochs, kill_after = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    if initial_epoch:
        model.load_weights(weights)
    x, y = tiny_data(16)
    save = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: model.save_weights(weights))
    # kill -9 of this very process right after epoch `kill_after` ends (after the logger wrote it)
    kill = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch + 1 == kill_after and os.kill(os.getpid(), signal.SIGKILL)
    )
    callback = FeatureMapCallback(log_dir, x[:2], ["conv1", "conv2"], max_samples=2)
    model.fit(
        x, y, initial_epoch=initial_epoch, epochs=epochs, batch_size=8, verbose=0,
        callbacks=[callback, save, kill],
    )
    print("finished")
    """
)


def _train(tmp_path, initial_epoch, epochs, kill_after):
    script = tmp_path / "train.py"
    script.write_text(TRAIN.format(tests=os.path.join(ROOT, "tests")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    args = [tmp_path / "logs", tmp_path / "model.weights.h5", initial_epoch, epochs, kill_after]
    command = [sys.executable, str(script), *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a subprocess
def test_kill_9_keeps_every_logged_step_and_resume_continues(tmp_path):
    k = 3
    killed = _train(tmp_path, initial_epoch=0, epochs=10, kill_after=k)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "finished" not in killed.stdout

    run = read_run(tmp_path / "logs" / tags.RUN_SUBDIR)
    for layer in ("conv1", "conv2"):
        assert image_steps(run, tags.image_tag(layer)) == list(range(k + 1))  # steps 0..k, all decodable
        assert all(e.images.shape[0] == 2 for e in run.images[tags.image_tag(layer)])
        assert [s for s, _ in run.scalars[tags.stat_tag(layer, "mean")]] == list(range(k + 1))

    resumed = _train(tmp_path, initial_epoch=k, epochs=k + 2, kill_after=0)
    assert resumed.returncode == 0 and "finished" in resumed.stdout, resumed.stderr[-2000:]
    run = read_run(tmp_path / "logs" / tags.RUN_SUBDIR)
    events = [n for n in os.listdir(tmp_path / "logs" / tags.RUN_SUBDIR) if ".tfevents." in n]
    assert len(events) == 2  # one file per process, nothing overwritten
    for layer in ("conv1", "conv2"):
        # 0..k, then k+1, k+2; no repeats
        assert image_steps(run, tags.image_tag(layer)) == list(range(k + 3))


def test_resume_in_process_continues_steps(tmp_path):
    from fmlogger import FeatureMapCallback

    model = tiny_cnn()
    x, y = tiny_data(8)
    first = FeatureMapCallback(tmp_path, x[:2], ["conv1"], max_samples=2)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[first])
    second = FeatureMapCallback(tmp_path, x[:2], ["conv1"], max_samples=2)
    model.fit(x, y, initial_epoch=2, epochs=4, batch_size=4, verbose=0, callbacks=[second])
    assert first.logged_steps == [0, 1, 2] and second.logged_steps == [3, 4]
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    assert image_steps(run, "feature_maps/conv1") == [0, 1, 2, 3, 4]


def test_two_callbacks_with_different_layers_share_a_log_dir(tmp_path, caplog):
    from fmlogger import FeatureMapCallback

    model = tiny_cnn()
    x, y = tiny_data(8)
    first = FeatureMapCallback(tmp_path, x[:2], ["conv1"], max_samples=2)
    second = FeatureMapCallback(tmp_path, x[:2], ["conv2"], max_samples=2, colormap="viridis")
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[first, second])
    assert not [r for r in caplog.records if r.name == "fmlogger"]
    run_dir = tmp_path / tags.RUN_SUBDIR
    assert len([n for n in os.listdir(run_dir) if ".tfevents." in n]) == 2  # one event file each
    run = read_run(run_dir)
    assert feature_map_tags(run) == {"feature_maps/conv1", "feature_maps/conv2"}
    assert image_steps(run, "feature_maps/conv1") == image_steps(run, "feature_maps/conv2") == [0, 1, 2]
    assert run.images["feature_maps/conv1"][0].images.shape[-1] == 1  # gray, from the first
    assert run.images["feature_maps/conv2"][0].images.shape[-1] == 3  # viridis, from the second


def test_two_callbacks_with_the_same_layer_are_warned_and_run_name_separates(tmp_path, caplog):
    from fmlogger import FeatureMapCallback

    model = tiny_cnn()
    x, y = tiny_data(8)
    first = FeatureMapCallback(tmp_path, x[:2], ["conv1"], max_samples=2)
    second = FeatureMapCallback(tmp_path, x[:2], ["conv*"], max_samples=2, colormap="magma")
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[first, second])
    assert [r.getMessage() for r in caplog.records if r.name == "fmlogger"] == [
        f"fmlogger: another logger already writes feature_maps/conv1 into {tmp_path / tags.RUN_SUBDIR}; "
        "the steps of both will interleave under the same tags. "
        "Pass run_name='...' (a different run folder) to one of them."
    ]
    caplog.clear()
    third = FeatureMapCallback(tmp_path, x[:2], ["conv1"], max_samples=2)
    fourth = FeatureMapCallback(
        tmp_path, x[:2], ["conv1"], max_samples=2, colormap="magma", run_name="feature_maps_magma"
    )
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[third, fourth])
    claims = [r for r in caplog.records if r.name == "fmlogger" and "another logger" in r.getMessage()]
    assert not claims  # the first two were closed at train end
    magma = read_run(tmp_path / "feature_maps_magma")
    assert image_steps(magma, "feature_maps/conv1") == [0, 1]
    assert np.all(magma.images["feature_maps/conv1"][0].images.shape[-1] == 3)
