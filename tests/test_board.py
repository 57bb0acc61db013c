"""``fmlogger board``: TensorBoard started with enough image samples for every logged step."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.cli import board
from helpers import tb_http
from helpers.models import tiny_cnn, tiny_data

STEPS = 30


@pytest.fixture(scope="module")
def thirty_steps(tmp_path_factory):
    from fmlogger.logger import FeatureMapLogger

    log_dir = tmp_path_factory.mktemp("board30")
    rng = np.random.default_rng(1)
    with FeatureMapLogger(log_dir, max_samples=1, max_channels=2) as logger:
        for step in range(STEPS):
            logger.log_arrays({"conv": rng.random((1, 4, 4, 3), dtype=np.float32)}, step)
    return log_dir


def test_counts_steps_per_image_tag(thirty_steps):
    counts = board.image_step_counts(str(thirty_steps))
    assert counts == {
        (tags.RUN_SUBDIR, tags.image_tag("conv")): STEPS,
        (tags.RUN_SUBDIR, tags.timeline_tag("conv")): STEPS,
    }
    assert board.samples_needed(str(thirty_steps)) == STEPS + 100  # headroom: max(30, 100)
    assert board.samples_needed(str(thirty_steps / "missing")) == 100


def test_tensorboard_flags():
    argv = board.tensorboard_argv("runs", port=6007, samples=130)
    assert argv == [
        "--logdir",
        "runs",
        "--host",
        "127.0.0.1",
        "--samples_per_plugin",
        "images=130",
        "--port",
        "6007",
    ]


@pytest.mark.slow  # a TensorBoard server
def test_fmlogger_board_serves_all_steps(thirty_steps):
    port = tb_http.free_port()
    server = tb_http.popen(
        [sys.executable, "-m", "fmlogger", "board", "--logdir", str(thirty_steps), "--port", str(port)]
    )
    try:
        line = server.stdout.readline()
        while line and "TensorBoard at" not in line:
            line = server.stdout.readline()
        match = re.search(r"TensorBoard at (http://\S+?)/? \(images: up to (\d+) steps", line)
        assert match, f"no URL printed: {line!r}"
        base, samples = match.group(1).rstrip("/"), int(match.group(2))
        assert base == f"http://127.0.0.1:{port}" and samples == STEPS + 100

        def all_steps():
            entries = tb_http.image_entries(base, tags.RUN_SUBDIR, tags.image_tag("conv"))
            return entries if len(entries) == STEPS else None

        entries = tb_http.wait_for(all_steps, server, f"{STEPS} steps of feature_maps/conv")
        assert [e["step"] for e in entries] == list(range(STEPS))
        first = tb_http.individual_image(base, entries[0])
        assert first.ndim == 3 and first.dtype == np.uint8
    finally:
        tb_http.stop(server)


def test_board_rejects_missing_logdir(tmp_path, capsys):
    from fmlogger.cli.main import main

    assert main(["board", "--logdir", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "params, every_n_epochs, every_n_batches, expected",
    [
        ({"epochs": 30}, 1, None, 31),  # step 0 + one per epoch
        ({"epochs": 9}, 1, None, 10),
        ({"epochs": 50}, 5, None, 11),
        ({"epochs": 7}, 2, None, 5),  # 0, 2, 4, 6 and the last epoch 7
        ({"epochs": 2, "steps": 100}, 1, 10, 21),
        ({"epochs": 1, "steps": 13}, 1, 5, 4),  # 0, 5, 10 and the last batch 13
    ],
)
def test_planned_steps(params, every_n_epochs, every_n_batches, expected):
    assert board.planned_steps(params, every_n_epochs, every_n_batches) == expected


def test_callback_prints_hint_once_when_more_than_10_steps(tmp_path, capsys):
    from fmlogger.callback import FeatureMapCallback

    x, _y = tiny_data(4)
    model = tiny_cnn()
    many = FeatureMapCallback(tmp_path / "many", x, ["conv1"])
    many.set_model(model)
    many.set_params({"epochs": 30, "steps": 1, "verbose": 0})
    many.on_train_begin()
    out = capsys.readouterr().out
    assert "up to 31 steps will be logged" in out and f"fmlogger board --logdir {tmp_path / 'many'}" in out
    many.on_train_begin()  # a second fit on the same folder: no repeat
    assert capsys.readouterr().out == ""

    few = FeatureMapCallback(tmp_path / "few", x, ["conv1"])
    few.set_model(model)
    few.set_params({"epochs": 9, "steps": 1, "verbose": 0})
    few.on_train_begin()
    assert capsys.readouterr().out == ""
