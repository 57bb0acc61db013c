"""Projector files: pooling, metadata escaping, sprite limits, the cumulative checkpoint, and a
real TensorBoard serving them through the Projector plugin's HTTP API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from conftest import tiny_cnn, tiny_data
from fmlogger import tags
from fmlogger.sinks import projector
from fmlogger.sinks.projector import escape_label, make_sprite, metadata_tsv, pool, sprite_layout, to_uint8_images

# ----------------------------------------------------------------------------- pooling


def test_pool_modes_golden():
    a = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    # sample 0, channel 0 holds 0, 3, 6, 9: mean 4.5, max 9
    assert pool(a, "avg")[0].tolist() == [4.5, 5.5, 6.5]
    assert pool(a, "max")[0].tolist() == [9.0, 10.0, 11.0]
    assert pool(a, "flatten").shape == (2, 12) and pool(a, "flatten")[1, 0] == 12.0
    assert np.array_equal(pool(a.transpose(0, 3, 1, 2), "avg", "channels_first"), pool(a, "avg"))
    assert pool(np.ones((4, 7, 5)), "max").shape == (4, 5)  # sequences: over time
    dense = np.ones((3, 9), np.float64)
    assert pool(dense, "flatten").shape == (3, 9) and pool(dense, "avg").dtype == np.float32


def test_pool_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"embedding_pooling must be one of \('avg', 'max', 'flatten'\)\. Received: embedding_pooling='mean'"):
        pool(np.ones((2, 3)), "mean")


# ----------------------------------------------------------------------------- metadata


def test_escape_label():
    assert escape_label("a\tb") == "a\\tb"
    assert escape_label("line1\nline2\r") == "line1\\nline2\\r"
    assert escape_label(np.int64(7)) == "7"
    assert escape_label(b"cat") == "cat"
    assert escape_label("") == "(blank)" and escape_label("  ") == "(blank)"


def test_metadata_one_column_has_no_header():
    text = metadata_tsv({"label": [0, "a\tb", "x\ny"]})
    assert text == "0\na\\tb\nx\\ny\n"
    assert "\t" not in text  # the Projector reads a tab in line 1 as a header


def test_metadata_several_columns_have_exactly_one_header_row():
    text = metadata_tsv({"label": [1, 2], "pre\tdicted": [1, 0]})
    lines = text.splitlines()
    assert lines == ["label\tpre\\tdicted", "1\t1", "2\t0"]
    assert all(line.count("\t") == 1 for line in lines)


def test_metadata_columns_must_have_the_same_length():
    with pytest.raises(ValueError, match="same length"):
        metadata_tsv({"a": [1], "b": [1, 2]})


# ----------------------------------------------------------------------------- sprite


@pytest.mark.parametrize(
    "n, h, w, expected",
    [
        (100_000, 32, 32, (25, 25, 317)),  # 317 * 25 = 7925 <= 8192
        (10, 224, 224, (64, 64, 4)),  # capped at 64 px thumbnails
        (9, 20, 40, (20, 40, 3)),  # native size, aspect kept
        (100_000, 30, 60, (12, 25, 317)),  # longer side 25, aspect kept
    ],
)
def test_sprite_layout_stays_within_8192(n, h, w, expected):
    th, tw, cols = sprite_layout(n, h, w)
    assert (th, tw, cols) == expected
    rows = -(-n // cols)
    assert cols * tw <= 8192 and rows * th <= 8192


def test_make_sprite_respects_the_limit_and_places_thumbnails_row_by_row(rng):
    images = rng.integers(0, 256, size=(400, 16, 16, 1), dtype=np.uint8)
    sprite, (tw, th) = make_sprite(images, max_px=100)
    assert (tw, th) == (5, 5)  # 20 columns must fit in 100 px
    assert sprite.shape == (100, 100, 1)
    small, _ = make_sprite(images[:10])  # native 16 px: 4 columns, 3 rows, zero padding after
    assert small.shape == (48, 64, 1)
    assert np.array_equal(small[16:32, 32:48], images[6])  # thumbnail 6: row 1, column 2
    assert not small[32:48, 32:].any()


def test_to_uint8_images_scales_the_set_and_refuses_non_images():
    x = np.linspace(-1, 1, 2 * 4 * 4).reshape(2, 4, 4, 1)
    pixels = to_uint8_images(x)
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255
    assert to_uint8_images(np.ones((5, 10))) is None  # tabular inputs: no sprite
    assert to_uint8_images(np.ones((5, 8, 8, 7))) is None  # 7 channels are no image


# ----------------------------------------------------------------------------- writer


def test_writer_keeps_every_step_in_the_newest_bundle(tmp_path, rng):
    import tensorflow as tf

    writer = projector.ProjectorWriter(str(tmp_path))
    tensors = {step: rng.random((6, 3)).astype(np.float32) for step in range(4)}
    for step, tensor in tensors.items():
        names = writer.add(step, {"block/conv": tensor, "gap": tensor[:, :2]}, {"label": list("abcdef")})
        assert names == [f"block/conv @ epoch {step}", f"gap @ epoch {step}"]
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert latest == os.path.join(str(tmp_path), "projector", "embeddings-3")
    reader = tf.train.load_checkpoint(latest)
    assert len(reader.get_variable_to_shape_map()) == 8
    for step, tensor in tensors.items():
        assert np.array_equal(reader.get_tensor(f"block/conv @ epoch {step}"), tensor)
    # only the two newest bundles stay on disk; labels did not change, so one metadata file
    files = sorted(os.listdir(tmp_path / "projector"))
    assert [f for f in files if f.endswith(".index")] == ["embeddings-2.index", "embeddings-3.index"]
    assert [f for f in files if f.endswith(".tsv")] == ["metadata-0.tsv"]
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 8 and 'metadata_path: "projector/metadata-0.tsv"' in config
    assert "/" + str(tmp_path) not in config and ".." not in config  # relative, inside the run folder


def test_writer_resumes_and_replaces_a_step_logged_again(tmp_path, rng):
    import tensorflow as tf

    a, b, c = (rng.random((5, 2)).astype(np.float32) for _ in range(3))
    projector.ProjectorWriter(str(tmp_path)).add(1, {"conv": a})
    resumed = projector.ProjectorWriter(str(tmp_path))  # a second fit() in the same log_dir
    resumed.add(2, {"conv": b})
    resumed.add(2, {"conv": c})  # step 2 again: replaced, under a new bundle number
    assert resumed.entries() == ["conv @ epoch 1", "conv @ epoch 2"]
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path)))
    assert sorted(reader.get_variable_to_shape_map()) == ["conv @ epoch 1", "conv @ epoch 2"]
    assert np.array_equal(reader.get_tensor("conv @ epoch 1"), a)
    assert np.array_equal(reader.get_tensor("conv @ epoch 2"), c)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("embeddings-3")


# ----------------------------------------------------------------------------- real TensorBoard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Board:
    """A real TensorBoard on loopback, queried through the Projector plugin's routes."""

    def __init__(self, logdir):
        self.port = _free_port()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )

    def get(self, route, **query) -> bytes:
        url = f"http://127.0.0.1:{self.port}/data/plugin/projector{route}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    def wait_for_run(self, run, timeout=120.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"TensorBoard exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                runs = json.loads(self.get("/runs"))
                if run in runs:
                    return runs
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.25)  # polling a server that is starting up, not synchronising on a sleep
        raise TimeoutError(f"TensorBoard did not list run {run!r} within {timeout} s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _expected_pooled(model, layer, x):
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return np.asarray(sub(x, training=False)).mean(axis=(1, 2))


def test_tensorboard_projector_serves_every_layer_at_every_epoch(tmp_path):
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.runs.read import decode_png

    x, y = tiny_data(n=40)
    model = tiny_cnn()
    logger = FeatureMapLogger(
        tmp_path, ["conv2"], embeddings=["conv1", "conv2"], embedding_data=(x, y), max_samples=2,
    )
    written = {}
    for epoch in range(2):
        if epoch:
            model.fit(x, y, epochs=1, verbose=0)
        logger.log(model, x[:2], epoch)  # the event file the Projector needs to list the run
        written[epoch] = logger.log_embeddings(model, epoch)
        for layer in ("conv1", "conv2"):  # an independent computation agrees
            assert np.allclose(written[epoch][layer], _expected_pooled(model, layer, x), atol=1e-5)
    run = tags.RUN_SUBDIR
    board = _Board(tmp_path)
    try:
        assert run in board.wait_for_run(run)
        info = json.loads(board.get("/info", run=run))
        shapes = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
        assert shapes == {  # one [N, D] tensor per layer per epoch
            "conv1 @ epoch 0": [40, 4], "conv2 @ epoch 0": [40, 6],
            "conv1 @ epoch 1": [40, 4], "conv2 @ epoch 1": [40, 6],
        }
        for epoch, layers in written.items():
            for layer, pooled in layers.items():
                data = board.get("/tensor", run=run, name=f"{layer} @ epoch {epoch}", num_rows=40)
                assert data == pooled.astype(np.float32).tobytes()
        metadata = board.get("/metadata", run=run, name="conv2 @ epoch 1").decode().splitlines()
        assert metadata[0] == "label\tpredicted\tcorrect" and len(metadata) == 41
        assert [line.split("\t")[0] for line in metadata[1:]] == [str(v) for v in y]
        sprite = decode_png(board.get("/sprite_image", run=run, name="conv1 @ epoch 0"))
        assert sprite.shape == (6 * 16, 7 * 16, 1)  # 40 thumbnails of 16 px: 7 columns, 6 rows
        assert np.array_equal(sprite[:16, 16:32], to_uint8_images(x)[1])

        # While TensorBoard runs: a new epoch appears without a restart.
        model.fit(x, y, epochs=1, verbose=0)
        written[2] = logger.log_embeddings(model, 2)
        names = {e["tensorName"] for e in json.loads(board.get("/info", run=run))["embeddings"]}
        assert {"conv1 @ epoch 2", "conv2 @ epoch 2"} <= names and len(names) == 6
        data = board.get("/tensor", run=run, name="conv2 @ epoch 2", num_rows=40)
        assert data == written[2]["conv2"].tobytes()
    finally:
        board.stop()
        logger.close()
