"""A disk that fills up and frees again: every step written after space returns is readable by
TensorBoard's own reader, the steps before the disk filled too, the failure is reported and the
logging goes on, and a full disk does not leave one empty event file per attempt.

Two real ways to run out of space, each in a child process: a 1 MiB tmpfs (``unshare -rm`` +
``mount``; skipped with the reason where it cannot be mounted) filled by a file and freed by
removing it, and ``RLIMIT_FSIZE`` (``SIGXFSZ`` ignored, so writes fail with ``EFBIG``), set to 0
and raised back, which needs no privilege and always runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.runs.read import decode_png
from helpers import tb_http
from helpers.runs import event_file_names, tensorboard_tensors

BEFORE, WHILE_FULL, AFTER = [0, 1, 2], [3, 4, 5, 6], [7, 8, 9]

CHILD = """
import json, logging, os, resource, shutil, signal, sys
import numpy as np
from fmlogger import FeatureMapLogger

disk, out, how = sys.argv[1], sys.argv[2], sys.argv[3]
warnings = []
handler = logging.Handler()
handler.emit = lambda record: warnings.append(record.getMessage())
logging.getLogger("fmlogger").addHandler(handler)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG instead
filler = os.path.join(disk, "filler")


def fill():
    if how == "rlimit":
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        return
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    f.write(b"x" * chunk)
            except OSError:
                pass


def free():
    if how == "rlimit":
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    else:
        os.remove(filler)


def arrays(step):  # random maps (incompressible PNGs, > one 4 kB page per step) whose mean is known
    return {"conv1": np.random.default_rng(step).random((2, 24, 24, 8), dtype=np.float32) + step}


logger = FeatureMapLogger(os.path.join(disk, "logs"), max_channels=8)  # background=True: the default
files_while_full = []
for step in range(10):
    if step == 3:
        fill()
    if step == 7:
        free()
    logger.log_arrays(arrays(step), step)
    logger.flush()  # as FeatureMapCallback does after every epoch; failures are reported, not raised
    if 3 <= step < 7:
        files_while_full.append(sorted(n for n in os.listdir(logger.run_dir) if "tfevents" in n))
logger.close()
shutil.copytree(logger.run_dir, out)  # the tmpfs goes away with this process
json.dump({"warnings": warnings, "files_while_full": files_while_full}, sys.stdout)
"""

MOUNT = 'mount -t tmpfs -o size=1m fmlogger-test "$1"'
RUN_CHILD = MOUNT + ' && exec "$2" -c "$3" "$1" "$4" tmpfs'


def _run(argv) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=tb_http.popen_env(), timeout=120)


def _fill_log_free_log(tmp_path, how: str) -> tuple[dict, str]:
    disk, out = tmp_path / "disk", tmp_path / "copied"
    disk.mkdir()
    if how == "rlimit":
        done = _run([sys.executable, "-c", CHILD, str(disk), str(out), how])
    else:
        if shutil.which("unshare") is None:
            pytest.skip("no unshare(1) here to mount a private tmpfs")
        private = ["unshare", "-rm", "sh", "-c"]  # a private mount namespace: gone with the child
        probe = _run([*private, MOUNT, "sh", str(disk)])
        if probe.returncode != 0:
            why = probe.stderr.strip()
            pytest.skip(f"cannot mount a small tmpfs here (unshare -rm, mount -t tmpfs): {why}")
        done = _run([*private, RUN_CHILD, "sh", str(disk), sys.executable, CHILD, str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), str(out)


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_steps_after_the_disk_frees_are_readable_and_a_full_disk_leaves_no_empty_files(tmp_path, how):
    result, run_dir = _fill_log_free_log(tmp_path, how)
    written = tensorboard_tensors(run_dir)  # TensorBoard's own reader, every file in its order
    image_tag, mean_tag = tags.image_tag("conv1"), f"{tags.STATS_PREFIX}conv1/mean"
    steps = [step for step, _ in written[image_tag]]
    assert steps == BEFORE + AFTER  # each once: nothing behind a broken record, no step twice
    for step, value in written[image_tag]:
        width, height, *pngs = value
        images = [decode_png(png) for png in pngs]
        assert len(images) == 2 and all(i.shape == (int(height), int(width), 1) for i in images)
    maps = {step: np.random.default_rng(step).random((2, 24, 24, 8), dtype=np.float32) + step
            for step in BEFORE + AFTER}  # what the child logged
    expected = {step: float(array.mean()) for step, array in maps.items()}
    means = {step: float(value) for step, value in written[mean_tag]}
    assert means == pytest.approx(expected, rel=1e-5)

    # Reported, once, naming the cause and where the later steps go; training (logging) went on.
    failed = [w for w in result["warnings"] if "failed and is skipped: EventFileError" in w]
    assert len(failed) == 1, result["warnings"]
    cause = "No space left on device" if how == "tmpfs" else "File too large"
    assert cause in failed[0] and "new event file" in failed[0]
    # While full: the first file, cut back to its last complete step, and no file per attempt.
    first = event_file_names(run_dir)[0]
    assert result["files_while_full"] == [[first]] * len(WHILE_FULL)
    assert len(event_file_names(run_dir)) == 2  # the first one, and the one opened when space returned
