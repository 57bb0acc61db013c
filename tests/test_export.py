"""``fmlogger export``: every logged PNG, and one GIF per layer and sample with the steps in order."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from test_runs_events import CLI, run_without
from test_runs_png import png

from fmlogger import tags
from fmlogger.cli.main import main
from fmlogger.runs.events import event_files, images_by_step, iter_records
from fmlogger.runs.export import export_run, labelled_frame
from helpers import tb_http
from helpers.runs import read_run

STEPS = [0, 2, 4, 6, 8, 10, 12]


@pytest.fixture
def run(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(0)
    with FeatureMapLogger(tmp_path / "logs", max_samples=2, max_channels=4) as logger:
        for step in STEPS:
            logger.log_arrays({"block/conv": rng.random((2, 6, 6, 4), dtype=np.float32)}, step)
    return tmp_path / "logs", logger.run_dir


def test_exports_every_png_unchanged_and_ordered_gifs(run, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image, ImageSequence

    log_dir, run_dir = run
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(log_dir), "--out", str(out)]) == 0
    assert f"wrote {2 * len(STEPS) + len(STEPS)} PNG(s) and 2 GIF(s)" in capsys.readouterr().out

    tag = tags.image_tag("block/conv")
    logged = images_by_step(run_dir, tag)
    folder = out / "feature_maps" / "block" / "conv"
    for step in STEPS:
        for i in range(2):
            assert (folder / f"step_{step:06d}_sample_{i}.png").read_bytes() == logged[step][i]
    assert (out / "feature_map_timeline" / "block" / "conv" / "step_000012_sample_0.png").exists()
    assert not (out / "feature_map_timeline" / "block" / "conv" / "sample_0.gif").exists()

    decoded = read_run(run_dir).images[tag]
    for i in range(2):
        with Image.open(folder / f"sample_{i}.gif") as gif:
            frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
        assert len(frames) == len(STEPS)
        assert [event.step for event in decoded] == STEPS
        for frame, event in zip(frames, decoded):  # the logged pixels, and the step drawn below them
            np.testing.assert_array_equal(frame, labelled_frame(event.images[i], event.step)[:, :, 0])


def test_without_pillow_pngs_are_written_and_the_message_says_what_to_install(
    run, tmp_path, capsys, monkeypatch
):
    log_dir, _ = run
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail as if not installed
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(log_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'fmlogger[export]'" in err and "--no-gif" in err
    assert len(os.listdir(out / "feature_maps" / "block" / "conv")) == 2 * len(STEPS)
    assert main(["export", "--logdir", str(log_dir), "--out", str(tmp_path / "png_only"), "--no-gif"]) == 0


def test_odd_tag_characters_become_safe_folders():
    from fmlogger._paths import tag_folder

    assert tag_folder("feature_maps/backbone/conv 1:a") == os.path.join(
        "feature_maps", "backbone", "conv_1_a"
    )
    assert tag_folder("feature_maps/../x") == os.path.join("feature_maps", "_", "x")


BOMB = png(100_000, 100_000, 1, b"")  # a valid PNG header claiming 10^10 pixels: only the size cap refuses it


def test_a_png_that_does_not_decode_is_a_note_and_the_gif_goes_on(run, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    from fmlogger.sinks.events import SummaryWriter

    log_dir, run_dir = run
    tag = tags.image_tag("block/conv")
    good = images_by_step(run_dir, tag)[STEPS[-1]][1]
    writer = SummaryWriter(run_dir)
    writer.write_step(14, pngs=[(tag, 6, 6, [BOMB, good], "")])
    writer.flush()
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(log_dir), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {tag} step 14 sample 0: PNG of 100000x100000 = 10,000,000,000 pixels refused" in err
    assert "Traceback" not in err
    folder = out / "feature_maps" / "block" / "conv"
    assert (folder / "step_000014_sample_0.png").read_bytes() == BOMB  # exported unchanged, as logged
    with Image.open(folder / "sample_0.gif") as gif0, Image.open(folder / "sample_1.gif") as gif1:
        assert (gif0.n_frames, gif1.n_frames) == (len(STEPS), len(STEPS) + 1)


@pytest.fixture
def two_files(tmp_path):
    """Steps 0..3 in one event file, 4..6 in a second one (a resumed run)."""
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(5)
    for steps in (range(4), range(4, 7)):
        with FeatureMapLogger(tmp_path / "logs", max_samples=2, max_channels=4) as logger:
            for step in steps:
                logger.log_arrays({"conv": rng.random((2, 6, 6, 4), dtype=np.float32)}, step)
    files = event_files(logger.run_dir)
    assert len(files) == 2
    return tmp_path / "logs", logger.run_dir, files


def flip_byte_in_step(path: str, step: int, tag: str) -> int:
    """Flips one byte in the middle of the record holding ``tag`` at ``step``; returns its offset."""
    from tensorboard.compat.proto import event_pb2

    for offset, payload in iter_records(path):
        event = event_pb2.Event.FromString(payload)
        if event.step == step and any(v.tag == tag for v in event.summary.value):
            with open(path, "r+b") as f:
                f.seek(offset + 12 + len(payload) // 2)
                byte = f.read(1)[0]
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([byte ^ 0x01]))
            return offset
    raise AssertionError(f"no record of {tag} at step {step} in {path}")


def export_argv(log_dir, out, *extra) -> list:
    return ["export", "--logdir", str(log_dir), "--out", str(out), *extra]


def test_a_damaged_event_file_is_named_and_the_rest_is_exported(two_files, tmp_path, caplog):
    """One flipped byte: stderr names the file, the byte and the reason; exit code 1 (partial)."""
    log_dir, run_dir, files = two_files
    tag = tags.image_tag("conv")
    logged = images_by_step(run_dir, tag)
    offset = flip_byte_in_step(files[0], 2, tag)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "fmlogger", *export_argv(log_dir, out)],
        capture_output=True,
        text=True,
        env=tb_http.popen_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert f"damaged event file {files[0]} at byte {offset}: the payload's CRC does not match" in done.stderr
    assert done.stderr.count("damaged event file") == 1 and "Traceback" not in done.stderr
    kept = [0, 1, 4, 5, 6]  # before the damage in the first file, and all of the second
    assert f"wrote {3 * len(kept)} PNG(s) and 2 GIF(s)" in done.stdout  # 2 samples + 1 timeline per step
    folder = out / "feature_maps" / "conv"
    for step in range(7):
        for i in range(2):
            exported = folder / f"step_{step:06d}_sample_{i}.png"
            assert exported.read_bytes() == logged[step][i] if step in kept else not exported.exists()

    with caplog.at_level(logging.WARNING):  # the API: reported once, and listed
        result = export_run(log_dir, tmp_path / "again", gif=False)
    assert [(d.path, d.offset) for d in result.damaged] == [(files[0], offset)]
    assert len(caplog.records) == 1 and files[0] in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "blocked, extra",
    [(("tensorflow", "keras"), ()), (("tensorflow", "keras", "google_crc32c", "PIL"), ("--no-gif",))],
)
def test_export_runs_with_tensorflow_and_keras_blocked(run, tmp_path, blocked, extra):
    """Without TensorFlow and Keras (and, second, without google-crc32c and Pillow: the fallbacks)."""
    log_dir, run_dir = run
    out = tmp_path / "out"
    done = run_without(blocked, CLI, *export_argv(log_dir, out, *extra))
    assert done.returncode == 0, done.stderr
    gifs = 0 if extra else 2
    assert f"wrote {3 * len(STEPS)} PNG(s) and {gifs} GIF(s)" in done.stdout
    logged = images_by_step(run_dir, tags.image_tag("block/conv"))
    folder = out / "feature_maps" / "block" / "conv"
    for step in STEPS:
        exported = [(folder / f"step_{step:06d}_sample_{i}.png").read_bytes() for i in range(2)]
        assert exported == list(logged[step])
    assert len(list(folder.glob("*.gif"))) == gifs


COLLIDING = [".", "..", "_", "a:b", "a b", "a_b", "A_B", "x/sample_0.gif", "x", "x/step_000001_sample_0.png"]


def test_tags_that_collide_after_sanitizing_get_their_own_folders(tmp_path):
    # Layer names that all sanitize to "_", "a_b" or a file name of another tag's folder: each
    # tag's PNGs land in a folder of their own, inside --out, and are counted once.
    from fmlogger.logger import FeatureMapLogger

    with FeatureMapLogger(tmp_path / "logs", background=False, min_tile_size=2, timeline=False) as logger:
        for step in (0, 1):
            logger.log_arrays({name: np.ones((1, 2, 2, 1), np.float32) for name in COLLIDING}, step)
    out = tmp_path / "out"
    assert main(["export", "--logdir", str(tmp_path / "logs"), "--out", str(out), "--no-gif"]) == 0
    files = sorted(p for p in out.rglob("*.png"))
    assert len(files) == 2 * len(COLLIDING)  # one PNG per tag and step, none overwritten
    assert all(out in p.parents for p in files)
    folders = {p.parent for p in files}
    assert len(folders) == len(COLLIDING)
    result = export_run(str(tmp_path / "logs"), str(tmp_path / "again"), gif=False)
    assert len(result.pngs) == len(set(result.pngs)) == 2 * len(COLLIDING)
    assert sorted(os.path.relpath(p, tmp_path / "again") for p in result.pngs) == sorted(
        os.path.relpath(p, out) for p in files
    )


def test_png_folder_sink_never_overwrites_another_tag(tmp_path):
    from fmlogger.sinks.base import ImageSummary, Output
    from fmlogger.sinks.png_folder import PngFolderSink

    sink = PngFolderSink(tmp_path)
    images = [
        ImageSummary("t/a:b", np.full((1, 2, 2, 1), 1, np.uint8)),
        ImageSummary("t/a b", np.full((1, 2, 2, 1), 2, np.uint8)),
        ImageSummary("t/v_0", np.full((1, 2, 2, 1), 3, np.uint8)),
        ImageSummary("t/v", np.full((2, 2, 2, 1), 4, np.uint8)),  # v_0.png, v_1.png
        ImageSummary("t/w.png/x", np.full((1, 2, 2, 1), 5, np.uint8)),
        ImageSummary("t/w", np.full((1, 2, 2, 1), 6, np.uint8)),
    ]
    assert sink.write(0, [Output(images=images)]) == []
    assert len(set(sink.written)) == len(sink.written) == 7
    from fmlogger.runs.png_decode import decode_png_numpy

    values = sorted(int(decode_png_numpy(open(p, "rb").read())[0, 0, 0]) for p in sink.written)
    assert values == [1, 2, 3, 4, 4, 5, 6]
