"""A real TensorBoard's Projector serves the embeddings of a run whose log dir holds glob
characters (``runs/exp[1]``): its run list, every layer's tensor and the metadata. (TensorBoard
globs checkpoint paths, so such a run's tensors are TSV entries: ``sinks/projector.py``.)"""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pytest

from fmlogger import FeatureMapCallback, tags
from helpers import tb_http
from helpers.models import tiny_cnn, tiny_data

pytestmark = [pytest.mark.slow, pytest.mark.requires_tf]  # a TensorBoard server; checkpoint bundles


def _projector(base: str, route: str, **query) -> bytes:
    return tb_http.get(f"{base}/data/plugin/projector{route}?{urllib.parse.urlencode(query)}")


def _pooled(model, layer: str, x) -> np.ndarray:
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return np.asarray(sub(x, training=False)).mean(axis=(1, 2)).astype(np.float32)


def test_tensorboard_projector_serves_a_run_under_exp_1(tmp_path):
    x, y = tiny_data(n=12)
    model = tiny_cnn()
    callback = FeatureMapCallback(
        tmp_path / "runs" / "exp[1]", x[:2], ["conv2"], embeddings=["conv2"], embedding_data=(x, y)
    )
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[callback])
    assert callback.embedding_steps == [0, 1, 2]
    expected = _pooled(model, "conv2", x)  # the trained model: epoch 2's entry
    run = f"exp[1]/{tags.RUN_SUBDIR}"
    server, base = tb_http.start_tensorboard(tmp_path / "runs")
    try:
        ingested = lambda: run in tb_http.get_json(f"{base}/data/runs")  # noqa: E731
        tb_http.wait_for(ingested, server, f"TensorBoard to load the run {run!r}")
        assert json.loads(_projector(base, "/runs")) == [run]
        info = json.loads(_projector(base, "/info", run=run))
        names = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
        assert names == {f"conv2 @ epoch {step}": [12, 6] for step in range(3)}
        data = _projector(base, "/tensor", run=run, name="conv2 @ epoch 2", num_rows=12)
        np.testing.assert_allclose(np.frombuffer(data, np.float32).reshape(12, 6), expected, atol=1e-5)
        metadata = _projector(base, "/metadata", run=run, name="conv2 @ epoch 2").decode().splitlines()
        assert [line.split("\t")[0] for line in metadata[1:]] == [str(v) for v in y]
    finally:
        tb_http.stop(server)
