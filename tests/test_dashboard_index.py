"""The dashboard's offset index and catalog: incremental re-scans, truncated and damaged files,
links out of the log folder, the bounded record cache; over real event files."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from test_dashboard import ROUTE, arrays_run, board_app, plugin_of

from fmlogger import tags
from fmlogger.dashboard.catalog import IMAGE_PREFIXES, Catalog
from fmlogger.dashboard.index import RECORD_OVERHEAD, RecordCache, RunIndex
from fmlogger.runs.events import event_files, images_by_step, iter_records

pytestmark = pytest.mark.filterwarnings("ignore:html5lib's sanitizer is deprecated:DeprecationWarning")
TAG = tags.image_tag("a")


def run_index(run_dir, root=None, **options) -> RunIndex:
    root = os.path.realpath(root or os.path.dirname(run_dir))
    return RunIndex(os.fspath(run_dir), root=root, image_prefixes=IMAGE_PREFIXES,
                    scalar_prefixes=(tags.STATS_PREFIX,), **options)


@pytest.fixture(scope="module")
def five_steps(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("five")
    arrays_run(log_dir, steps=5)
    return log_dir / tags.RUN_SUBDIR


def records(run_dir):
    (path,) = event_files(os.fspath(run_dir))
    return path, list(iter_records(path))


def test_update_indexes_offsets_and_reads_only_what_was_appended(tmp_path):
    arrays_run(tmp_path, steps=3)
    run_dir = tmp_path / tags.RUN_SUBDIR
    index = run_index(run_dir)
    assert index.update() is True
    assert index.image_tags()[TAG]["steps"] == [0, 1, 2]
    before = dict(index.images[TAG].steps)
    assert index.update() is False  # nothing new: nothing read
    arrays_run(tmp_path, steps=5, seed=3)  # a second logger on the folder: a new event file, steps 0..4
    assert len(event_files(os.fspath(run_dir))) == 2
    assert index.update() is True
    assert index.image_tags()[TAG]["steps"] == [0, 1, 2, 3, 4]
    after = index.images[TAG].steps
    assert all(after[s][0] == 1 for s in range(5))  # rewritten steps now point into the new file
    assert all(after[s][2] > before[s][2] for s in range(3))  # with new serials (new image URLs)
    newest = images_by_step(os.fspath(run_dir), TAG)
    assert [index.image(TAG, s, 0) for s in range(5)] == [newest[s][0] for s in range(5)]
    mean = index.scalar_series()[tags.stat_tag("a", "mean")]
    assert [step for step, _ in mean] == [0, 1, 2, 3, 4]


def test_a_truncated_last_record_waits_for_the_rest(five_steps, tmp_path):
    path, recs = records(five_steps)
    data = open(path, "rb").read()
    image_offsets = [offset for offset, payload in recs if TAG.encode() in payload]
    cut = image_offsets[3] + 40  # inside the record of step 3
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    copy = run_dir / os.path.basename(path)
    copy.write_bytes(data[:cut])
    index = run_index(run_dir)
    index.update()
    assert index.image_tags()[TAG]["steps"] == [0, 1, 2]
    assert index.problems == []
    with open(copy, "ab") as f:  # the writer finishes the record and writes the next step
        f.write(data[cut:])
    assert index.update() is True
    assert index.image_tags()[TAG]["steps"] == [0, 1, 2, 3, 4]
    assert index._next[os.fspath(copy)] == len(data)
    last_offset, last_payload = recs[-1]
    assert last_offset + RECORD_OVERHEAD + len(last_payload) == len(data)
    assert index.image(TAG, 4, 0) == images_by_step(os.fspath(five_steps), TAG)[4][0]


def test_a_damaged_record_is_reported_and_the_steps_before_it_stay(five_steps, tmp_path):
    path, recs = records(five_steps)
    data = bytearray(open(path, "rb").read())
    damaged_at = [offset for offset, payload in recs if TAG.encode() in payload][2]
    data[damaged_at + 8] ^= 0xFF  # the length's CRC no longer matches
    logdir = tmp_path / "logdir"
    shutil.copytree(five_steps, logdir / "exp" / tags.RUN_SUBDIR)
    (logdir / "exp" / tags.RUN_SUBDIR / os.path.basename(path)).write_bytes(bytes(data))
    client = pytest.importorskip("werkzeug.test").Client(board_app(logdir))
    run = json.loads(client.get(ROUTE + "runs").data)["runs"][0]
    assert run["steps"] == [0, 1]
    (problem,) = run["problems"]
    assert os.path.basename(path) in problem and f"byte {damaged_at}" in problem
    response = client.get(ROUTE + "image", query_string=dict(run=run["name"], tag=TAG, step=1, sample=0))
    assert response.status_code == 200
    assert response.data == images_by_step(os.fspath(five_steps), TAG)[1][0]


def test_new_steps_appear_without_restarting_tensorboard(tmp_path):
    arrays_run(tmp_path / "live", steps=2)
    app = board_app(tmp_path)
    plugin_of(app).catalog.rescan_s = 0  # re-scan on every request (2 s by default)
    client = pytest.importorskip("werkzeug.test").Client(app)
    name = f"live/{tags.RUN_SUBDIR}"
    assert json.loads(client.get(ROUTE + "runs").data)["runs"][0]["steps"] == [0, 1]
    arrays_run(tmp_path / "live", steps=4, seed=5)
    arrays_run(tmp_path / "later", steps=1)
    runs = {r["name"]: r for r in json.loads(client.get(ROUTE + "runs").data)["runs"]}
    assert runs[name]["steps"] == [0, 1, 2, 3]
    assert f"later/{tags.RUN_SUBDIR}" in runs
    response = client.get(ROUTE + "image", query_string=dict(run=name, tag=TAG, step=3, sample=0))
    assert response.data == images_by_step(os.fspath(tmp_path / name), TAG)[3][0]


def test_links_out_of_the_log_folder_are_not_followed(five_steps, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(five_steps, outside / tags.RUN_SUBDIR)
    logdir = tmp_path / "logdir"
    (logdir / "mine" / tags.RUN_SUBDIR).mkdir(parents=True)
    run_dir = logdir / "mine" / tags.RUN_SUBDIR
    shutil.copy(outside / tags.RUN_SUBDIR / tags.STATE_FILE, run_dir / tags.STATE_FILE)
    (path,) = event_files(os.fspath(outside / tags.RUN_SUBDIR))
    os.symlink(path, run_dir / "events.out.tfevents.1.linked")  # an event file that lies outside
    os.symlink(outside, logdir / "linked")  # a folder link to a run outside
    catalog = Catalog(os.fspath(logdir))
    runs = catalog.refresh()
    assert list(runs) == [f"mine/{tags.RUN_SUBDIR}"]
    run = runs[f"mine/{tags.RUN_SUBDIR}"]
    assert run.index.images == {}
    assert run.index.problems == ["events.out.tfevents.1.linked points outside the log folder; not read."]
    catalog.refresh(force=True)
    assert len(run.index.problems) == 1  # reported once


def test_the_record_cache_stays_under_its_byte_bound(five_steps):
    path, recs = records(five_steps)
    biggest = max(len(p) for _, p in recs)
    cache = RecordCache(max_bytes=2 * biggest)
    for offset, payload in recs:
        event = cache.event(path, offset)
        assert event.SerializeToString() == payload
        assert cache._bytes <= 2 * biggest
    assert 1 <= len(cache._events) <= 2
    index = run_index(five_steps, cache=cache)
    index.update()
    assert index.description(TAG, 0).startswith("a (4, 4, 3)")


def test_a_diverging_keras_loss_comes_back_as_null_in_strict_json(tmp_path):
    import tensorflow as tf

    arrays_run(tmp_path, steps=1)
    writer = tf.summary.create_file_writer(os.fspath(tmp_path / "train"))
    with writer.as_default():
        for step, loss in enumerate([0.5, float("nan"), float("inf")]):
            tf.summary.scalar("epoch_loss", loss, step=step)
    writer.close()
    client = pytest.importorskip("werkzeug.test").Client(board_app(tmp_path))
    body = client.get(ROUTE + "scalars", query_string={"run": tags.RUN_SUBDIR}).data

    def reject(constant):
        raise AssertionError(f"{constant} is not JSON")

    answer = json.loads(body, parse_constant=reject)
    assert answer["keras"] == {"train": {"epoch_loss": [[1, 0.5], [2, None], [3, None]]}}


def test_a_record_that_is_no_event_is_reported(five_steps, tmp_path):
    import struct

    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    path, recs = records(five_steps)
    run_dir = tmp_path / "run"
    shutil.copytree(five_steps, run_dir)
    garbage = b"\xff" * 7  # CRC-valid record whose payload is not an Event proto
    header = struct.pack("<Q", len(garbage))
    crc = struct.pack("<I", masked_crc32c(header)), struct.pack("<I", masked_crc32c(garbage))
    record = header + crc[0] + garbage + crc[1]
    copy = run_dir / os.path.basename(path)
    with open(copy, "ab") as f:
        f.write(record)
    index = run_index(run_dir)
    index.update()
    assert index.image_tags()[TAG]["steps"] == [0, 1, 2, 3, 4]
    assert index.problems == [f"{copy.name}: a record at byte {os.path.getsize(path)} is no TensorBoard "
                              "event; steps after it are not shown."]
