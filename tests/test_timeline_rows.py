"""The timeline rows file: appended step by step, rewritten when needed, read back exactly."""

from __future__ import annotations

import io
import logging
import os

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.render.timeline import Timeline
from fmlogger.sinks.timeline_rows import MAGIC, RowsFile, TimelineRows, load_rows, rows_path


def _rows(timeline: Timeline) -> TimelineRows:
    """What ``TimelineView.changed_rows`` hands the rows file: the timeline's own row arrays."""
    kept = sorted(timeline._rows.items())
    return TimelineRows([r[0] for _, r in kept], [i for i, _ in kept], [r[1] for _, r in kept],
                        timeline.stride, timeline.count)


def _assert_same(got: TimelineRows, timeline: Timeline):
    expected = _rows(timeline)
    assert (got.steps, got.indices, got.stride, got.count) == (
        expected.steps, expected.indices, expected.stride, expected.count
    )
    for a, b in zip(got.tiles, expected.tiles):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.uint8 and a.shape == b.shape


def test_steps_append_records_and_read_back_the_kept_rows(tmp_path, rng):
    timeline, rows_file = Timeline(max_rows=4), RowsFile(str(tmp_path))
    path = rows_path(str(tmp_path))
    sizes, rewrites = [], 0
    for step in range(40):
        channels = 3 if step == 7 else 1  # one RGB row (non-finite marker) among grey ones
        timeline.add(step, rng.integers(0, 256, (16, 32, 32, channels), dtype=np.uint8))
        before = open(path, "rb").read() if os.path.exists(path) else b""
        rows_file.save({"conv": _rows(timeline)})
        after = open(path, "rb").read()
        if not after.startswith(before) or not before:  # not an append: a whole rewrite
            rewrites += 1
        sizes.append(len(after))
        _assert_same(load_rows(str(tmp_path))["conv"], timeline)
    assert after.startswith(MAGIC)
    # One record of 16 KiB (+ header) per step; rewritten when dropped rows make up over half the
    # file (and 64 KiB): the kept rows are at most 6 x 16 KiB (one RGB row), so < 2 x 96 + 64 + 48 KiB.
    assert 1 < rewrites <= 8, rewrites
    assert max(sizes) < (2 * 96 + 64 + 48) * 1024, max(sizes)
    assert timeline.steps == [0, 16, 32, 39]


def test_a_restarted_timeline_and_a_second_writer_are_saved_exactly(tmp_path, rng):
    first, second = RowsFile(str(tmp_path)), RowsFile(str(tmp_path))
    a, b = Timeline(max_rows=8), Timeline(max_rows=8)
    for step in range(3):
        a.add(step, rng.integers(0, 256, (2, 4, 4, 1), dtype=np.uint8))
        first.save({"a": _rows(a)})
        b.add(step, rng.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8))
        second.save({"b": _rows(b)})
    a.add(3, rng.integers(0, 256, (2, 8, 8, 1), dtype=np.uint8))  # new tile shape: a starts afresh
    assert a.count == 1 and a.steps == [3]
    first.save({"a": _rows(a)})
    saved = load_rows(str(tmp_path))
    _assert_same(saved["a"], a)
    _assert_same(saved["b"], b)


def test_the_npz_of_fmlogger_0_1_is_read_and_replaced_at_the_first_save(tmp_path, rng):
    tiles = rng.integers(0, 256, (2, 3, 4, 4, 1), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, format_version=np.array(1), layers=np.array(["conv"]), **{
        "0/tiles": tiles, "0/steps": np.array([0, 2]), "0/indices": np.array([0, 1]),
        "0/channels": np.array([1, 1]), "0/meta": np.array([1, 2]),
    })
    npz = tmp_path / tags.TIMELINES_FILE_V1
    npz.write_bytes(buffer.getvalue())
    saved = load_rows(str(tmp_path))["conv"]
    assert (saved.steps, saved.indices, saved.stride, saved.count) == ([0, 2], [0, 1], 1, 2)
    np.testing.assert_array_equal(np.stack(saved.tiles), tiles)
    timeline = Timeline(max_rows=8)
    timeline.stride, timeline.count = saved.stride, saved.count
    timeline._rows = {i: (s, t) for i, s, t in zip(saved.indices, saved.steps, saved.tiles)}
    timeline.add(5, tiles[0])
    RowsFile(str(tmp_path)).save({"conv": _rows(timeline)})
    assert not npz.exists()
    _assert_same(load_rows(str(tmp_path))["conv"], timeline)


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_write_cut_short_keeps_the_rows_before_it_and_a_flipped_byte_loses_them(
    tmp_path, rng, caplog, damage
):
    timeline, rows_file = Timeline(max_rows=8), RowsFile(str(tmp_path))
    path = rows_path(str(tmp_path))
    for step in range(3):
        timeline.add(step, rng.integers(0, 256, (2, 4, 4, 1), dtype=np.uint8))
        rows_file.save({"conv": _rows(timeline)})
        if step == 1:
            two_steps = os.path.getsize(path)
    data = open(path, "rb").read()
    if damage == "cut":  # the third step's append stopped 10 bytes before its end
        open(path, "wb").write(data[:-10])
    else:  # one tile byte of the first record changed: its CRC fails, nothing is trusted
        spoiled = bytearray(data)
        spoiled[two_steps // 3] ^= 0xFF
        open(path, "wb").write(bytes(spoiled))
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        saved = load_rows(str(tmp_path))
    assert len(caplog.messages) == 1
    if damage == "cut":
        assert f"{path} ends inside a record at byte {two_steps}" in caplog.messages[0]
        assert saved["conv"].steps == [0, 1]
        np.testing.assert_array_equal(saved["conv"].tiles[1], timeline._rows[1][1])
        RowsFile(str(tmp_path)).save({"conv": saved["conv"]})  # a resumed run rewrites it whole
        assert load_rows(str(tmp_path))["conv"].steps == [0, 1]
    else:
        assert "fails its CRC" in caplog.messages[0] and saved == {}


def test_two_writers_keep_each_others_rows_through_rewrites(tmp_path, rng):
    files = {"a": RowsFile(str(tmp_path)), "b": RowsFile(str(tmp_path))}
    timelines = {"a": Timeline(max_rows=4), "b": Timeline(max_rows=4)}
    path, rewrites = rows_path(str(tmp_path)), 0
    for step in range(30):
        for name in ("a", "b"):
            timelines[name].add(step, rng.integers(0, 256, (16, 32, 32, 1), dtype=np.uint8))
            before = open(path, "rb").read() if os.path.exists(path) else b""
            files[name].save({name: _rows(timelines[name])})
            rewrites += not open(path, "rb").read().startswith(before) or not before
            saved = load_rows(str(tmp_path))
            assert set(saved) == ({"a"} if (step, name) == (0, "a") else {"a", "b"})
            for other in saved:
                _assert_same(saved[other], timelines[other])
    assert rewrites > 3 and set(load_rows(str(tmp_path))) == {"a", "b"}
