"""Projector files: run folders named with glob characters, ``embedding_keep_last`` pruning, and a
run folder deleted while training."""

import os
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from fmlogger import FeatureMapCallback, tags  # noqa: E402
from fmlogger.sinks.projector import ProjectorWriter  # noqa: E402
from helpers.models import tiny_cnn, tiny_data  # noqa: E402


def config_entries(run_dir):
    """``[(tensor_name, metadata_path)]`` listed in the run's Projector config."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = ProjectorConfig()
    with open(os.path.join(run_dir, "projector_config.pbtxt"), encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    return [(e.tensor_name, e.metadata_path) for e in config.embeddings]


def test_glob_characters_in_log_dir_and_keep_last_prune_every_older_file(tmp_path):
    log_dir = tmp_path / "runs" / "exp[1]"
    x, y = tiny_data(n=8)
    cb = FeatureMapCallback(
        log_dir, x[:2], ["conv2"], max_samples=2, embeddings=["conv2"], embedding_data=(x, y),
        embedding_keep_last=2,
    )
    tiny_cnn().fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[cb])
    assert cb.embedding_steps == [0, 1, 2, 3, 4]
    run_dir = str(log_dir / tags.RUN_SUBDIR)
    entries = config_entries(run_dir)
    assert [name for name, _ in entries] == ["conv2 @ epoch 4", "conv2 @ epoch 3"]  # newest first
    files = sorted(os.listdir(os.path.join(run_dir, tags.PROJECTOR_SUBDIR)))
    metadata = sorted({path.split("/")[-1] for _, path in entries})
    # TensorBoard's Projector globs checkpoint paths (it would not list bundles under exp[1]):
    # this run's tensors are TSV files named by the config (test_projector_glob serves them).
    tensors = sorted(f for f in files if f.startswith("tensor-"))
    assert tensors == ["tensor-3-0.tsv", "tensor-4-0.tsv"]  # no file of an older epoch
    assert sorted(f for f in files if f.startswith("metadata-")) == metadata
    assert not [f for f in files if f.startswith("embeddings-")] and len(files) <= 2 + 2 + 1  # + sprite
    loaded = [np.loadtxt(os.path.join(run_dir, tags.PROJECTOR_SUBDIR, f)) for f in tensors]
    assert [a.shape for a in loaded] == [(8, 6)] * 2


def test_run_folder_deleted_mid_run_leaves_no_entry_pointing_at_gone_files(tmp_path, rng):
    run_dir = str(tmp_path / "run")
    writer = ProjectorWriter(run_dir)
    for step in range(2):
        writer.add(step, {"conv": rng.random((4, 3)).astype(np.float32)}, {"label": [step, 1, 2, 3]})
    shutil.rmtree(run_dir)
    tensor = rng.random((4, 3)).astype(np.float32)
    writer.add(2, {"conv": tensor}, {"label": [9, 1, 2, 3]})
    entries = config_entries(run_dir)
    assert [name for name, _ in entries] == ["conv @ epoch 2"]
    assert all(os.path.exists(os.path.join(run_dir, path)) for _, path in entries)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(run_dir))
    np.testing.assert_array_equal(reader.get_tensor("conv @ epoch 2"), tensor)
    assert list(reader.get_variable_to_shape_map()) == ["conv @ epoch 2"]


def test_keep_last_is_checked_at_construction(tmp_path):
    x, y = tiny_data(n=4)
    with pytest.raises(ValueError, match="keep_last must be"):
        FeatureMapCallback(
            tmp_path, x, ["conv2"], embeddings=["conv2"], embedding_data=(x, y), embedding_keep_last=-1
        )
