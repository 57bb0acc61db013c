"""Timeline images: bitmap labels, bounded history, and the newest step read from a real TensorBoard."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.render.timeline import Timeline, decode, untile
from helpers import tb_http
from helpers.runs import read_run

STEPS = 30
# 8x8 maps with min_tile_size=32 are upscaled 4x: 32x32 tiles; 4 channels shown.
TILE, COLUMNS = (32, 32), 4


def write_steps(log_dir, steps=STEPS, **options):
    """Logs ``steps`` steps of a 6-channel 8x8 layer whose values change every step."""
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(0)
    with FeatureMapLogger(log_dir, max_samples=2, max_channels=COLUMNS, **options) as logger:
        for step in range(steps):
            logger.log_arrays({"conv": rng.random((2, 8, 8, 6), dtype=np.float32)}, step)
    return read_run(logger.run_dir)


@pytest.fixture(scope="module")
def thirty_steps(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("timeline30")
    return log_dir, write_steps(log_dir)


def test_untile_inverts_tile():
    from fmlogger.render.tiling import tile

    maps = np.arange(5 * 3 * 2, dtype=np.uint16).reshape(1, 5, 3, 2)
    grid = tile(maps, scale=(2, 2), padding=1, pad_code=999)[0]
    tiles = untile(grid, 5, padding=1)[..., 0]
    np.testing.assert_array_equal(tiles, maps[0].repeat(2, axis=1).repeat(2, axis=2))


def test_cap_keeps_even_subsample_with_first_and_newest_and_bounded_memory():
    t = Timeline(max_rows=8)
    for step in range(STEPS):
        t.add(step * 10, np.full((2, 4, 4, 1), step, np.uint8))
        assert len(t._rows) <= 8
    # 30 logged steps, cap 8: every 4th would be 0..28 (8 rows) + newest = 9 > 8, so every 8th.
    assert t.stride == 8
    assert t.steps == [0, 80, 160, 240, 290]
    steps, tiles = decode(t.image(), tile_shape=(4, 4), columns=2)
    assert steps == [0, 80, 160, 240, 290]
    assert tiles[:, 0, 0, 0, 0].tolist() == [0, 8, 16, 24, 29]


def test_relogged_step_replaces_later_rows():
    t = Timeline()
    for step in (0, 1, 2, 3):
        t.add(step, np.full((1, 4, 4, 1), step, np.uint8))
    t.add(2, np.full((1, 4, 4, 1), 99, np.uint8))  # a resumed run logs step 2 again
    assert t.steps == [0, 1, 2]
    _, tiles = decode(t.image(), tile_shape=(4, 4), columns=1)
    assert tiles[:, 0, 0, 0, 0].tolist() == [0, 1, 99]


def test_timeline_rows_equal_first_sample_tiles_of_each_step(thirty_steps):
    _, run = thirty_steps
    events = run.images[tags.timeline_tag("conv")]
    assert [e.step for e in events] == list(range(STEPS))  # rewritten at every step
    main = {e.step: e.images for e in run.images[tags.image_tag("conv")]}
    for event in (events[0], events[12], events[-1]):
        steps, tiles = decode(event.images[0], tile_shape=TILE, columns=COLUMNS)
        assert steps == list(range(event.step + 1))
        for row, step in enumerate(steps):
            np.testing.assert_array_equal(tiles[row], untile(main[step][0], COLUMNS, padding=1))


def test_capped_timeline_in_run(tmp_path):
    run = write_steps(tmp_path, steps=STEPS, timeline_max_rows=8, timeline_max_channels=2)
    newest = run.images[tags.timeline_tag("conv")][-1]
    steps, tiles = decode(newest.images[0], tile_shape=TILE, columns=2)
    assert steps == [0, 8, 16, 24, 29]
    assert tiles.shape == (5, 2, 32, 32, 1)


def test_timeline_off(tmp_path):
    run = write_steps(tmp_path, steps=2, timeline=False)
    assert sorted(run.images) == [tags.image_tag("conv")]


def test_bad_timeline_options_name_the_argument(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    with pytest.raises(
        ValueError, match=r"timeline_max_rows must be an integer >= 2\. Received: timeline_max_rows=1"
    ):
        FeatureMapLogger(tmp_path, timeline_max_rows=1)
    with pytest.raises(ValueError, match=r"Received: timeline_max_channels=0"):
        FeatureMapLogger(tmp_path, timeline_max_channels=0)


@pytest.mark.slow  # a TensorBoard server
def test_real_tensorboard_default_flags_newest_timeline_holds_all_steps(thirty_steps):
    log_dir, run = thirty_steps
    server, base = tb_http.start_tensorboard(log_dir)
    try:
        timeline_tag, image_tag = tags.timeline_tag("conv"), tags.image_tag("conv")

        def newest_loaded():
            listed = tb_http.get_json(f"{base}/data/plugin/images/tags")
            if timeline_tag not in listed.get(tags.RUN_SUBDIR, {}):
                return None
            entries = tb_http.image_entries(base, tags.RUN_SUBDIR, timeline_tag)
            return entries if max(e["step"] for e in entries) == STEPS - 1 else None

        entries = tb_http.wait_for(newest_loaded, server, "the newest timeline step")
        # Default flags: TensorBoard keeps 10 of the 30 steps per image tag...
        assert len(entries) == 10
        assert len(tb_http.image_entries(base, tags.RUN_SUBDIR, image_tag)) == 10
        # ...but the newest step's timeline holds every step, in order.
        newest = max(entries, key=lambda e: e["step"])
        image = tb_http.individual_image(base, newest)
        steps, tiles = decode(image, tile_shape=TILE, columns=COLUMNS)
        assert steps == list(range(STEPS))
        main = {e.step: e.images for e in run.images[image_tag]}
        for row, step in enumerate(steps):
            np.testing.assert_array_equal(tiles[row], untile(main[step][0], COLUMNS, padding=1))
    finally:
        tb_http.stop(server)


@pytest.mark.parametrize("max_rows", [64, 4])
def test_resumed_run_continues_the_timeline(tmp_path, max_rows):
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(2)
    arrays = [rng.random((1, 8, 8, 6), dtype=np.float32) for _ in range(9)]
    for steps in (range(6), range(6, 9)):  # a second logger on the same folder: a resumed run
        with FeatureMapLogger(
            tmp_path, max_samples=1, max_channels=COLUMNS, timeline_max_rows=max_rows
        ) as logger:
            for step in steps:
                logger.log_arrays({"conv": arrays[step]}, step)
    run = read_run(logger.run_dir)
    steps, tiles = decode(
        run.images[tags.timeline_tag("conv")][-1].images[0], tile_shape=TILE, columns=COLUMNS
    )
    reference = Timeline(max_rows)  # what one logger over all 9 steps keeps
    for step in range(9):
        reference.add(step, np.zeros((1, 1, 1, 1), np.uint8))
    assert steps == reference.steps == (list(range(9)) if max_rows == 64 else [0, 4, 8])
    main = {e.step: e.images for e in run.images[tags.image_tag("conv")]}
    for row, step in enumerate(steps):
        np.testing.assert_array_equal(tiles[row], untile(main[step][0], COLUMNS, padding=1))


def _resume_runs(log_dir, between=None, **options):
    """Steps 0..5 with one logger, ``between(run_dir)``, then 6..8 with a second one on the same folder.

    Returns the first logger's newest timeline image and the second run's newest timeline event.
    """
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(5)
    arrays = [rng.random((1, 8, 8, 6), dtype=np.float32) for _ in range(9)]
    newest = []
    for steps in (range(6), range(6, 9)):
        with FeatureMapLogger(log_dir, max_samples=1, max_channels=COLUMNS, **options) as logger:
            for step in steps:
                logger.log_arrays({"conv": arrays[step]}, step)
        newest.append(read_run(logger.run_dir).images[tags.timeline_tag("conv")][-1])
        if between is not None and steps == range(6):
            between(logger.run_dir)
    return newest[0].images[0], newest[1]


def test_resume_restores_rows_from_the_rows_file_not_from_event_images(tmp_path):
    import os

    from fmlogger.sinks.timeline_rows import rows_path

    def remove_event_files(run_dir):  # the old restore read the newest timeline PNG: now gone
        assert os.path.exists(rows_path(run_dir))
        for name in os.listdir(run_dir):
            if ".tfevents." in name:
                os.remove(os.path.join(run_dir, name))

    first, resumed = _resume_runs(tmp_path, remove_event_files, colormap="magma")
    assert resumed.step == 8
    steps, tiles = decode(resumed.images[0], tile_shape=TILE, columns=COLUMNS)
    assert steps == list(range(9))
    # Rows 0..5 are the first run's pixels exactly: label strip, tiles, padding, colours.
    height = 6 * (1 + TILE[0])
    np.testing.assert_array_equal(resumed.images[0][:height], first[:height])
    assert first.shape[0] == height + 1 and resumed.images[0].shape[0] == 9 * (1 + TILE[0]) + 1


@pytest.mark.parametrize("damage", ["corrupt", "missing", "truncated"])
def test_damaged_rows_file_is_reported_and_the_timeline_starts_afresh(tmp_path, caplog, damage):
    import logging
    import os

    from fmlogger.sinks.timeline_rows import rows_path

    def spoil(run_dir):
        path = rows_path(run_dir)
        if damage == "missing":
            os.remove(path)
        elif damage == "truncated":
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
        else:
            open(path, "wb").write(b"not an npz\0" * 10)

    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        _, resumed = _resume_runs(tmp_path, spoil)
    path = rows_path(tmp_path / tags.RUN_SUBDIR)
    if damage == "truncated":  # an append cut short (kill -9): the whole records before it are kept
        assert len(caplog.messages) == 1 and f"{path} ends inside a record" in caplog.messages[0]
        steps, _ = decode(resumed.images[0], tile_shape=TILE, columns=COLUMNS)
        assert steps[-3:] == [6, 7, 8] and 0 < len(steps) - 3 < 6
        assert steps[:-3] == list(range(len(steps) - 3))
        return
    expected = f"{path} is missing" if damage == "missing" else f"cannot read {path}"
    assert [m for m in caplog.messages if "timelines start afresh" in m] == [
        m for m in caplog.messages if expected in m
    ] and len(caplog.messages) == 1, caplog.messages
    steps, _ = decode(resumed.images[0], tile_shape=TILE, columns=COLUMNS)
    assert steps == [6, 7, 8]


def test_resume_false_ignores_saved_rows(tmp_path):
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(1)
    for steps, resume in ((range(3), True), (range(3, 5), False)):
        with FeatureMapLogger(tmp_path, max_samples=1, resume=resume) as logger:
            for step in steps:
                logger.log_arrays({"conv": rng.random((1, 8, 8, 2), dtype=np.float32)}, step)
    newest = read_run(logger.run_dir).images[tags.timeline_tag("conv")][-1]
    assert decode(newest.images[0], tile_shape=TILE, columns=2)[0] == [3, 4]


def test_image_drawn_row_by_row_equals_the_whole_image_drawn_afresh(rng):
    from fmlogger.render.timeline import compose

    timelines = {"gray": Timeline(max_rows=6), "magma": Timeline(max_rows=6)}
    steps = list(range(0, 14)) + [12, 13, 14] + list(range(15, 30))  # 9 -> 10: wider labels; a re-log
    for n, step in enumerate(steps):
        shape = (3, 8, 8, 3 if n == 20 else 1) if n < 25 else (3, 4, 4, 1)  # an RGB row; then a restart
        tiles = rng.integers(0, 256, shape, dtype=np.uint8)
        for colormap, timeline in timelines.items():
            timeline.add(step, tiles)
            rows = [timeline._rows[i] for i in sorted(timeline._rows)]
            channels = max(r[1].shape[-1] for r in rows)
            stacked = np.stack([np.broadcast_to(r[1], r[1].shape[:3] + (channels,)) for r in rows])
            expected = compose([r[0] for r in rows], stacked, padding=2, colormap=colormap)
            np.testing.assert_array_equal(timeline.image(padding=2, colormap=colormap), expected)
            got = timeline.image(padding=2, colormap=colormap)  # the same rows again: the same image
            np.testing.assert_array_equal(got, expected)
            assert not got.flags.writeable  # kept to draw the next image on
    assert timelines["gray"].steps[-1] == 29
