"""Keras' distribution API on JAX: ``DataParallel`` over 2 host devices, and over 2 processes.

``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be set before JAX is imported, and
``jax.distributed.initialize`` must come before any JAX computation, so each case runs in fresh
interpreters and reports back as JSON. With 2 processes (a coordinator on 127.0.0.1, one CPU
device each; JAX 0.10 connects them with Gloo) Keras takes numpy data only with
``auto_shard_dataset = False`` (each process feeds its own half of every batch). The images each
step logs are compared with the same model and probe captured without any distribution, in this
interpreter, from the weights that step saw. Runs in ``scripts/test-backend jax``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fmlogger import tags
from helpers.backend import BACKEND
from helpers.models import tiny_cnn, tiny_data
from helpers.runs import feature_map_tags, image_steps, read_run

pytestmark = [
    pytest.mark.skipif(BACKEND != "jax", reason=f"Keras' distribution API on JAX (KERAS_BACKEND={BACKEND})"),
    pytest.mark.slow,  # subprocesses
]

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    mode, log_dir, weights_out = sys.argv[1:4]
    if mode == "devices":
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # before JAX is imported
    import jax
    pid = 0
    if mode == "processes":
        pid = int(sys.argv[4])
        jax.distributed.initialize(f"127.0.0.1:{sys.argv[5]}", num_processes=2, process_id=pid,
                                   initialization_timeout=90)
    import keras
    import numpy as np
    from fmlogger import FeatureMapCallback
    from helpers.models import tiny_cnn, tiny_data

    distribution = keras.distribution.DataParallel(devices=jax.devices())
    x, y = tiny_data(16)
    fit_x, fit_y, batch = x, y, 8
    if mode == "processes":
        distribution.auto_shard_dataset = False  # numpy data: each process feeds its half of each batch
        fit_x, fit_y, batch = x[pid::2], y[pid::2], 4
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    seen = {}

    class Weights(keras.callbacks.Callback):  # the weights each logged step sees
        def on_train_begin(self, logs=None):
            seen[0] = self.model.get_weights()

        def on_epoch_end(self, epoch, logs=None):
            seen[epoch + 1] = self.model.get_weights()

    callback = FeatureMapCallback(log_dir, x[:2], ["conv1", "conv2"], max_samples=2, on_error="raise")
    model.fit(fit_x, fit_y, epochs=2, batch_size=batch, verbose=0, callbacks=[callback, Weights()])
    if pid == 0:
        np.savez(weights_out, **{f"{step}_{i}": w for step, ws in seen.items() for i, w in enumerate(ws)})
    print(json.dumps({
        "devices": len(jax.devices()), "process": jax.process_index(),
        "sharding": type(model.get_layer("conv1").kernel.value.sharding).__name__,
        "logged_steps": callback.logged_steps, "trace_count": callback.logger.trace_count,
    }))
    """
)


def _run(tmp_path, mode: str, *args: str) -> list[dict]:
    """Runs SCRIPT once per process (``args``: their extra arguments); their JSON reports."""
    script = tmp_path / "distributed.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join([ROOT, TESTS, env.get("PYTHONPATH", "")]))
    base = [sys.executable, str(script), mode, str(tmp_path / "logs"), str(tmp_path / "weights.npz")]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    runs = [subprocess.Popen(base + list(a), env=env, **pipes) for a in args]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _check_one_writer_and_images(tmp_path) -> None:
    """One event file, steps 0..2 once each, pixels within one gray level of an undistributed capture."""
    from fmlogger import FeatureMapLogger

    run_dir = tmp_path / "logs" / tags.RUN_SUBDIR
    assert len([n for n in os.listdir(run_dir) if ".tfevents." in n]) == 1
    run = read_run(run_dir)
    assert feature_map_tags(run) == {"feature_maps/conv1", "feature_maps/conv2"}
    saved = np.load(tmp_path / "weights.npz")
    model, (x, _) = tiny_cnn(), tiny_data(16)
    with FeatureMapLogger(tmp_path / "reference", ["conv1", "conv2"], max_samples=2, background=False) as ref:
        for step in (0, 1, 2):
            model.set_weights([saved[f"{step}_{i}"] for i in range(len(model.weights))])
            ref.log(model, x[:2], step)
    reference = read_run(tmp_path / "reference" / tags.RUN_SUBDIR)
    for tag in feature_map_tags(run):
        assert image_steps(run, tag) == [0, 1, 2]  # each step once, not once per device or process
        for logged, expected in zip(run.images[tag], reference.images[tag]):
            assert logged.images.shape == expected.images.shape == (2,) + expected.images.shape[1:]
            difference = np.abs(logged.images.astype(int) - expected.images.astype(int))
            assert difference.max() <= 1, (tag, logged.step, difference.max())
            assert logged.images.std() > 0  # a picture, not a blank


def test_data_parallel_over_two_host_devices_logs_each_step_once(tmp_path):
    (report,) = _run(tmp_path, "devices", ())
    assert report == {
        "devices": 2, "process": 0, "sharding": "NamedSharding", "logged_steps": [0, 1, 2], "trace_count": 1,
    }
    _check_one_writer_and_images(tmp_path)


def test_two_jax_processes_only_process_0_captures_and_writes(tmp_path):
    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    chief, other = _run(tmp_path, "processes", ("0", port), ("1", port))
    assert chief == {
        "devices": 2, "process": 0, "sharding": "NamedSharding", "logged_steps": [0, 1, 2], "trace_count": 1,
    }
    assert other == {  # no capture traced, nothing logged
        "devices": 2, "process": 1, "sharding": "NamedSharding", "logged_steps": [], "trace_count": 0,
    }
    _check_one_writer_and_images(tmp_path)
