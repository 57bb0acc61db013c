"""Sequence and attention models: RNN cells logged at every timestep, attention heads as heatmaps.

Real tiny models (an LSTM stack, a ViT-style block with ``keras.layers.MultiHeadAttention``) are
logged into a temporary folder, the event files read back, and the decoded pixels compared with
the activations computed independently in numpy (the LSTM recurrence, the attention einsums),
normalized per map and quantized as the renderer documents (``round(v * 255)``), within one gray
level.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fmlogger import FeatureMapCallback, FeatureMapLogger, layer_paths, tags  # noqa: E402
from fmlogger.render.timeline import frame_tiles  # noqa: E402
from helpers.runs import read_run  # noqa: E402

T, FEATURES, UNITS = 6, 3, 4
TOKENS, HEADS, KEY_DIM = 16, 4, 4


def _codes(maps: np.ndarray) -> np.ndarray:
    """per_map normalization of ``[..., h, w]`` maps over their last two axes, as gray levels."""
    lo = maps.min(axis=(-2, -1), keepdims=True)
    hi = maps.max(axis=(-2, -1), keepdims=True)
    return np.floor((maps - lo) / np.where(hi > lo, hi - lo, 1) * 255 + 0.5)


def _images(run_dir, tag):
    return read_run(run_dir / tags.RUN_SUBDIR).images[tag][0].images


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _lstm(x, layer, return_sequences=True):
    """Keras' LSTM in numpy (gates i, f, c, o; tanh and sigmoid): the outputs ``[n, t, units]``."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    units = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def lstm_model():
    inputs = keras.Input((T, FEATURES))
    seq = keras.layers.LSTM(5, return_sequences=True, name="lstm_seq")(inputs)
    last = keras.layers.LSTM(UNITS, name="lstm")(seq)  # return_sequences=False: only the last step
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(last))


def test_lstm_cell_logs_every_timestep_as_a_time_by_channels_heatmap(tmp_path):
    model = lstm_model()
    x = np.random.default_rng(0).normal(size=(2, T, FEATURES)).astype(np.float32)
    before = np.asarray(model(x))
    logger = FeatureMapLogger(tmp_path, ["lstm_seq", "lstm/lstm_cell", "lstm"], min_tile_size=12, padding=1)
    logger.log(model, x, 0)
    logger.close()
    np.testing.assert_array_equal(np.asarray(model(x)), before)  # the hooks are gone, the model unchanged
    seq = _lstm(x.astype(np.float64), model.get_layer("lstm_seq"))
    cell = _lstm(seq, model.get_layer("lstm"))  # the inner LSTM at every timestep
    for tag, expected in (("feature_maps/lstm_seq", seq), ("feature_maps/lstm/lstm_cell", cell)):
        images = _images(tmp_path, tag)
        channels = expected.shape[2]
        sy, sx = -(-12 // channels), -(-12 // T)  # each side upscaled to >= min_tile_size=12
        assert images.shape == (2, 1 + channels * sy + 1, 1 + T * sx + 1, 1), tag
        heat = images[:, 1 : 1 + channels * sy : sy, 1 : 1 + T * sx : sx, 0]  # channels down, time across
        want = _codes(expected.transpose(0, 2, 1))
        assert np.abs(heat.astype(int) - want).max() <= 1, tag
    strip = _images(tmp_path, "feature_maps/lstm")  # the layer itself: its last step, one cell per unit
    assert strip.shape[1:3] == (1 + 12 + 1, 1 + UNITS * 3 + 1)
    want = _codes(cell[:, -1][:, None, :])[:, 0]
    assert np.abs(strip[:, 1, 1 : 1 + UNITS * 3 : 3, 0].astype(int) - want).max() <= 1


def test_a_layer_inside_stacked_cells_is_refused_naming_what_to_choose(tmp_path):
    cells = keras.layers.StackedRNNCells([keras.layers.LSTMCell(4), keras.layers.LSTMCell(3)])
    model = keras.Sequential([keras.Input((T, FEATURES)), keras.layers.RNN(cells, name="rnn")])
    logger = FeatureMapLogger(tmp_path, ["rnn/stacked_rnn_cells/lstm_cell"])
    with pytest.raises(ValueError) as info:
        logger.log(model, np.zeros((2, T, FEATURES), np.float32), 0)
    logger.close()
    message = str(info.value)
    assert "'rnn/stacked_rnn_cells/lstm_cell' runs once per timestep" in message
    assert "'rnn' with return_sequences=True" in message and "'rnn/stacked_rnn_cells'" in message
    assert "Received: layers=['rnn/stacked_rnn_cells/lstm_cell']" in message


def test_the_cell_of_a_bidirectional_gru_logs_every_timestep(tmp_path):
    inputs = keras.Input((T, FEATURES))
    bi = keras.layers.Bidirectional(keras.layers.GRU(UNITS), name="bi")
    model = keras.Model(inputs, bi(inputs))
    x = np.random.default_rng(1).normal(size=(2, T, FEATURES)).astype(np.float32)
    logger = FeatureMapLogger(tmp_path, ["bi/forward_gru/gru_cell"], min_tile_size=1, padding=0)
    logger.log(model, x, 0)
    logger.close()
    images = _images(tmp_path, "feature_maps/bi/forward_gru/gru_cell")
    assert images.shape == (2, UNITS, T, 1)
    sequence = keras.layers.GRU(UNITS, return_sequences=True)
    sequence.build((None, T, FEATURES))
    sequence.set_weights(bi.forward_layer.get_weights())
    want = _codes(np.asarray(sequence(x), np.float64).transpose(0, 2, 1))
    assert np.abs(images[..., 0].astype(int) - want).max() <= 1


def vit_block():
    """16x16 image -> 4x4 patches of 8 -> 16 tokens -> 4-head attention (dropout: scores are a layer)."""
    inputs = keras.Input((16, 16, 1))
    patches = keras.layers.Conv2D(8, 4, strides=4, name="patchify")(inputs)
    tokens = keras.layers.Reshape((TOKENS, 8), name="tokens")(patches)
    attended = keras.layers.MultiHeadAttention(HEADS, KEY_DIM, dropout=0.1, name="mha")(tokens, tokens)
    pooled = keras.layers.GlobalAveragePooling1D(name="gap")(attended)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(pooled))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _projection(tokens, dense):
    kernel, bias = dense.get_weights()  # [features, heads, dim], [heads, dim]
    return np.einsum("ntf,fhd->nthd", tokens, kernel.astype(np.float64)) + bias


def _heads_grid(images, tile_h, tile_w, sy, sx):
    """The 2 x 2 grid of head tiles (1 px padding) -> ``[n, heads, tile_h, tile_w]``, one pixel per value."""
    step_h, step_w = tile_h * sy + 1, tile_w * sx + 1
    tiles = [
        images[:, 1 + r * step_h :, 1 + c * step_w :][:, : tile_h * sy : sy, : tile_w * sx : sx, 0]
        for r in range(2)
        for c in range(2)
    ]
    return np.stack(tiles, axis=1).astype(int)


def test_attention_heads_are_drawn_as_one_heatmap_per_head(tmp_path):
    model = vit_block()
    x = np.random.default_rng(2).random((2, 16, 16, 1), dtype=np.float32)
    # Keras names the scores' Softmax "softmax", or "softmax_1", ... when other models used the name
    softmax = next(p for p in layer_paths(model) if p.startswith("mha/softmax"))
    logger = FeatureMapLogger(tmp_path, ["mha/query", softmax], min_tile_size=16, padding=1)
    logger.log(model, x, 0)
    logger.close()
    mha = model.get_layer("mha")
    tokens = np.asarray(keras.Model(model.inputs[0], model.get_layer("tokens").output)(x), np.float64)
    query = _projection(tokens, mha.query_dense)  # [n, tokens, heads, dim]
    key = _projection(tokens, mha.key_dense)
    logits = np.einsum("nthd,nshd->nhts", query, key) / np.sqrt(KEY_DIM)
    scores = np.exp(logits - logits.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)  # [n, heads, queries, keys]

    # [n, 16 tokens, 4 heads, 4 dim]: 4 tiles of dim (down) x tokens (across), 4 x 16 -> 16 x 16 px
    # (rows x4 to reach min_tile_size=16), in a 2 x 2 grid: 1 + 2 * (16 + 1) = 35 px a side.
    images = _images(tmp_path, "feature_maps/mha/query")
    assert images.shape == (2, 35, 35, 1)
    want = _codes(query.transpose(0, 2, 3, 1))  # [n, heads, dim, tokens]
    assert np.abs(_heads_grid(images, KEY_DIM, TOKENS, 4, 1) - want).max() <= 1
    # [n, 4 heads, 16 queries, 16 keys]: 4 tiles of keys (down) x queries (across), 16 x 16 px.
    images = _images(tmp_path, tags.image_tag(softmax))
    assert images.shape == (2, 35, 35, 1)
    want = _codes(scores.transpose(0, 1, 3, 2))
    assert np.abs(_heads_grid(images, TOKENS, TOKENS, 1, 1) - want).max() <= 1


def test_a_dense_projection_to_heads_after_fit_is_a_heads_heatmap_with_a_timeline(tmp_path):
    inputs = keras.Input((TOKENS, 8))
    shape = (TOKENS, HEADS, KEY_DIM)  # [n, tokens, heads, dim], as a ViT block's query
    heads = keras.layers.EinsumDense("abc,cde->abde", shape, bias_axes="de", name="heads")(inputs)
    flat = keras.layers.Flatten(name="flat")(heads)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(flat))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, TOKENS, 8)).astype(np.float32), rng.integers(0, 2, 8)
    callback = FeatureMapCallback(tmp_path, x[:2], ["heads"], min_tile_size=16, padding=1)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback])
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    events = run.images["feature_maps/heads"]
    assert [e.step for e in events] == [0, 1]
    images = events[-1].images  # after the epoch: the trained weights
    kernel, bias = model.get_layer("heads").get_weights()
    want = _codes((np.einsum("ntf,fhd->nthd", x[:2].astype(np.float64), kernel) + bias).transpose(0, 2, 3, 1))
    assert images.shape == (2, 35, 35, 1)
    assert np.abs(_heads_grid(images, KEY_DIM, TOKENS, 4, 1) - want).max() <= 1
    frame = callback.logger.pipeline.views[0].renderer.render("heads", np.zeros((1, TOKENS, HEADS, KEY_DIM)))
    assert frame.kind == "heads" and frame.channels == (0, 1, 2, 3)
    assert frame_tiles(frame, cols=None, padding=1).shape == (HEADS, 16, 16, 1)  # the timeline's columns
    assert tags.timeline_tag("heads") in run.images
