"""Every script in examples/ runs with ``--epochs 1`` and writes what it says (tiny data).

The scripts run in this process (TensorFlow is imported once) through their ``main(argv)``; the
JAX one runs in a subprocess, since Keras fixes its backend at its first import.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.runs.events import decode_png, image_tags
from helpers import tb_http

pytestmark = pytest.mark.slow  # each example trains a model

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SKIP = 77  # examples/jax_backend.py: jax missing or the backend unsupported


def run_example(name: str, logdir, capsys, monkeypatch) -> str:
    """Runs ``examples/<name>.py --logdir logdir --epochs 1``; returns what it printed."""
    pytest.importorskip("tensorflow")
    monkeypatch.syspath_prepend(EXAMPLES)
    script = runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"))
    script["main"](["--logdir", str(logdir), "--epochs", "1"])
    out = capsys.readouterr().out
    assert f"fmlogger board --logdir {logdir}" in out  # every example says where to look
    return out


def logged(logdir) -> dict:
    return image_tags(str(os.path.join(logdir, tags.RUN_SUBDIR)))


def test_every_example_is_tested():
    scripts = {n[:-3] for n in os.listdir(EXAMPLES) if n.endswith(".py") and not n.startswith("_")}
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_")}
    assert scripts <= tested, scripts - tested
    assert len(scripts) >= 6


def test_transfer_learning(tmp_path, capsys, monkeypatch):
    out = run_example("transfer_learning", tmp_path, capsys, monkeypatch)
    images = logged(tmp_path)
    backbone = "mobilenetv2_0.35_32"
    expected = {f"feature_maps/{backbone}/{name}"
                for name in ("Conv1_relu", "block_1_expand_relu", "block_1_depthwise_relu")}
    # block_1_*relu is block 1 only: none of block_10 .. block_16 (which block_1*relu would match)
    assert {t for t in images if t.startswith("feature_maps/")} == expected
    assert all(sorted(images[t]) == [0, 1] for t in expected)
    assert "block_10" not in out and f"{backbone}/block_1_expand_relu" in out


def test_custom_training_loop(tmp_path, capsys, monkeypatch):
    out = run_example("custom_training_loop", tmp_path, capsys, monkeypatch)
    images = logged(tmp_path)
    # 508 digits in batches of 64 = 8 batches; logged at step 0 and every 4 batches
    assert sorted(images["feature_maps/conv1"]) == [0, 4, 8]
    assert sorted(images["feature_maps/conv2"]) == [0, 4, 8]
    grid = decode_png(images["feature_maps/conv1"][8][0])
    assert grid.shape == (133, 133, 3)  # 16 channels of 32 px, magma -> RGB
    assert "conv2 zero fraction" in out


def test_segmentation_unet(tmp_path, capsys, monkeypatch):
    out = run_example("segmentation_unet", tmp_path, capsys, monkeypatch)
    images = logged(tmp_path)
    layers = {"enc1", "enc2", "bottleneck", "dec2", "dec1", "mask"}
    assert {t for t in images if t.startswith("feature_maps/")} == {f"feature_maps/{n}" for n in layers}
    mask = decode_png(images["feature_maps/mask"][1][0])
    assert mask.shape == (34, 34, 3)  # one 32 px channel, 1 px padding each side
    assert "validation IoU after 1 epoch(s)" in out
    from segmentation_unet import cells

    x, masks = cells(8, seed=1)
    assert x.shape == masks.shape == (8, 32, 32, 1)
    inside, outside = x[masks > 0.5], x[masks < 0.5]
    assert inside.mean() > outside.mean() + 0.3  # cells are bright on a dark field
    assert 0.05 < masks.mean() < 0.6


def test_compare_runs(tmp_path, capsys, monkeypatch):
    out = run_example("compare_runs", tmp_path, capsys, monkeypatch)
    a, b = (logged(tmp_path / f"lr_{lr}") for lr in ("0.0003", "0.003"))
    assert sorted(a["feature_maps/conv2"]) == sorted(b["feature_maps/conv2"]) == [0, 1]
    # step 0 is the same untrained model on the same probe; step 1 differs by the learning rate
    assert a["feature_maps/conv2"][0] == b["feature_maps/conv2"][0]
    assert a["feature_maps/conv2"][1] != b["feature_maps/conv2"][1]
    image = decode_png(open(tmp_path / "conv2_compare.png", "rb").read())
    grid = decode_png(a["feature_maps/conv2"][1][0])
    assert image.shape[0] == grid.shape[0] and image.shape[1] == 3 * grid.shape[1] + 8  # A | B | diff
    assert "warning" not in out and "of pixels differ" in out


def test_explain(tmp_path, capsys, monkeypatch):
    run_example("explain", tmp_path, capsys, monkeypatch)
    images = logged(tmp_path)
    for tag in ("saliency/vanilla", "saliency/smoothgrad", "saliency/integrated_gradients",
                "gradcam/conv3", "activation_max/conv2"):
        assert sorted(images[tag]) == [0, 1], tag
    cam = decode_png(open(tmp_path / "gradcam_conv3.png", "rb").read())
    assert cam.shape == (4 * 128 + 3 * 4, 128, 3)  # four 128 px overlays stacked, 4 px gaps
    assert not np.all(cam == cam[0, 0])


def test_jax_backend(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: examples/jax_backend.py needs pip install jax")
    done = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "jax_backend.py"), "--logdir", str(tmp_path),
         "--epochs", "1"],
        capture_output=True, text=True, timeout=300, env=dict(tb_http.popen_env(), KERAS_BACKEND="jax"),
    )
    if done.returncode == SKIP:
        pytest.skip(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-3000:]
    images = logged(tmp_path)
    assert {"feature_maps/conv1", "feature_maps/conv2", "feature_maps/conv3"} <= set(images)
    assert sorted(images["feature_maps/conv1"]) == [0, 1]


def test_notebook(tmp_path, monkeypatch):
    """examples/notebook.ipynb runs top to bottom in a real kernel and shows PNGs inline."""
    nbformat = pytest.importorskip("nbformat", reason="needs the test extra: pip install '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="needs the test extra: pip install '.[test]'")
    pytest.importorskip("ipykernel", reason="needs the test extra: pip install '.[test]'")
    pytest.importorskip("tensorflow")
    for name, value in tb_http.popen_env().items():  # the kernel imports this checkout's fmlogger
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FMLOGGER_NOTEBOOK_LOGDIR", str(tmp_path))
    monkeypatch.setenv("FMLOGGER_NOTEBOOK_EPOCHS", "1")
    notebook = nbformat.read(os.path.join(EXAMPLES, "notebook.ipynb"), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=240, kernel_name="python3")
    try:
        client.execute(cwd=str(tmp_path))
    except nbclient.exceptions.CellExecutionError:
        raise
    except Exception as err:  # noqa: BLE001 - no kernel could start here
        pytest.skip(f"no Jupyter kernel could start: {type(err).__name__}: {err}")
    pngs = [output["data"]["image/png"] for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    assert len(pngs) == 2  # the Frame of conv1 and the evolution of conv2
    import base64

    frame, evolution = (decode_png(base64.b64decode(p)) for p in pngs)
    assert frame.shape == (3 * 133 + 2 * 4, 133, 3)  # 3 samples of a 4x4 grid of 32 px tiles, viridis
    assert evolution.shape[0] == 2 * 199 + 4  # steps 0 and 1 of conv2 (199 px grids), one gap
    assert sorted(logged(tmp_path)["feature_maps/conv2"]) == [0, 1]
