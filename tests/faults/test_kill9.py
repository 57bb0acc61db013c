"""kill -9 right after an epoch: that epoch's step is on disk and readable, and a resumed run
(``fit(initial_epoch=...)``, a new process) does not write it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from helpers.runs import image_steps, read_run

pytestmark = pytest.mark.slow

TRAIN = """
import os, sys
sys.path.insert(0, sys.argv[1])
import keras
from helpers.models import tiny_cnn, tiny_data
from fmlogger import FeatureMapCallback

log_dir, kill_at, initial = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


class KillAfter(keras.callbacks.Callback):  # runs after fmlogger's on_epoch_end has returned
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == kill_at:
            os.kill(os.getpid(), 9)


x, y = tiny_data(16)
cb = FeatureMapCallback(log_dir, x, ["conv1", "conv2"], timeline=True)  # background=True by default
tiny_cnn().fit(x, y, epochs=4, initial_epoch=initial, batch_size=8, verbose=0, callbacks=[cb, KillAfter()])
"""


def _train(log_dir, kill_at: int, initial: int = 0) -> int:
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, "-c", TRAIN, tests, str(log_dir), str(kill_at), str(initial)]
    return subprocess.run(argv, env=env, capture_output=True, timeout=300).returncode


@pytest.mark.parametrize("kill_at", [1, 2])
def test_the_step_of_an_epoch_survives_kill_9_and_is_not_written_twice(tmp_path, kill_at):
    assert _train(tmp_path, kill_at) == -signal.SIGKILL
    run = read_run(tmp_path / "feature_maps")
    for tag in ("feature_maps/conv1", "feature_maps/conv2", "feature_map_timeline/conv1"):
        assert image_steps(run, tag) == list(range(kill_at + 1)), tag
    assert _train(tmp_path, kill_at=-1, initial=kill_at) == 0  # resumed: epochs kill_at+1 .. 4
    run = read_run(tmp_path / "feature_maps")
    assert image_steps(run, "feature_maps/conv1") == [0, 1, 2, 3, 4]  # each step once
