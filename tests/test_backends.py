"""Every Keras backend (TensorFlow, JAX, PyTorch): fit with the callback, event files and Projector
files without TensorFlow, and the errors for what cannot run.

The session's backend is ``KERAS_BACKEND`` (``.ci/run`` runs this file under TensorFlow and JAX,
``scripts/test-backend torch`` under PyTorch); checks that need another backend start a fresh
interpreter.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
import urllib.parse

import numpy as np
import pytest

from helpers import tb_http
from helpers.backend import BACKEND, TRACES

keras = pytest.importorskip("keras")

from fmlogger import tags  # noqa: E402


def _nested_model():
    """``stem`` (top level, 4-D) -> ``backbone`` (nested: conv1, conv2) -> gap -> head (2 classes)."""
    keras.utils.set_random_seed(0)
    bb_in = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(bb_in)
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv2")(h)
    backbone = keras.Model(bb_in, h, name="backbone")
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="stem")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(backbone(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(x), name="outer")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def _tensorboard_images(run_dir) -> dict:
    """``{tag: {step: uint8 [n, h, w, c]}}`` as TensorBoard's own reader loads them."""
    from PIL import Image
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(os.fspath(run_dir), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    out: dict = {}
    for tag in acc.Tags()[pea.TENSORS]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "images":
            continue
        for event in acc.Tensors(tag):
            pngs = tensor_util.make_ndarray(event.tensor_proto)[2:]
            decoded = [np.asarray(Image.open(io.BytesIO(p))) for p in pngs]
            decoded = [d[..., None] if d.ndim == 2 else d for d in decoded]
            out.setdefault(tag, {})[event.step] = np.stack(decoded)
    return out


def test_fit_writes_feature_maps_saliency_and_gradcam_that_tensorboard_reads(tmp_path):
    from fmlogger import FeatureMapCallback
    from fmlogger.render.renderer import Renderer

    model = _nested_model()
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 12, 12, 1), dtype=np.float32), rng.integers(0, 2, 16)
    cb = FeatureMapCallback(
        tmp_path, (x[:3], y[:3]), ["stem", "backbone/conv2"], max_samples=3,
        saliency=["vanilla"], gradcam=["backbone/conv2"], on_error="raise",
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])

    images = _tensorboard_images(tmp_path / tags.RUN_SUBDIR)
    maps = ("feature_maps/stem", "feature_maps/backbone/conv2")
    for tag in maps + ("saliency/vanilla", "gradcam/backbone/conv2"):
        assert sorted(images[tag]) == [0, 1, 2], tag
        assert all(a.shape[0] == 3 and a.dtype == np.uint8 for a in images[tag].values()), tag
    # Step 2 shows the trained weights (not the ones of the first trace): the same layer computed
    # eagerly now, drawn by the same renderer, gives the same pixels.
    stem = keras.ops.convert_to_numpy(model.get_layer("stem")(x[:3]))
    assert not np.array_equal(images["feature_maps/stem"][0], images["feature_maps/stem"][2])
    np.testing.assert_array_equal(images["feature_maps/stem"][2], Renderer().render("stem", stem).images)
    conv2 = model.get_layer("backbone").get_layer("conv2")
    sub = keras.Model(model.get_layer("backbone").inputs[0], conv2.output)
    nested = keras.ops.convert_to_numpy(sub(stem))
    np.testing.assert_array_equal(
        images["feature_maps/backbone/conv2"][2], Renderer().render("backbone/conv2", nested).images
    )
    assert cb.logger.trace_count == TRACES  # one trace for 3 steps (new weights are arguments)


def test_capture_outputs_are_numpy_float32_for_mixed_precision():
    from fmlogger.capture.traced import Capture

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _nested_model()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(1).random((2, 12, 12, 1), dtype=np.float32)
    out = Capture(model, ["stem", "backbone/conv1"], x)(x)
    assert {k: (type(v), v.dtype, v.shape) for k, v in out.items()} == {
        "stem": (np.ndarray, np.float32, (2, 12, 12, 3)),
        "backbone/conv1": (np.ndarray, np.float32, (2, 12, 12, 4)),
    }
    ref = keras.ops.convert_to_numpy(keras.ops.cast(model.get_layer("stem")(x), "float32"))
    np.testing.assert_allclose(out["stem"], ref, atol=1e-6)


def test_saliency_matches_the_backends_own_gradient_of_a_linear_model():
    from fmlogger.explain.saliency import Saliency

    # d softmax_c / d x of a linear model, computed here in numpy: w_c - sum_k p_k w_k, times p_c
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4, 4, 1))
    logits = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    x = np.random.default_rng(2).random((5, 4, 4, 1), dtype=np.float32)
    w, b = (keras.ops.convert_to_numpy(v) for v in model.get_layer("dense").weights)
    z = x.reshape(5, 16) @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = p[:, 1:2] * (w[:, 1][None] - p @ w.T)
    got = Saliency(model, batch_size=2).vanilla(x, 1).reshape(5, 16)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def _run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=dict(tb_http.popen_env(), **env),
    )


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="Keras' numpy backend imports jax")
def test_a_backend_fmlogger_does_not_support_fails_before_any_step(tmp_path):
    done = _run_python(
        f"""
        import numpy as np, keras
        from fmlogger import FeatureMapLogger
        model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv")])
        logger = FeatureMapLogger({str(tmp_path)!r}, ["conv"])
        logger.log(model, np.zeros((1, 6, 6, 1), np.float32), 0)
        """,
        KERAS_BACKEND="numpy",
    )
    assert done.returncode == 1
    assert (
        "RuntimeError: fmlogger cannot capture layer outputs on the Keras backend 'numpy': it supports "
        "tensorflow, jax, torch. Set KERAS_BACKEND=jax (pip install 'fmlogger[jax]')"
    ) in done.stderr
    assert not (tmp_path / tags.RUN_SUBDIR).exists() or not os.listdir(tmp_path / tags.RUN_SUBDIR)


def test_choosing_a_backend_after_keras_was_imported_says_so():
    from fmlogger.capture.backend import SUPPORTED, select

    other = next(name for name in SUPPORTED if name != keras.backend.backend())
    with pytest.raises(RuntimeError, match=f"already imported with the backend '{keras.backend.backend()}'"):
        select(other)
    select(keras.backend.backend())  # the backend in use: nothing to do
    with pytest.raises(ValueError, match="backend must be one of"):
        select("numpy")


@pytest.mark.slow  # a fresh interpreter
def test_demo_with_a_backend_that_is_not_installed_names_the_install(tmp_path):
    packages = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    missing = [name for name, package in packages.items() if importlib.util.find_spec(package) is None]
    if not missing:
        pytest.skip("every backend is installed here")
    done = _run_python(
        f"""
        import sys
        from fmlogger.cli.main import main
        sys.exit(main(["demo", "--backend", {missing[0]!r}, "--logdir", {str(tmp_path)!r}, "--epochs", "1"]))
        """
    )
    assert done.returncode == 2
    extra = {"tensorflow": "cpu"}.get(missing[0], missing[0])
    assert f"the Keras backend '{missing[0]}' is not installed in this environment: " in done.stderr
    assert f"pip install 'fmlogger[{extra}]'" in done.stderr


@pytest.mark.slow  # a fresh interpreter
def test_event_files_are_written_with_tensorflow_blocked(tmp_path):
    done = _run_python(
        f"""
        import json, sys
        sys.modules["tensorflow"] = None  # any import of it raises ImportError
        import numpy as np
        from fmlogger.sinks.events import SummaryWriter

        writer = SummaryWriter({str(tmp_path)!r})
        grid = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5, 1)
        writer.write_step(7, images=[("feature_maps/a", grid, "the a")], scalars=[("s/a", 0.5)])
        writer.text("run_info", "**hello**", 7)
        writer.close()
        print(json.dumps("tensorflow" in sys.modules and sys.modules["tensorflow"] is not None))
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(str(tmp_path), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    assert sorted(acc.Tags()[pea.TENSORS]) == ["feature_maps/a", "run_info", "s/a"]
    assert acc.SummaryMetadata("feature_maps/a").summary_description == "the a"
    assert acc.SummaryMetadata("run_info").plugin_data.plugin_name == "text"
    (text,) = acc.Tensors("run_info")
    assert (text.step, tensor_util.make_ndarray(text.tensor_proto).item()) == (7, b"**hello**")
    (scalar,) = acc.Tensors("s/a")
    assert float(tensor_util.make_ndarray(scalar.tensor_proto)) == 0.5
    images = _tensorboard_images(tmp_path)["feature_maps/a"][7]
    np.testing.assert_array_equal(images, np.arange(30, dtype=np.uint8).reshape(2, 3, 5, 1))


@pytest.mark.slow  # a TensorBoard server
def test_projector_tsv_entries_are_served_by_tensorboard(tmp_path, monkeypatch, rng):
    from fmlogger.sinks import projector
    from fmlogger.sinks.events import SummaryWriter

    monkeypatch.setattr(projector, "_tensorflow_loaded", lambda: False)  # as in a process without TF
    SummaryWriter(tmp_path).write_step(0, scalars=[("s", 1.0)])  # the Projector lists runs with events
    tensors = {step: rng.random((6, 3)).astype(np.float32) for step in range(2)}
    writer = projector.ProjectorWriter(str(tmp_path))
    writer.add(0, {"block/conv": tensors[0]}, {"label": list("abcdef")})
    resumed = projector.ProjectorWriter(str(tmp_path))  # a second fit() keeps the first entries
    resumed.add(1, {"block/conv": tensors[1]}, {"label": list("abcdef")})
    assert resumed.entries() == ["block/conv @ epoch 0", "block/conv @ epoch 1"]
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "projector/tensor-1-0.tsv"' in config
    assert "block" not in os.listdir(tmp_path / "projector")  # layer names never become paths
    assert not (tmp_path / "checkpoint").exists()
    server, base = tb_http.start_tensorboard(tmp_path.parent)
    run = tmp_path.name

    def route(path, **query):
        return tb_http.get(f"{base}/data/plugin/projector{path}?{urllib.parse.urlencode(query)}")

    try:
        tb_http.wait_for(lambda: run in json.loads(route("/runs")), server, f"the run {run!r}")
        info = json.loads(route("/info", run=run))
        assert {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]} == {
            "block/conv @ epoch 0": [6, 3], "block/conv @ epoch 1": [6, 3],
        }
        for step, tensor in tensors.items():
            data = route("/tensor", run=run, name=f"block/conv @ epoch {step}", num_rows=6)
            np.testing.assert_allclose(np.frombuffer(data, np.float32).reshape(6, 3), tensor, rtol=1e-6)
        assert route("/metadata", run=run, name="block/conv @ epoch 1").decode().split() == list("abcdef")
    finally:
        tb_http.stop(server)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None, reason="TensorFlow's file systems decide"
)
def test_a_remote_log_dir_no_file_layer_writes_fails_when_the_logger_is_made():
    from fmlogger import FeatureMapLogger

    message = r"log_dir 'nosuch://bucket/runs': no file system for 'nosuch://'"
    with pytest.raises(ValueError, match=message):
        FeatureMapLogger("nosuch://bucket/runs", ["conv1"])


def test_backend_of_this_session_is_the_one_keras_runs():
    assert keras.backend.backend() == BACKEND
