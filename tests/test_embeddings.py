"""Embeddings through FeatureMapCallback / FeatureMapLogger: schedule, views, metadata, t-SNE, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.views.embeddings import EmbeddingSettings, class_labels, predicted_classes
from helpers.models import tiny_cnn, tiny_data
from helpers.runs import read_run

TITLE_ROWS = 26  # the scatter's title band (it names the epoch); everything below is the plot


def test_predicted_classes():
    probs = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
    assert predicted_classes(probs).tolist() == [1, 0]
    assert predicted_classes(probs, np.array([1, 2])).tolist() == [1, 0]
    assert predicted_classes(probs, np.array([1, 5])) is None  # labels beyond the outputs: no classifier
    assert predicted_classes(np.array([[0.2], [0.9]]), np.array([0, 1])).tolist() == [0, 1]
    assert predicted_classes(np.array([[-2.0], [3.0]]), np.array([0, 1])).tolist() == [0, 1]  # logits
    assert predicted_classes(np.array([[0.2], [0.9]]), np.array([0.5, 1.5])) is None  # regression
    assert predicted_classes(np.array([[0.2], [0.9]])) is None
    assert class_labels(np.eye(3)[[2, 0]]).tolist() == [2, 0]  # one-hot


def test_callback_writes_projector_entries_and_views_on_schedule(tmp_path):
    from fmlogger.callback import FeatureMapCallback

    x, y = tiny_data(n=32)
    model = tiny_cnn()
    callback = FeatureMapCallback(
        tmp_path, x[:2], ["conv2"], max_samples=2, pca_rgb=True,
        embeddings=["conv1", "conv2"], embedding_data=(x, y), embeddings_every_n_epochs=2,
    )
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert callback.embedding_steps == [0, 2, 3]  # untrained, every 2nd epoch, and the last
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    for layer in ("conv1", "conv2"):
        assert [e.step for e in run.images[tags.embedding_pca_tag(layer)]] == [0, 2, 3]
        assert run.images[tags.embedding_pca_tag(layer)][0].images.shape == (1, 540, 720, 3)  # DEFAULT_SIZE
    assert [e.step for e in run.images[tags.pca_rgb_tag("conv2")]] == [0, 1, 2, 3]
    # 5x5 maps, x7 (the first factor reaching min_tile_size 32)
    assert run.images[tags.pca_rgb_tag("conv2")][0].images.shape == (2, 35, 35, 3)
    assert tags.pca_rgb_tag("conv1") not in run.images  # only the logged layers
    assert not any(tag.startswith(tags.EMBEDDING_TSNE_PREFIX) for tag in run.images)  # t-SNE is opt-in
    config = (tmp_path / tags.RUN_SUBDIR / "projector_config.pbtxt").read_text()
    names = [line.split('"')[1] for line in config.splitlines() if "tensor_name" in line]
    assert names == [f"{layer} @ epoch {e}" for e in (3, 2, 0) for layer in ("conv1", "conv2")]  # newest 1st
    metadata = (tmp_path / tags.RUN_SUBDIR / "projector" / "metadata-0.tsv").read_text().splitlines()
    assert metadata[0] == "label\tpredicted\tcorrect" and len(metadata) == 33
    label, predicted, correct = zip(*(line.split("\t") for line in metadata[1:]))
    assert list(label) == [str(v) for v in y]
    assert [c == "yes" for c in correct] == [p == lab for p, lab in zip(predicted, label)]


def test_unchanged_embedding_gives_the_same_scatter_at_every_step(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    x, y = tiny_data(n=48)
    model = tiny_cnn()
    logger = FeatureMapLogger(tmp_path, ["conv2"], embeddings=["conv2"], embedding_data=(x, y))
    first = logger.log_embeddings(model, 0)
    second = logger.log_embeddings(model, 1)  # no training in between
    assert np.array_equal(first["conv2"], second["conv2"])
    logger.close()
    events = read_run(tmp_path / tags.RUN_SUBDIR).images[tags.embedding_pca_tag("conv2")]
    a, b = events[0].images[0], events[1].images[0]
    assert np.array_equal(a[TITLE_ROWS:], b[TITLE_ROWS:])  # same points, no flip
    assert not np.array_equal(a[:TITLE_ROWS], b[:TITLE_ROWS])  # the title names the epoch
    # points are drawn in the label colours: 2 classes -> the first 2 palette colours appear
    from fmlogger.render.scatter import PALETTE

    plot = a[TITLE_ROWS:, :380]
    assert all(np.all(plot == c, axis=-1).sum() >= 21 for c in PALETTE[:2])


def test_tsne_starts_from_the_previous_layout(tmp_path):
    import keras

    keras.utils.set_random_seed(0)  # the layout's stability depends on the model: fix its weights
    x, y = tiny_data(n=40)
    model = tiny_cnn()
    from fmlogger.logger import FeatureMapLogger

    settings = EmbeddingSettings(layers=["conv2"], data=(x, y), tsne=True)
    logger = FeatureMapLogger(tmp_path, [], embeddings=settings)
    logger.log_embeddings(model, 0)
    first = logger.embeddings._tsne_views["conv2"].previous.copy()
    logger.log_embeddings(model, 1)
    second = logger.embeddings._tsne_views["conv2"].previous
    # Same data, seeded, started from the first layout: nearly the same picture after alignment.
    rms = np.sqrt(((first - second) ** 2).sum(1).mean()) / np.sqrt((first**2).sum(1).mean())
    assert rms < 0.1, rms
    logger.close()
    images = read_run(logger.run_dir).images[tags.embedding_tsne_tag("conv2")]
    assert [e.step for e in images] == [0, 1]


def test_dense_model_on_tabular_inputs_has_no_sprite_and_label_only_metadata(tmp_path):
    import keras

    from fmlogger.logger import FeatureMapLogger

    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))  # a regressor
    x = np.random.default_rng(0).random((20, 5)).astype(np.float32)
    names = np.array(["a\tb", "c"] * 10)
    logger = FeatureMapLogger(tmp_path, ["hidden"], embeddings=["hidden"], embedding_data=(x, names))
    out = logger.log_embeddings(model, 0)
    assert out["hidden"].shape == (20, 3)
    run_dir = tmp_path / tags.RUN_SUBDIR
    assert not (run_dir / "projector" / "sprite.png").exists()
    config = (run_dir / "projector_config.pbtxt").read_text()
    assert "sprite" not in config
    assert (run_dir / "projector" / "metadata-0.tsv").read_text().splitlines()[:2] == ["a\\tb", "c"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"embeddings": ["conv1"]}, r"embeddings=\[\.\.\.\] needs embedding_data=x or \(x, y\)"),
        ({"embeddings": ["conv1"], "embedding_data": "X", "embedding_pooling": "mean"},
         r"embedding_pooling must be one of \('avg', 'max', 'flatten'\)\. "
         r"Received: embedding_pooling='mean'"),
        ({"embeddings": ["conv1"], "embedding_data": "X", "embedding_max_points": 200_000},
         r"embedding_max_points must be at most 100,000 .*Received: embedding_max_points=200000"),
        ({"embeddings": [], "embedding_data": "X"},
         r"embeddings must name at least one layer\. Received: embeddings=\[\]"),
        ({"pca_rgb": 3}, r"pca_rgb must be True, False, or a list of layer paths\. Received: pca_rgb=3"),
    ],
)
def test_bad_options_fail_at_construction(tmp_path, options, message):
    from fmlogger.logger import FeatureMapLogger

    x, _ = tiny_data(n=4)
    options = {k: (x if v == "X" else v) for k, v in options.items()}
    with pytest.raises(ValueError, match=message):
        FeatureMapLogger(tmp_path, **options)


def test_unknown_embedding_layer_fails_before_the_first_epoch(tmp_path):
    from fmlogger.callback import FeatureMapCallback

    x, y = tiny_data(n=8)
    model = tiny_cnn()
    callback = FeatureMapCallback(tmp_path, x[:2], ["conv1"], embeddings=["conv3"], embedding_data=(x, y))
    with pytest.raises(
        ValueError,
        match=r"embeddings=\['conv3'\] \(name\) matches no layer of model 'tiny_cnn'\."
        r".*Layers: conv1, pool1, conv2",
    ):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert not os.path.exists(tmp_path / tags.RUN_SUBDIR / "projector_config.pbtxt")


def test_log_embeddings_without_configuration_says_what_to_pass(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    with pytest.raises(ValueError, match=r"embeddings=\[<layer>, \.\.\.\], embedding_data="):
        FeatureMapLogger(tmp_path).log_embeddings(tiny_cnn(), 0)


def test_demo_shows_embeddings_in_the_projector(tmp_path):
    from fmlogger.cli.demo import run_demo
    from fmlogger.runs.read import decode_png

    run_demo(str(tmp_path), epochs=1, verbose=0)
    run_dir = tmp_path / tags.RUN_SUBDIR
    config = (run_dir / "projector_config.pbtxt").read_text()
    names = [line.split('"')[1] for line in config.splitlines() if "tensor_name" in line]
    assert names == ["embedding @ epoch 1", "embedding @ epoch 0"]  # newest first
    assert config.count('image_path: "projector/sprite.png"') == 2
    metadata = (run_dir / "projector" / "metadata-1.tsv").read_text().splitlines()
    assert metadata[0] == "label\tpredicted\tcorrect" and len(metadata) == 361
    sprite = decode_png((run_dir / "projector" / "sprite.png").read_bytes())
    assert sprite.shape == (19 * 32, 19 * 32, 1)  # 360 digits: 19 columns of 32 px
    run = read_run(run_dir)
    assert [e.step for e in run.images[tags.embedding_pca_tag("embedding")]] == [0, 1]
    assert [e.step for e in run.images[tags.pca_rgb_tag("conv1")]] == [0, 1]
