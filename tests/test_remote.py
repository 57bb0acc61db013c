"""A remote log dir gets everything a local one gets: event file, Projector files, run state, rows.

No network: the URL names a file system that the installed file layer (``fmlogger._paths.gfile``)
really implements, in-process or on the local disk. With TensorFlow installed that layer is
``tf.io.gfile`` and the URL is ``file://<tmp>`` (its local file system, reached as a URL: the
remote code path, with the Projector's checkpoint bundles written by TensorFlow's own ops).
TensorFlow's in-memory ``ram://`` is not used: in TensorFlow 2.21 rewriting a file there appends
to it, and listing a folder matches names by prefix (``projector`` lists ``_config.pbtxt`` of
``projector_config.pbtxt``). Without TensorFlow (the JAX run of ``scripts/test-backend``) the layer
is TensorBoard's own, whose fsspec bridge serves ``memory://`` (fsspec's in-memory file system)
and ``file://``; Projector tensors are TSV files there. Everything is read back through the same
URL: the events by TensorBoard's own reader.
"""

from __future__ import annotations

import importlib.util
import io
import json
import uuid

import numpy as np
import pytest

from fmlogger import tags
from fmlogger._paths import exists, join, listdir, read_bytes
from helpers.models import tiny_cnn, tiny_data

HAS_TF = importlib.util.find_spec("tensorflow") is not None
HAS_FSSPEC = importlib.util.find_spec("fsspec") is not None


@pytest.fixture(
    params=[
        "file",
        pytest.param(
            "memory", marks=pytest.mark.skipif(HAS_TF or not HAS_FSSPEC, reason="TensorBoard's own file "
                                               "layer (no TensorFlow) with fsspec serves memory://"),
        ),
    ]
)
def remote_log_dir(request, tmp_path):
    if request.param == "file":
        if not (HAS_TF or HAS_FSSPEC):
            pytest.skip("file:// URLs need TensorFlow's file layer or fsspec")
        return f"file://{tmp_path}/logs"
    return f"memory://bucket-{uuid.uuid4().hex[:8]}/logs"


def _tensorboard_steps(run_dir: str) -> dict[str, list[int]]:
    """``{tag: steps}`` of every image tag, as TensorBoard's reader loads them through the URL."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {
        tag: sorted(e.step for e in acc.Tensors(tag))
        for tag in acc.Tags()[pea.TENSORS]
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "images"
    }


def _projector_tensors(run_dir: str) -> dict[str, np.ndarray]:
    """``{tensor_name: [N, D] array}`` of the config, from its TSV files or the newest bundle."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    text = read_bytes(join(run_dir, "projector_config.pbtxt")).decode()
    config = text_format.Parse(text, ProjectorConfig())
    out = {}
    names = listdir(join(run_dir, "projector"))  # unused metadata and old bundles were removed:
    assert {f"projector/{n}" for n in names if n.startswith("metadata-")} == {
        e.metadata_path for e in config.embeddings
    }
    assert len([n for n in names if n.endswith(".index")]) <= 2  # the two newest bundles (TensorFlow)
    for embedding in config.embeddings:
        for path in (embedding.metadata_path, embedding.sprite.image_path):
            assert exists(join(run_dir, path)), path
        if embedding.tensor_path:  # no TensorFlow: TSV
            data = np.loadtxt(io.BytesIO(read_bytes(join(run_dir, embedding.tensor_path))), ndmin=2)
            assert list(data.shape) == list(embedding.tensor_shape)
            out[embedding.tensor_name] = data
        else:
            import tensorflow as tf

            state = read_bytes(join(run_dir, "checkpoint")).decode()
            prefix = join(run_dir, state.split('"')[1])
            out[embedding.tensor_name] = tf.compat.v1.train.NewCheckpointReader(prefix).get_tensor(
                embedding.tensor_name
            )
    return out


def test_a_remote_log_dir_gets_feature_maps_projector_files_and_state_and_resumes(remote_log_dir, caplog):
    import keras
    from PIL import Image

    from fmlogger import FeatureMapCallback
    from fmlogger.sinks.state import load_state
    from fmlogger.sinks.timeline_rows import load_rows

    keras.utils.set_random_seed(0)
    x, y = tiny_data(16)
    model = tiny_cnn()
    options = {
        "layers": ["conv1", "conv2"], "max_samples": 4, "channel_order": "top_k", "normalize": "fixed",
        "max_channels": 3, "embeddings": ["conv2"], "embedding_data": (x[:6], y[:6]), "on_error": "raise",
    }
    first = FeatureMapCallback(remote_log_dir, (x, y), **options)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[first])
    run_dir = first.logger.run_dir
    assert run_dir == f"{remote_log_dir}/{tags.RUN_SUBDIR}"
    steps = _tensorboard_steps(run_dir)
    assert steps["feature_maps/conv1"] == steps["feature_maps/conv2"] == [0, 1, 2]
    assert steps[tags.embedding_pca_tag("conv2")] == [0, 1, 2]
    assert len([n for n in listdir(run_dir) if ".tfevents." in n]) == 1

    tensors = _projector_tensors(run_dir)
    assert sorted(tensors) == [f"conv2 @ epoch {s}" for s in (0, 1, 2)]
    assert {t.shape for t in tensors.values()} == {(6, 6)}  # 6 points, conv2's 6 channels pooled
    metadata = read_bytes(join(run_dir, "projector", "metadata-0.tsv")).decode().splitlines()
    assert metadata[0] == "label\tpredicted\tcorrect" and [m.split("\t")[0] for m in metadata[1:]] == [
        str(v) for v in y[:6]
    ]
    sprite = Image.open(io.BytesIO(read_bytes(join(run_dir, "projector", "sprite.png"))))
    assert sprite.size == (48, 32)  # 6 thumbnails of 16 x 16: 3 columns (ceil(sqrt(6))), 2 rows
    expected_files = {tags.STATE_FILE, tags.TIMELINES_FILE, "projector_config.pbtxt", "projector"}
    assert expected_files <= set(listdir(run_dir))

    state = json.loads(read_bytes(join(run_dir, tags.STATE_FILE)))
    chosen, value_range = state["layers"]["conv2"]["channels"], state["layers"]["conv2"]["fixed_range"]
    assert len(chosen) == 3 and load_rows(run_dir)["conv2"].steps == [0, 1, 2]

    resumed = FeatureMapCallback(remote_log_dir, (x, y), **options)
    model.fit(x, y, epochs=3, initial_epoch=2, batch_size=8, verbose=0, callbacks=[resumed])
    assert resumed.logged_steps == [3]
    assert _tensorboard_steps(run_dir)["feature_maps/conv2"] == [0, 1, 2, 3]
    state = load_state(run_dir)  # the first run's choice and range, read back through the URL
    assert (state["layers"]["conv2"]["channels"], state["layers"]["conv2"]["fixed_range"]) == (
        chosen, value_range
    )
    assert list(resumed.logger.renderer.state()["conv2"]["channels"]) == chosen
    assert load_rows(run_dir)["conv2"].steps == [0, 1, 2, 3]  # the timeline went on with its rows
    assert sorted(_projector_tensors(run_dir)) == [f"conv2 @ epoch {s}" for s in (0, 1, 2, 3)]
    assert "not a local folder" not in caplog.text
