"""The checked TFRecord reader: CRC-32C on both paths, damage, truncated tails, forged lengths.

Files are written with TensorBoard's own pure-Python ``RecordWriter`` (its own masked CRC), so the
reader is checked against an independent writer.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from fmlogger import _crc32c as crc_module
from fmlogger._crc32c import crc32c, crc32c_numpy, masked_crc32c
from fmlogger.runs.events import (
    MAX_RECORD_BYTES,
    DamagedEventFile,
    iter_records,
    iter_summaries,
    read_record,
)
from helpers import tb_http

PAYLOADS = [b"", b"x", bytes(range(256)) * 3, np.random.default_rng(0).bytes(70_001), b"last record"]


@pytest.fixture(params=["google_crc32c", "numpy"])
def crc_path(request, monkeypatch):
    """Runs a test with the C library, then with the numpy fallback (as if google-crc32c were missing)."""
    if request.param == "numpy":
        monkeypatch.setattr(crc_module, "_fast", lambda: None)
    else:
        assert crc_module._fast() is not None, "google-crc32c (an install requirement) is not installed"
    return request.param


def write_records(path, payloads):
    """Writes ``payloads`` as TFRecords with TensorBoard's writer; returns each record's offset."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    offsets, pos = [], 0
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        for payload in payloads:
            offsets.append(pos)
            writer.write(payload)
            pos += 12 + len(payload) + 4
    return offsets


def test_crc32c_known_values_on_both_paths():
    import google_crc32c

    # RFC 3720, B.4: 32 bytes of 0x00, of 0xFF, ascending 0..31; and the classic "123456789".
    known = {
        bytes(32): 0x8A9136AA,
        b"\xff" * 32: 0x62A8AB43,
        bytes(range(32)): 0x46DD794E,
        b"123456789": 0xE3069283,
    }
    for data, value in known.items():
        assert crc32c_numpy(data) == value and crc32c(data) == value
    rng = np.random.default_rng(1)
    for size in [*range(300), 511, 512, 513, 4095, 4096, 4097, 65_537, 1_000_003]:  # both sides of _SMALL
        data = rng.bytes(size)
        assert crc32c_numpy(data) == google_crc32c.value(data), size


def test_masked_crc_matches_tensorboards(crc_path):
    from tensorboard.summary.writer.record_writer import masked_crc32c as tb_masked

    for payload in PAYLOADS:
        assert masked_crc32c(payload) == tb_masked(payload)


def test_records_offsets_and_random_access(tmp_path, crc_path):
    path = str(tmp_path / "events.tfevents.1")
    offsets = write_records(path, PAYLOADS)
    assert list(iter_records(path)) == list(zip(offsets, PAYLOADS))
    assert list(iter_records(path, start=offsets[3])) == list(zip(offsets[3:], PAYLOADS[3:]))
    for offset, payload in zip(offsets, PAYLOADS):
        assert read_record(path, offset) == payload


@pytest.mark.parametrize(
    "where, reason",
    [(0, "length header"), (9, "length header"), (12 + 300, "payload"), (12 + 768 + 2, "payload")],
)
def test_a_flipped_byte_is_damage_naming_file_offset_and_reason(tmp_path, crc_path, where, reason):
    path = str(tmp_path / "events.tfevents.1")
    offsets = write_records(path, PAYLOADS)
    with open(path, "r+b") as f:  # record 2: 768 bytes; byte 12 + 768 + 2 is in its payload CRC
        f.seek(offsets[2] + where)
        byte = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte ^ 0x10]))
    seen = []
    with pytest.raises(DamagedEventFile) as caught:
        for offset, payload in iter_records(path):
            seen.append(payload)
    assert seen == PAYLOADS[:2]  # the records before the damage were yielded
    err = caught.value
    assert (err.path, err.offset) == (path, offsets[2]) and reason in err.reason
    assert str(err).startswith(f"damaged event file {path} at byte {offsets[2]}: ")
    with pytest.raises(DamagedEventFile, match=reason):
        read_record(path, offsets[2])


def test_truncated_last_record_ends_quietly(tmp_path, caplog):
    path = tmp_path / "events.tfevents.1"
    offsets = write_records(path, PAYLOADS)
    whole = path.read_bytes()
    cut_path = str(tmp_path / "cut.tfevents.1")
    with caplog.at_level(logging.DEBUG):
        for cut in range(offsets[-1], len(whole)):  # every length a writer may have reached so far
            with open(cut_path, "wb") as f:
                f.write(whole[:cut])
            assert [p for _, p in iter_records(cut_path)] == PAYLOADS[:-1], cut
    assert caplog.records == []
    with pytest.raises(DamagedEventFile, match="runs past the end of the file"):
        read_record(cut_path, offsets[-1])


def forged_header(length: int) -> bytes:
    """A length header with a correct CRC: only the size limit can refuse it."""
    from tensorboard.summary.writer.record_writer import masked_crc32c as tb_masked

    field = struct.pack("<Q", length)
    return field + struct.pack("<I", tb_masked(field))


@pytest.mark.parametrize("length", [2**63, MAX_RECORD_BYTES + 1, 900_000_000])
def test_forged_huge_length_in_a_1gb_sparse_file_is_refused_fast(tmp_path, length):
    path = str(tmp_path / "events.tfevents.1")
    offsets = write_records(path, PAYLOADS[:2])
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(forged_header(length))
        f.truncate(1 << 30)  # sparse: 1 GiB on paper, a few bytes on disk
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(DamagedEventFile, match="over the 268,435,456-byte limit") as caught:
        [p for _, p in iter_records(path)]
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert caught.value.offset == offsets[-1] + 12 + len(PAYLOADS[1]) + 4
    assert elapsed < 1.0 and peak < 1 << 20, (elapsed, peak)


def test_forged_length_past_the_end_reads_nothing(tmp_path):
    path = str(tmp_path / "events.tfevents.1")
    write_records(path, PAYLOADS[:2])
    with open(path, "ab") as f:
        f.write(forged_header(MAX_RECORD_BYTES) + b"tail")  # valid header, 256 MiB claimed, 4 bytes there
    tracemalloc.start()
    assert [p for _, p in iter_records(path)] == PAYLOADS[:2]  # looks like a record being written
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()


def test_a_record_that_is_not_an_event_is_damage(tmp_path, caplog):
    from tensorboard.compat.proto import event_pb2

    good = event_pb2.Event(step=3, wall_time=1.0)
    good.summary.value.add(tag="a/b").tensor.float_val.append(1.5)
    write_records(tmp_path / "1.tfevents.a", [good.SerializeToString(), b"\x08"])  # b"\x08": a cut varint
    write_records(tmp_path / "2.tfevents.b", [good.SerializeToString()])
    damaged: list = []
    with caplog.at_level(logging.WARNING):
        found = [(s.tag, s.step, os.path.basename(s.path)) for s in iter_summaries(tmp_path, damaged=damaged)]
    assert found == [("a/b", 3, "1.tfevents.a"), ("a/b", 3, "2.tfevents.b")]
    assert len(damaged) == 1 and "not an Event proto" in damaged[0].reason
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert str(tmp_path / "1.tfevents.a") in caplog.records[0].getMessage()


BLOCKER = """
import sys
class BlockImports:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, BlockImports())
"""
CLI = "from fmlogger.cli.main import main\ncode = main(sys.argv[1:])\n"


def run_without(blocked: tuple, body: str, *argv: str) -> subprocess.CompletedProcess:
    """Runs ``body`` (with ``argv``) in a Python where importing ``blocked`` raises ImportError.

    ``body`` sets ``code``, the exit status; the child also fails if a blocked module got loaded."""
    check = "assert not set(BLOCKED) & {m.partition('.')[0] for m in sys.modules}\nsys.exit(code)\n"
    return subprocess.run(
        [sys.executable, "-c", f"BLOCKED = {blocked!r}" + BLOCKER + body + check, *argv],
        capture_output=True,
        text=True,
        env=tb_http.popen_env(),
        timeout=120,
        check=False,
    )


def test_read_run_and_compare_need_no_tensorflow_keras_or_crc_library(tmp_path):
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.runs.read import read_run

    rng = np.random.default_rng(4)
    with FeatureMapLogger(tmp_path, max_samples=2, max_channels=3) as logger:
        for step in range(3):
            logger.log_arrays({"conv": rng.random((2, 5, 5, 3), dtype=np.float32)}, step)
    body = (
        "import json\nfrom fmlogger.runs.read import read_run\nrun = read_run(sys.argv.pop(1))\n"
        "print(json.dumps({t: [[e.step, e.images.tolist()] for e in es] for t, es in run.images.items()}))\n"
        "print(json.dumps(run.scalars))\n" + CLI
    )
    out = str(tmp_path / "diff.png")
    argv = [logger.run_dir, "compare", str(tmp_path), str(tmp_path), "--layer", "conv", "--out", out]
    done = run_without(("tensorflow", "keras", "google_crc32c"), body, *argv)
    assert done.returncode == 0, done.stderr
    images, scalars = (json.loads(line) for line in done.stdout.splitlines()[:2])
    run = read_run(logger.run_dir)  # here, with TensorFlow and google-crc32c importable
    assert images == {t: [[e.step, e.images.tolist()] for e in es] for t, es in run.images.items()}
    assert scalars == {t: [list(v) for v in vs] for t, vs in run.scalars.items()} and len(scalars) == 4
    assert os.path.getsize(out) > 0 and "wrote" in done.stdout


def test_a_payload_over_4_mib_is_checked_piece_by_piece_and_read_back_whole(tmp_path, crc_path):
    big = np.random.default_rng(1).bytes(5 << 20)
    path = str(tmp_path / "events.tfevents.1")
    write_records(path, [b"a", big, b"b"])
    assert [p for _, p in iter_records(path)] == [b"a", big, b"b"]
    with open(path, "r+b") as f:  # one byte of the big payload flipped
        f.seek(12 + 1 + 4 + 12 + (3 << 20))
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(DamagedEventFile, match=r"the payload's CRC does not match \(5242880 bytes\)"):
        list(iter_records(path))


def test_a_forged_allowed_length_in_a_sparse_file_costs_one_piece_of_memory(tmp_path):
    path = str(tmp_path / "events.tfevents.1")
    write_records(path, PAYLOADS[:1])
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(forged_header(MAX_RECORD_BYTES))  # a valid length CRC: only the payload CRC refuses it
        f.truncate(1 << 30)
    tracemalloc.start()
    with pytest.raises(DamagedEventFile, match="the payload's CRC does not match"):
        list(iter_records(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20, peak  # 4 MiB pieces, not the 256 MiB the header claims
