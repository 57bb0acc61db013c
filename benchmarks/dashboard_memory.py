"""Memory of the Feature Maps dashboard: TensorBoard's RSS over a 200-epoch run vs an empty log dir.

Writes a run of ``--epochs`` + 1 steps (0..N) with ``FeatureMapLogger.log_arrays`` (random arrays
of the demo CNN's layer shapes, 4 probe samples, so each step's images are demo-sized) plus Keras-style
``train``/``validation`` runs with ``epoch_loss``. Then, for an empty log dir and for that one, it
starts ``tensorboard --logdir`` (default flags) on 127.0.0.1, and opens what the Feature Maps tab
fetches: ``runs``, ``tags`` and ``scalars``, every image of the Evolution view (every layer at every
step, probe sample 0), one ``detail``. It prints TensorBoard's resident memory (its Python process,
and with its child processes, e.g. the data server) before and after, and the growth over the
empty log dir.

Usage:
    python benchmarks/dashboard_memory.py                  # 200 epochs
    python benchmarks/dashboard_memory.py --epochs 500

Not a test: its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

LAYERS = {"conv1": (32, 32, 16), "conv2": (16, 16, 32), "conv3": (8, 8, 64)}
"""The demo CNN's feature-map shapes (``fmlogger.cli.demo``)."""


def write_run(log_dir: str, epochs: int, samples: int = 4) -> None:
    import tensorflow as tf

    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(0)
    with FeatureMapLogger(log_dir, max_samples=samples) as logger:
        for step in range(epochs + 1):
            arrays = {name: rng.random((samples, *shape), dtype=np.float32) for name, shape in LAYERS.items()}
            logger.log_arrays(arrays, step)
    for name in ("train", "validation"):
        writer = tf.summary.create_file_writer(os.path.join(log_dir, name))
        with writer.as_default():
            for epoch in range(epochs):
                tf.summary.scalar("epoch_loss", 1.0 / (epoch + 1), step=epoch)
        writer.close()


def rss_mib(pid: int) -> tuple[float, float]:
    """``(RSS of pid, RSS of pid and all its descendants)`` in MiB, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    family, frontier = {pid}, [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        family.update(children)
        frontier = children

    def one(p: int) -> float:
        try:
            with open(f"/proc/{p}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            return 0.0

    return one(pid), sum(one(p) for p in family)


def get(base: str, route: str, **params) -> bytes:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{base}/data/plugin/fmlogger/{route}{query}", timeout=120) as response:
        return response.read()


def measure(logdir: str) -> dict:
    """Starts TensorBoard on ``logdir``, opens the tab's data routes, returns RSS figures (MiB)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/data/plugins_listing", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        time.sleep(10)  # let TensorBoard's own first load of the log dir finish
        before = rss_mib(board.pid)
        start = time.perf_counter()
        runs = json.loads(get(base, "runs"))["runs"]
        scan_s = time.perf_counter() - start
        images = 0
        for run in runs:
            listing = json.loads(get(base, "tags", run=run["name"]))["tags"]
            get(base, "scalars", run=run["name"])
            for layer in run["layers"]:
                tag = f"feature_maps/{layer}"
                for step, version in zip(listing[tag]["steps"], listing[tag]["versions"], strict=True):
                    get(base, "image", run=run["name"], tag=tag, step=step, sample=0, v=version)
                    images += 1
                get(base, "detail", run=run["name"], tag=tag, step=listing[tag]["steps"][-1])
        after = rss_mib(board.pid)
        return {"before": before, "after": after, "images": images, "scan_s": scan_s,
                "steps": max((len(r["steps"]) for r in runs), default=0)}
    finally:
        board.terminate()
        board.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        write_run(full, args.epochs)
        event_bytes = sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, names in os.walk(full) for name in names if "tfevents" in name
        )
        results = {"empty log dir": measure(empty), f"{args.epochs}-epoch run": measure(full)}
    print(f"event files: {event_bytes / 2**20:.1f} MiB; {len(LAYERS)} layers, 4 samples per step")
    print(f"{'log dir':<18} {'steps':>5} {'images':>6} {'1st scan s':>10} "
          f"{'RSS before':>10} {'RSS after':>9} {'with children after':>19}")
    for name, r in results.items():
        print(f"{name:<18} {r['steps']:>5} {r['images']:>6} {r['scan_s']:>10.2f} "
              f"{r['before'][0]:>10.0f} {r['after'][0]:>9.0f} {r['after'][1]:>19.0f}")
    empty_r, full_r = results["empty log dir"], results[f"{args.epochs}-epoch run"]
    print(f"RSS growth over the empty log dir after opening the tab's routes: "
          f"{full_r['after'][0] - empty_r['after'][0]:.0f} MiB (TensorBoard's Python process), "
          f"{full_r['after'][1] - empty_r['after'][1]:.0f} MiB with its child processes (target < 200 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
