"""Projector files: the cumulative checkpoint, the config, and a real TensorBoard serving them
through the Projector plugin's HTTP API."""

from __future__ import annotations

import json
import os
import urllib.parse

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.render.sprite import images_to_uint8
from fmlogger.sinks import projector
from helpers import tb_http
from helpers.models import tiny_cnn, tiny_data

# ----------------------------------------------------------------------------- writer


@pytest.mark.requires_tf  # TF checkpoint bundles (without TF: TSV entries, tests/test_backends.py)
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


@pytest.mark.requires_tf  # TF checkpoint bundles
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


def _projector(base, route, **query) -> bytes:
    """A route of the Projector plugin of the TensorBoard at ``base``."""
    return tb_http.get(f"{base}/data/plugin/projector{route}?{urllib.parse.urlencode(query)}")


def _expected_pooled(model, layer, x):
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return np.asarray(sub(x, training=False)).mean(axis=(1, 2))


@pytest.mark.slow  # a TensorBoard server
@pytest.mark.requires_tf  # live refresh needs TF checkpoint bundles (TSV entries: after a restart)
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
    server, base = tb_http.start_tensorboard(tmp_path)
    try:
        tb_http.wait_for(lambda: run in json.loads(_projector(base, "/runs")), server, f"the run {run!r}")
        info = json.loads(_projector(base, "/info", run=run))
        shapes = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
        assert shapes == {  # one [N, D] tensor per layer per epoch
            "conv1 @ epoch 0": [40, 4], "conv2 @ epoch 0": [40, 6],
            "conv1 @ epoch 1": [40, 4], "conv2 @ epoch 1": [40, 6],
        }
        for epoch, layers in written.items():
            for layer, pooled in layers.items():
                data = _projector(base, "/tensor", run=run, name=f"{layer} @ epoch {epoch}", num_rows=40)
                assert data == pooled.astype(np.float32).tobytes()
        metadata = _projector(base, "/metadata", run=run, name="conv2 @ epoch 1").decode().splitlines()
        assert metadata[0] == "label\tpredicted\tcorrect" and len(metadata) == 41
        assert [line.split("\t")[0] for line in metadata[1:]] == [str(v) for v in y]
        sprite = decode_png(_projector(base, "/sprite_image", run=run, name="conv1 @ epoch 0"))
        assert sprite.shape == (6 * 16, 7 * 16, 1)  # 40 thumbnails of 16 px: 7 columns, 6 rows
        assert np.array_equal(sprite[:16, 16:32], images_to_uint8(x)[1])

        # While TensorBoard runs: a new epoch appears without a restart.
        model.fit(x, y, epochs=1, verbose=0)
        written[2] = logger.log_embeddings(model, 2)
        names = {e["tensorName"] for e in json.loads(_projector(base, "/info", run=run))["embeddings"]}
        assert {"conv1 @ epoch 2", "conv2 @ epoch 2"} <= names and len(names) == 6
        data = _projector(base, "/tensor", run=run, name="conv2 @ epoch 2", num_rows=40)
        assert data == written[2]["conv2"].tobytes()
    finally:
        tb_http.stop(server)
        logger.close()


def test_config_lists_the_newest_step_first_and_resume_keeps_the_order(tmp_path, rng):
    """The Projector opens on the first config entry: the newest epoch, not the untrained one."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    writer = projector.ProjectorWriter(str(tmp_path))
    for step in range(3):
        writer.add(step, {"conv": rng.random((5, 2)).astype(np.float32)}, {"label": list("abcde")})
    resumed = projector.ProjectorWriter(str(tmp_path))
    resumed.add(3, {"conv": rng.random((5, 2)).astype(np.float32)}, {"label": list("abcde")})
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    listed = [e.tensor_name for e in config.embeddings]
    assert listed == [f"conv @ epoch {s}" for s in (3, 2, 1, 0)]
    assert resumed.entries() == listed[::-1]
