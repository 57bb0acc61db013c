"""``fmlogger demo`` writes every view, quietly; seeds give different runs; ``--version``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fmlogger
from fmlogger import tags
from fmlogger.cli.main import main
from fmlogger.runs.events import decode_png, image_tags
from helpers import tb_http

NOISE = ("oneDNN", "absl", "cpu_feature_guard", "I0000", "W0000")


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"fmlogger {fmlogger.__version__}"


@pytest.mark.slow  # a subprocess training 2 epochs
def test_demo_writes_every_view_and_no_tensorflow_start_up_lines(tmp_path):
    pytest.importorskip("tensorflow")
    out = subprocess.run(
        [sys.executable, "-m", "fmlogger", "demo", "--logdir", str(tmp_path), "--epochs", "2", "--quiet",
         "--seed", "3", "--lr", "0.002"],
        capture_output=True, text=True, timeout=300, env=tb_http.popen_env(),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not [line for line in out.stderr.splitlines() if any(word in line for word in NOISE)], out.stderr
    assert f"fmlogger board --logdir {tmp_path}" in out.stdout
    logged = image_tags(str(tmp_path / tags.RUN_SUBDIR))
    expected = {
        "feature_maps/conv1", "feature_map_timeline/conv3", "pca_rgb/conv2", "embedding_pca/embedding",
        "saliency/vanilla", "saliency/smoothgrad", "saliency/integrated_gradients", "gradcam/conv3",
        "activation_max/conv2",
    }
    assert expected <= set(logged), sorted(logged)
    for tag in expected:
        assert sorted(logged[tag]) == [0, 1, 2], tag
    saliency = decode_png(logged["saliency/vanilla"][2][0])
    assert saliency.shape == (128, 128, 3)  # 32 px digits upscaled x4 (ExplainSettings.min_size)
    assert (tmp_path / tags.RUN_SUBDIR / "projector_config.pbtxt").is_file()


@pytest.mark.slow  # a subprocess importing TensorFlow twice
def test_tensorflow_start_up_lines_are_hidden_only_by_the_cli_helper():
    pytest.importorskip("tensorflow")
    env = tb_http.popen_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    plain = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env
    )
    quiet = subprocess.run(
        [sys.executable, "-c", "import sys; from fmlogger.cli.quiet import quiet_tensorflow_import\n"
         "quiet_tensorflow_import(); print('kept', file=sys.stderr); import tensorflow"],
        capture_output=True, text=True, env=env,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "kept"
    # TensorFlow does print them without the helper (else this test would prove nothing)
    assert any(word in plain.stderr for word in NOISE), plain.stderr


@pytest.mark.slow  # trains the demo twice for one epoch
def test_different_seeds_give_different_runs(tmp_path):
    pytest.importorskip("tensorflow")
    from fmlogger.cli.demo import run_demo

    pixels = []
    for seed in (0, 1):
        run_demo(str(tmp_path / f"seed{seed}"), epochs=1, verbose=0, seed=seed, embedding_points=40)
        logged = image_tags(str(tmp_path / f"seed{seed}" / tags.RUN_SUBDIR))
        pixels.append(decode_png(logged["feature_maps/conv1"][1][0]))
    assert pixels[0].shape == pixels[1].shape == (133, 133, 1)
    assert np.count_nonzero(pixels[0] != pixels[1]) > 0.1 * pixels[0].size
