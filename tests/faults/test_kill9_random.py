"""kill -9 at random points of a resumable training, then resumed to the end: nothing an ended
epoch logged is lost, and no step is written twice.

The child trains with ``FeatureMapCallback`` (``background=True``, ``resume=True``: the defaults)
and a checkpoint callback that saves the weights and the epoch atomically (a file renamed into
place), and resumes from it: ``fit(initial_epoch=<saved epoch>)`` on the saved weights, as a job
restarted by its scheduler does. The callbacks run in either order (drawn per run), so a kill
between the two callbacks leaves either a logged step whose checkpoint is missing (the epoch is
trained again) or a checkpoint whose step is missing (the resumed fit starts after it). Kills come
from the parent at a seeded random moment (a drawn delay into a drawn epoch of this start: bounded
in epochs, so the run is not over before the kill however fast the machine), or, to reach those
narrow windows every time, from a callback between the two at a drawn epoch. After each kill and
at the end, the run is read back with TensorBoard's own reader.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.runs.read import decode_png
from helpers import tb_http
from helpers.runs import tensorboard_tensors

pytestmark = pytest.mark.slow

EPOCHS = 60  # 10 starts, each killed within a few epochs: the run cannot end before the last kill
SEED = 13

TRAIN = """
import json, os, sys
import keras
from helpers.models import tiny_cnn, tiny_data
from fmlogger import FeatureMapCallback

log_dir, saved, order = sys.argv[1:4]
kill_at, epochs = int(sys.argv[4]), int(sys.argv[5])
state = os.path.join(saved, "state.json")


class Checkpoint(keras.callbacks.Callback):  # the weights, then the epoch naming them: each renamed in
    def on_epoch_end(self, epoch, logs=None):
        weights = os.path.join(saved, f"epoch-{epoch + 1}.weights.h5")
        self.model.save_weights(weights + ".tmp.weights.h5")
        os.replace(weights + ".tmp.weights.h5", weights)
        with open(state + ".tmp", "w") as f:
            json.dump({"epoch": epoch + 1, "weights": weights}, f)
        os.replace(state + ".tmp", state)


class KillHere(keras.callbacks.Callback):  # between fmlogger's on_epoch_end and the checkpoint's
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == kill_at:
            os.kill(os.getpid(), 9)


class Progress(keras.callbacks.Callback):  # last: the epoch has ended for every callback before it
    def on_epoch_begin(self, epoch, logs=None):
        print("training", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        with open(os.path.join(saved, "ended"), "a") as f:
            f.write(f"{epoch + 1}\\n")


x, y = tiny_data(16)
model = tiny_cnn()
initial = 0
if os.path.exists(state):
    with open(state) as f:
        saved_state = json.load(f)
    model.load_weights(saved_state["weights"])
    initial = saved_state["epoch"]
fm = FeatureMapCallback(log_dir, x, ["conv1", "conv2"], timeline=True)  # background=True, resume=True
callbacks = [fm, KillHere(), Checkpoint()] if order == "fm_first" else [Checkpoint(), KillHere(), fm]
model.fit(x, y, epochs=epochs, initial_epoch=initial, batch_size=8, verbose=0,
          callbacks=callbacks + [Progress()])
"""


def _start(log_dir, saved, order: str, kill_at: int) -> subprocess.Popen:
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = tb_http.popen_env()
    env["PYTHONPATH"] = os.pathsep.join([tests, env["PYTHONPATH"]])
    argv = [sys.executable, "-c", TRAIN, str(log_dir), str(saved), order, str(kill_at), str(EPOCHS)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _ended(saved) -> set[int]:
    path = saved / "ended"
    return {int(line) for line in path.read_text().split()} if path.exists() else set()


def _resumes_at(saved) -> int:
    """The epoch the next start resumes from: the checkpoint's (it can be ahead of ``ended`` when a
    kill came after the checkpoint callback and before ``Progress``)."""
    path = saved / "state.json"
    return json.loads(path.read_text())["epoch"] if path.exists() else 0


def _image_steps(run_dir) -> dict[str, list[int]]:
    """``{image tag: steps}`` as TensorBoard's reader loads them, each occurrence listed."""
    return {
        tag: [step for step, _ in entries]
        for tag, entries in tensorboard_tensors(run_dir).items()
        if tag.startswith((tags.IMAGE_PREFIX, tags.TIMELINE_PREFIX))
    }


def test_kill_9_at_random_points_then_resume_loses_and_repeats_nothing(tmp_path):
    rng = np.random.default_rng(SEED)
    saved = tmp_path / "saved"
    saved.mkdir()
    run_dir = tmp_path / "logs" / tags.RUN_SUBDIR
    plan = [("delay", (int(rng.integers(1, 4)), float(rng.uniform(0.0, 0.15)))) for _ in range(7)]
    plan += [("between", int(rng.integers(1, 4))) for _ in range(3)]  # epochs after the resumed one
    plan = [plan[i] for i in rng.permutation(len(plan))]
    kills = 0
    for how, amount in plan:
        order = str(rng.choice(["fm_first", "checkpoint_first"]))
        kill_at = _resumes_at(saved) + amount if how == "between" else -1
        child = _start(tmp_path / "logs", saved, order, kill_at)
        epochs_begun = 0
        for line in iter(child.stdout.readline, ""):  # (an fmlogger hint may come first)
            epochs_begun += line.strip() == "training"
            if epochs_begun == (amount[0] if how == "delay" else 1):
                break
        assert epochs_begun, child.communicate()[1][-3000:]
        if how == "delay":
            time.sleep(amount[1])  # the kill moment: a drawn point of an epoch, not a synchronisation
            child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=300)
        assert child.returncode == -signal.SIGKILL, (how, amount, err[-3000:])
        kills += 1
        ended = _ended(saved)
        steps = _image_steps(run_dir)
        for tag, logged in steps.items():
            assert len(logged) == len(set(logged)), (tag, sorted(logged), how, order)  # none twice
            assert ended | ({0} if ended else set()) <= set(logged), (tag, sorted(ended - set(logged)))
    child = _start(tmp_path / "logs", saved, "fm_first", -1)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    assert kills == len(plan)
    final = tensorboard_tensors(run_dir)
    image_tags = [t for t in final if t.startswith((tags.IMAGE_PREFIX, tags.TIMELINE_PREFIX))]
    layers = ("conv1", "conv2")
    expected_tags = [tags.image_tag(n) for n in layers] + [tags.timeline_tag(n) for n in layers]
    assert sorted(image_tags) == sorted(expected_tags)
    for tag in image_tags:
        assert [step for step, _ in final[tag]] == list(range(EPOCHS + 1)), tag  # every step, once, in order
        samples = 1 if tag.startswith(tags.TIMELINE_PREFIX) else 4  # a timeline is one image
        for step, value in final[tag]:
            width, height, *pngs = value
            shapes = [decode_png(p).shape[:2] for p in pngs]
            assert shapes == [(int(height), int(width))] * samples, (tag, step)
