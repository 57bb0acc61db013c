"""Notebook display: a Frame shows itself as its PNG, ``fmlogger.show`` stacks a layer's steps."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fmlogger
from fmlogger.notebook import LABEL_SCALE, even_subsample, show
from fmlogger.render.font import read_numbers
from fmlogger.render.renderer import STACK_GAP, STACK_GAP_VALUE, Renderer, RenderSettings
from fmlogger.runs.events import decode_png
from helpers import tb_http


def _logged_run(tmp_path, steps=(0, 1, 2), samples=2):
    """A run of ``log_arrays``: layer ``enc`` [samples, 4, 4, 3], each step's values differing."""
    rng = np.random.default_rng(0)
    with fmlogger.FeatureMapLogger(tmp_path, min_tile_size=8, background=False) as logger:
        for step in steps:
            logger.log_arrays({"enc": rng.random((samples, 4, 4, 3)).astype(np.float32)}, step)
    return tmp_path


def _label_digits(row_label: np.ndarray) -> int:
    """Reads the step drawn by ``labelled_row`` (digit font, LABEL_SCALE, INK on white)."""
    ink = row_label < 128
    ys, xs = np.nonzero(ink)
    bits = ink[ys.min() : ys.max() + 1 : LABEL_SCALE, LABEL_SCALE::LABEL_SCALE]
    bits = bits[:, : (bits.shape[1] // 4) * 4]
    return read_numbers(bits[None])[0]


def test_frame_repr_png_stacks_the_samples_with_grey_gaps():
    frame = Renderer(RenderSettings(min_tile_size=4, max_channels=4)).render(
        "conv", np.random.default_rng(0).random((3, 4, 4, 4)).astype(np.float32)
    )
    png = frame._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = decode_png(png)
    h = frame.images.shape[1]  # 2x2 grid of 4 px tiles + padding = 11 px
    assert image.shape == (3 * h + 2 * STACK_GAP, frame.images.shape[2], 1)
    for i in range(3):  # each sample's grid, unchanged, in order
        np.testing.assert_array_equal(image[i * (h + STACK_GAP) : i * (h + STACK_GAP) + h], frame.images[i])
    assert np.all(image[h : h + STACK_GAP] == STACK_GAP_VALUE)


def test_show_stacks_every_logged_step_with_its_label(tmp_path):
    run = _logged_run(tmp_path, steps=(0, 5, 12))
    evolution = fmlogger.show(run, "enc", sample=1)
    assert evolution.steps == (0, 5, 12) and evolution.tag == "feature_maps/enc"
    logged = fmlogger.read_run(str(run / "feature_maps")).images["feature_maps/enc"]
    grid = logged[0].images[1]  # sample 1 of step 0: a 2x2 grid of 8 px tiles = 19 px
    h, w = grid.shape[:2]
    label_w = evolution.image.shape[1] - w
    assert evolution.image.shape == (3 * h + 2 * STACK_GAP, label_w + w, 1)
    for row, event in enumerate(logged):
        top = row * (h + STACK_GAP)
        np.testing.assert_array_equal(evolution.image[top : top + h, label_w:], event.images[1])
        assert _label_digits(evolution.image[top : top + h, :label_w, 0]) == event.step
    # what Jupyter shows is exactly this image
    np.testing.assert_array_equal(decode_png(evolution._repr_png_()), evolution.image)
    saved = evolution.save(str(tmp_path / "enc.png"))
    assert open(saved, "rb").read() == evolution._repr_png_()


def test_show_thins_many_steps_evenly_keeping_first_and_newest(tmp_path):
    assert even_subsample(list(range(10)), 4) == [0, 3, 6, 9]
    assert even_subsample([1, 2], 4) == [1, 2]
    run = _logged_run(tmp_path, steps=range(7), samples=1)
    evolution = show(run, "feature_maps/enc", max_steps=3)
    assert evolution.steps == (0, 3, 6) and evolution.logged_steps == 7
    assert "3 of 7" in repr(evolution)


def test_show_errors_name_what_exists(tmp_path):
    run = _logged_run(tmp_path, steps=(0,))
    with pytest.raises(ValueError, match=r"layer='conv9' is not logged .* Image tags: .*feature_maps/enc"):
        show(run, "conv9")
    with pytest.raises(ValueError, match=r"sample=5 is not in 'feature_maps/enc' at step 0: it has 2"):
        show(run, "enc", sample=5)
    with pytest.raises(ValueError, match=r"sample must be an integer >= 0. Received: sample=-1"):
        show(run, "enc", sample=-1)
    with pytest.raises(FileNotFoundError, match="no fmlogger run"):
        show(tmp_path / "nowhere", "enc")


@pytest.mark.slow
def test_show_never_imports_tensorflow_or_keras(tmp_path):
    run = _logged_run(tmp_path, steps=(0, 1))
    code = textwrap.dedent(
        f"""
        import json, sys
        import fmlogger
        evolution = fmlogger.show({str(run)!r}, "enc")
        print(json.dumps({{"steps": list(evolution.steps),
                          "loaded": [m for m in ("tensorflow", "keras") if m in sys.modules]}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=tb_http.popen_env()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"steps": [0, 1], "loaded": []}
