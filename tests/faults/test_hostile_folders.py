"""Hostile log folders: every CLI reader finishes in bounded time and memory, names each damaged
file, and still exports / compares / serves the rest.

The crafted folder holds two good runs and, in run ``a`` and in a run of its own, event-file names
over a 20 GB sparse file of zeros, a 20 GB sparse file whose second record forges the largest
allowed length (with a valid length CRC, so only the payload CRC can refuse it), 4 MB of zeros and
4 MB of random bytes. Each command runs in a child process that reports its own time and peak RSS
(``VmHWM``; Linux only, skipped elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_runs_events import forged_header

from fmlogger.runs.events import MAX_RECORD_BYTES
from helpers import tb_http

HOSTILE = {
    "events.out.tfevents.9999999990.sparse": "20 GB of zeros (sparse)",
    "events.out.tfevents.9999999991.forged": "a good record, then a forged 256 MiB length, 20 GB sparse",
    "events.out.tfevents.9999999992.zeros": "4 MB of zeros",
    "events.out.tfevents.9999999993.garbage": "4 MB of random bytes",
}
SPARSE_SIZE = 20 << 30
STEPS = 3
MAX_SECONDS = 60  # a shared 2-core machine; each takes ~1 s here
MAX_RSS_MB = 200  # Python + numpy + protobuf ~50 MB; reading a forged 256 MiB record whole was ~300 MB


def _write_run(log_dir, seed: int) -> None:
    from fmlogger import FeatureMapLogger

    rng = np.random.default_rng(seed)
    with FeatureMapLogger(log_dir, background=False, max_channels=4, max_samples=2) as logger:
        for step in range(STEPS):
            logger.log_arrays({"conv": rng.random((2, 8, 8, 4), dtype=np.float32)}, step)


def _add_hostile_files(run_dir, *, keep_good: bool = True) -> None:
    good = next(p for p in sorted(os.listdir(run_dir)) if "tfevents" in p)
    with open(os.path.join(run_dir, good), "rb") as f:
        data = f.read()
    if not keep_good:
        os.remove(os.path.join(run_dir, good))
    first = 12 + int.from_bytes(data[:8], "little") + 4  # the file_version record
    contents = {
        "sparse": b"",
        "forged": data[:first] + forged_header(MAX_RECORD_BYTES),
        "zeros": bytes(4 << 20),
        "garbage": np.random.default_rng(0).bytes(4 << 20),
    }
    for name in HOSTILE:
        path = os.path.join(run_dir, name)
        with open(path, "wb") as f:
            f.write(contents[name.rsplit(".", 1)[1]])
            if name.endswith(("sparse", "forged")):
                f.truncate(SPARSE_SIZE)
        if name.endswith("sparse") and os.stat(path).st_blocks * 512 >= 1 << 20:
            pytest.skip("this file system does not keep sparse files sparse")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for name, seed in (("a", 0), ("b", 1), ("evil", 2)):
        _write_run(root / name, seed)
    _add_hostile_files(root / "a" / "feature_maps")
    _add_hostile_files(root / "evil" / "feature_maps", keep_good=False)  # every event file hostile
    return root


MEASURED = """
import sys, time
start = time.perf_counter()
code = 0
{body}
with open("/proc/self/status") as status:  # VmHWM: this program's peak RSS (ru_maxrss would count
    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))  # the parent's)
print("MEASURED", time.perf_counter() - start, rss_kb, file=sys.stderr)
sys.exit(code)
"""
CLI = "from fmlogger.cli.main import main\ncode = main(sys.argv[1:])"


def _measured(body: str, *argv) -> tuple[subprocess.CompletedProcess, float, float]:
    """Runs ``body`` in a child; returns it, its seconds and its peak RSS in MB."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak RSS is read from /proc/self/status (Linux)")
    done = subprocess.run(
        [sys.executable, "-c", MEASURED.format(body=body), *map(str, argv)],
        capture_output=True, text=True, env=tb_http.popen_env(), timeout=10 * MAX_SECONDS,
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("MEASURED"))
    seconds, rss_kb = map(float, line.split()[1:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert seconds < MAX_SECONDS and rss_kb / 1024 < MAX_RSS_MB, (seconds, rss_kb / 1024)
    return done, seconds, rss_kb / 1024


def _names_every_hostile_file(text: str, run_dir) -> None:
    for name in HOSTILE:
        assert os.path.join(str(run_dir), name) in text or name in text, (name, text[-2000:])


def test_export_names_each_damaged_file_and_exports_every_good_step(log_dir, tmp_path):
    done, _, _ = _measured(CLI, "export", "--logdir", log_dir / "a", "--out", tmp_path / "out")
    assert done.returncode == 1  # partial: the damaged files were named
    _names_every_hostile_file(done.stderr, log_dir / "a" / "feature_maps")
    clean, _, _ = _measured(CLI, "export", "--logdir", log_dir / "b", "--out", tmp_path / "clean")
    assert clean.returncode == 0
    exported = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.png"))
    assert exported == sorted(p.relative_to(tmp_path / "clean") for p in (tmp_path / "clean").rglob("*.png"))
    assert len([p for p in exported if p.parts[0] == "feature_maps"]) == STEPS * 2  # steps x samples
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.gif")) == ["sample_0.gif", "sample_1.gif"]


def test_compare_names_each_damaged_file_and_compares_the_good_steps(log_dir, tmp_path):
    out = tmp_path / "diff.png"
    done, _, _ = _measured(CLI, "compare", log_dir / "a", log_dir / "b", "--layer", "conv", "--out", out)
    assert done.returncode == 0 and f"step {STEPS - 1}" in done.stdout
    _names_every_hostile_file(done.stderr, log_dir / "a" / "feature_maps")
    from fmlogger.runs.read import decode_png

    assert decode_png(out.read_bytes()).shape[0] > 0
    argv = ("compare", log_dir / "evil", log_dir / "b", "--layer", "conv", "--out", out)
    refused, _, _ = _measured(CLI, *argv)
    assert refused.returncode == 2 and "is not logged in" in refused.stderr  # nothing readable in it


BOARD = """
import json, os
from werkzeug import test as werkzeug_test
from tensorboard import program
from tensorboard.backend import application
from fmlogger.cli.board import samples_needed

logdir = sys.argv[1]
samples = samples_needed(logdir)  # what fmlogger board counts before starting TensorBoard
board = program.TensorBoard()
board.configure(argv=[None, "--logdir", logdir])
app = application.TensorBoardWSGIApp(board.flags, board.plugin_loaders, None, board.assets_zip_provider, None)
client = werkzeug_test.Client(app)
runs = json.loads(client.get("/data/plugin/fmlogger/runs").data)["runs"]
image = client.get("/data/plugin/fmlogger/image", query_string={
    "run": "a/feature_maps", "tag": "feature_maps/conv", "step": 2, "sample": 1})
print(json.dumps({"samples": samples, "runs": runs, "image": [image.status_code, image.data.hex()]}))
"""


def test_board_catalog_and_plugin_serve_the_good_runs_and_name_the_damaged_files(log_dir):
    pytest.importorskip("werkzeug")
    from fmlogger.runs.events import images_by_step

    done, _, _ = _measured(BOARD, log_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["samples"] == 100 + STEPS
    runs = {run["name"]: run for run in result["runs"]}
    assert sorted(runs) == ["a/feature_maps", "b/feature_maps", "evil/feature_maps"]
    assert runs["a/feature_maps"]["steps"] == runs["b/feature_maps"]["steps"] == list(range(STEPS))
    assert runs["evil/feature_maps"]["steps"] == [] and runs["b/feature_maps"]["problems"] == []
    for name in ("a/feature_maps", "evil/feature_maps"):
        problems = " ".join(runs[name]["problems"])
        assert len(runs[name]["problems"]) == len(HOSTILE) and all(f in problems for f in HOSTILE)
    status, png = result["image"]
    assert status == 200
    logged = images_by_step(str(log_dir / "a" / "feature_maps"), "feature_maps/conv")
    assert bytes.fromhex(png) == logged[2][1]
