"""``fmlogger inspect``: PNGs of a saved model on one image, read back and decoded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.models import tiny_cnn

keras = pytest.importorskip("keras")

from fmlogger.cli.inspect import read_image
from fmlogger.cli.main import main
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
        "import sys, fmlogger, fmlogger.explain.saliency, fmlogger.explain.actmax, fmlogger.render.overlay, "
        "fmlogger.explain.settings, "
        "fmlogger.cli.inspect, fmlogger.cli.main; fmlogger.cli.main.build_parser(); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, fmlogger.ExplainSettings().alpha)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "0.5"]


def test_inspect_pngs_equal_what_the_event_sink_writes_for_the_same_step(saved_model, tmp_path):
    """inspect and FeatureMapLogger run the same views: same settings, same step -> same PNG bytes."""
    from fmlogger import tags
    from fmlogger.cli.inspect import inspect_model
    from fmlogger.explain.settings import ExplainSettings
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.render.renderer import RenderSettings
    from fmlogger.runs.events import image_tags

    image = tmp_path / "in.npy"
    np.save(image, np.random.default_rng(3).random((16, 16, 1)).astype(np.float32))
    chosen = {
        "saliency": ["vanilla", "integrated_gradients"],
        "gradcam": ["conv2"],
        "activation_max": {"conv1": [0, 2]},
    }
    out = tmp_path / "out"
    written = inspect_model(
        str(saved_model), str(image), str(out), layers=["conv1"], actmax_steps=4, progress=False, **chosen
    )

    x = read_image(str(image))
    settings = ExplainSettings(
        target="predicted", alpha=0.5, colormap="viridis", min_size=256, ig_steps=64, actmax_steps=4,
        actmax_value_range=(float(x.min()), float(x.max())),
    )
    model = keras.models.load_model(saved_model, compile=False)
    with FeatureMapLogger(
        tmp_path / "logs", ["conv1"], max_samples=1, render=RenderSettings(colormap="gray"), timeline=False,
        explain=settings, on_error="raise", **chosen,
    ) as logger:
        logger.log(model, x, 0)
    events = image_tags(logger.run_dir)
    assert set(events) == {
        tags.image_tag("conv1"), "saliency/vanilla", "saliency/integrated_gradients", "gradcam/conv2",
        "activation_max/conv1",
    }
    files = {p.relative_to(out).as_posix(): p for p in map(Path, written)}
    assert set(files) == {f"{tag}.png" for tag in events} | {"input.png"}
    for tag, steps in events.items():
        (png,) = steps[0]
        assert files[f"{tag}.png"].read_bytes() == png, tag


@pytest.mark.parametrize(
    "tag, relative",
    [
        ("feature_maps/../../escape", "feature_maps/_/_/escape.png"),
        ("/abs/path", "abs/path.png"),
        ("a/b\x00c/..", "a/b_c/_.png"),
        ("..\\..\\win", ".._.._win.png"),
        ("feature_maps/./conv 1", "feature_maps/_/conv_1.png"),
    ],
)
def test_png_folder_names_are_sanitized_and_stay_inside_out(tmp_path, tag, relative):
    import os

    from fmlogger.sinks.base import ImageSummary, Output
    from fmlogger.sinks.png_folder import PngFolderSink

    out = tmp_path / "out"
    sink = PngFolderSink(out)
    one = np.full((1, 3, 3, 1), 7, np.uint8)
    assert sink.write(0, [Output(images=[ImageSummary(tag, one)])]) == []
    (path,) = sink.written
    assert os.path.relpath(path, out).replace(os.sep, "/") == relative
    assert decode_png(open(path, "rb").read()).tolist() == one[0].tolist()
    files = [os.path.join(d, f) for d, _, names in os.walk(tmp_path) for f in names]
    assert files == [path]  # nothing written anywhere else


def test_png_folder_writes_one_file_per_sample(tmp_path):
    from fmlogger.sinks.base import ImageSummary, Output
    from fmlogger.sinks.png_folder import PngFolderSink

    sink = PngFolderSink(tmp_path)
    images = np.arange(2 * 2 * 2, dtype=np.uint8).reshape(2, 2, 2, 1)
    sink.write(3, [Output(images=[ImageSummary("saliency/vanilla", images)], scalars=[("s", 1.0)])])
    assert [p.relative_to(tmp_path).as_posix() for p in map(Path, sink.written)] == [
        "saliency/vanilla_0.png", "saliency/vanilla_1.png",
    ]
    assert decode_png((tmp_path / "saliency/vanilla_1.png").read_bytes())[..., 0].tolist() == [[4, 5], [6, 7]]
