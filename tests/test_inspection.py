"""``fmlogger inspect``: PNGs of a saved model on one image, read back and decoded."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers.models import tiny_cnn

keras = pytest.importorskip("keras")

from fmlogger.cli.main import main
from fmlogger.cli.inspect import read_image
from fmlogger.runs.read import decode_png


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras.utils.set_random_seed(0)
    tiny_cnn().save(path)
    return path


def _png(path):
    return decode_png(path.read_bytes())


def test_inspect_png_image_writes_every_kind_of_png(saved_model, tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((20, 20, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "out"
    rc = main(
        [
            "inspect",
            str(saved_model),
            str(image),
            "--out",
            str(out),
            "--layers",
            "conv1",
            "--activation-max",
            "conv2:0,3",
            "--steps",
            "6",
        ]
    )
    assert rc == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == [
        "activation_max/conv2.png",
        "feature_maps/conv1.png",
        "gradcam/conv2.png",
        "input.png",
        "saliency/integrated_gradients.png",
        "saliency/smoothgrad.png",
        "saliency/vanilla.png",
    ]
    assert _png(out / "input.png").shape == (128, 128, 1)  # 20x20 RGB -> the model's 16x16 grey, x8
    assert _png(out / "saliency/vanilla.png").shape == (256, 256, 3)  # overlays: 16 px x 16
    assert _png(out / "gradcam/conv2.png").shape == (256, 256, 3)
    assert _png(out / "feature_maps/conv1.png").shape[2] == 1
    captured = capsys.readouterr()
    assert "resizing 20x20 to the model's 16x16" in captured.err
    assert "activation_max conv2 [" in captured.err and "6/6" in captured.err  # the progress bar
    assert "predicted class" in captured.out and "7 PNG files written" in captured.out


def test_inspect_npy_image_no_saliency_chosen_gradcam(saved_model, tmp_path, capsys):
    array = tmp_path / "in.npy"
    np.save(array, np.random.default_rng(1).random((16, 16, 1)).astype(np.float32))
    out = tmp_path / "out"
    rc = main(
        [
            "inspect",
            str(saved_model),
            str(array),
            "--out",
            str(out),
            "--layers",
            "conv2",
            "--saliency",
            "--gradcam",
            "conv1",
            "--target",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["feature_maps/conv2.png", "gradcam/conv1.png", "input.png"]
    assert "explaining class 1" in capsys.readouterr().out


def test_inspect_errors_are_reported_not_raised(saved_model, tmp_path, capsys):
    array = tmp_path / "in.npy"
    np.save(array, np.zeros((16, 16, 1), np.float32))
    assert (
        main(["inspect", str(saved_model), str(array), "--out", str(tmp_path / "o"), "--gradcam", "conv7"])
        == 2
    )
    assert "gradcam layer 'conv7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["inspect", str(saved_model), str(array), "--out", str(tmp_path / "o"), "--saliency", "lime"])


def test_read_image_without_pillow_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now raises ImportError
    with pytest.raises(ImportError, match=r"needs Pillow.*pip install pillow.*\.npy"):
        read_image(str(tmp_path / "x.png"), (16, 16, 1))
    np.save(tmp_path / "x.npy", np.ones((4, 4), np.float32))
    assert read_image(str(tmp_path / "x.npy"), rescale=2.0).tolist() == np.full((1, 4, 4, 1), 2.0).tolist()


@pytest.mark.slow  # a subprocess
def test_new_modules_do_not_import_tensorflow():
    import subprocess

    code = (
        "import sys, fmlogger, fmlogger.explain.saliency, fmlogger.explain.actmax, fmlogger.render.overlay, fmlogger.explain.settings, "
        "fmlogger.cli.inspect, fmlogger.cli.main; fmlogger.cli.main.build_parser(); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, fmlogger.ExplainSettings().alpha)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "0.5"]
