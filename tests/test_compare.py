"""``fmlogger compare``: the two logged images side by side, their difference, and mismatch warnings."""

from __future__ import annotations

import numpy as np
import pytest
from test_runs_png import png

from fmlogger import tags
from fmlogger.cli.main import main
from fmlogger.runs.compare import GAP, GAP_VALUE, compare_runs
from helpers.runs import read_run


def write_run(log_dir, seed, probe, steps=3, **options):
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(seed)
    with FeatureMapLogger(log_dir, max_samples=2, max_channels=4, **options) as logger:
        logger.record_probe(probe)
        for step in range(steps):
            logger.log_arrays({"conv": rng.random((2, 6, 6, 5), dtype=np.float32)}, step)
    return read_run(logger.run_dir).images[tags.image_tag("conv")]


@pytest.fixture
def two_runs(tmp_path):
    probe = np.zeros((2, 3), np.float32)
    a = write_run(tmp_path / "a", 0, probe)
    b = write_run(tmp_path / "b", 1, probe, steps=4)
    return tmp_path, a, b


def test_output_is_the_two_logged_images_side_by_side_and_their_difference(two_runs, capsys):
    root, a, b = two_runs
    out = root / "diff.png"
    assert main(["compare", str(root / "a"), str(root / "b"), "--layer", "conv", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "step 2" in printed.out and "warning" not in printed.err  # newest step logged in both: 2

    from fmlogger.runs.read import decode_png

    image = decode_png(out.read_bytes())
    img_a, img_b = a[2].images[0], b[2].images[0]  # step 2, first probe sample
    h, w, _ = img_a.shape
    assert image.shape == (h, 3 * w + 2 * GAP, 1)
    np.testing.assert_array_equal(image[:, :w], img_a)
    np.testing.assert_array_equal(image[:, w + GAP : 2 * w + GAP], img_b)
    expected_diff = np.abs(img_a.astype(int) - img_b.astype(int))
    np.testing.assert_array_equal(image[:, 2 * (w + GAP) :], expected_diff)
    assert (image[:, w : w + GAP] == GAP_VALUE).all()
    assert expected_diff.max() > 0


def test_step_and_sample_choice(two_runs):
    root, a, b = two_runs
    result = compare_runs(root / "a", root / "b", "conv", step=1, sample=1)
    np.testing.assert_array_equal(result.a, a[1].images[1])
    np.testing.assert_array_equal(result.b, b[1].images[1])
    with pytest.raises(ValueError, match=r"step=3 was not logged in .*a/feature_maps \(steps 0\.\.2\)"):
        compare_runs(root / "a", root / "b", "conv", step=3)
    with pytest.raises(
        ValueError, match=r"layer='conv9' .* Image tags: feature_map_timeline/conv, feature_maps/conv"
    ):
        compare_runs(root / "a", root / "b", "conv9")


def test_same_run_gives_a_black_difference(two_runs):
    root, _, _ = two_runs
    result = compare_runs(root / "a", root / "a" / tags.RUN_SUBDIR, "conv")
    assert result.diff.max() == 0 and result.warnings == []


def test_warns_when_probe_fingerprints_differ(tmp_path, capsys):
    write_run(tmp_path / "a", 0, np.zeros((2, 3), np.float32))
    write_run(tmp_path / "b", 0, np.ones((2, 3), np.float32))
    result = compare_runs(tmp_path / "a", tmp_path / "b", "conv")
    assert len(result.warnings) == 1 and "probe fingerprints differ" in result.warnings[0]
    assert result.diff.max() == 0  # same activations: only the probe record differs
    out = tmp_path / "d.png"
    assert (
        main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--layer", "conv", "--out", str(out)]) == 0
    )
    assert "warning: the probe fingerprints differ" in capsys.readouterr().err


def test_warns_when_render_settings_differ(tmp_path):
    probe = np.zeros((2, 3), np.float32)
    write_run(tmp_path / "a", 0, probe)
    write_run(tmp_path / "b", 0, probe, colormap="viridis")
    result = compare_runs(tmp_path / "a", tmp_path / "b", "conv")
    assert any("colormap: 'gray' -> 'viridis'" in w for w in result.warnings)
    assert result.image.shape[-1] == 3  # gray panel shown as RGB beside the colour one


def test_missing_run_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["compare", str(tmp_path), str(tmp_path), "--layer", "conv", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "no fmlogger run in" in capsys.readouterr().err


def test_a_png_that_does_not_decode_is_a_clear_error_naming_tag_and_step(two_runs, capsys):
    from fmlogger.runs.events import resolve_run
    from fmlogger.sinks.events import SummaryWriter

    root, _, _ = two_runs
    writer = SummaryWriter(resolve_run(root / "b"))
    writer.write_step(7, pngs=[(tags.image_tag("conv"), 6, 6, [png(100_000, 100_000, 1, b"")], "")])
    writer.flush()
    with pytest.raises(ValueError, match=r"tag 'feature_maps/conv', step 7, sample 0: PNG of 100000x100000"):
        compare_runs(root / "b", root / "b", "conv", step=7)
    assert (
        main(["compare", str(root / "b"), str(root / "b"), "--layer", "conv", "--out", str(root / "x.png")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("fmlogger compare: ") and "step 7, sample 0: PNG of 100000x100000" in err
    assert "Traceback" not in err and not (root / "x.png").exists()
