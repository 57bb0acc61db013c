"""Makes the README's screenshots: runs the demo, starts TensorBoard, shoots a tab in headless Chromium.

Needs Chromium (Debian: `apt-get install chromium`). TensorBoard runs with its default flags, as
`tensorboard --logdir` would. Usage:

    python scripts/screenshot.py                      # docs/feature-maps-dashboard.png (the first one)
    python scripts/screenshot.py --out docs/tensorboard-projector.png --tab projector
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/feature-maps-dashboard.png")
    parser.add_argument("--epochs", type=int, default=None, help="demo epochs (12 for fmlogger, else 5)")
    parser.add_argument("--tab", default="fmlogger", help="TensorBoard tab to shoot (fmlogger: Feature Maps)")
    parser.add_argument("--state", default="fm.view=evolution&fm.sample=2",
                        help="the Feature Maps view, as in its permalink (URL hash after #fmlogger&)")
    parser.add_argument("--size", default="1600,570", help="window size W,H")
    parser.add_argument("--tag-filter", default="", help="tag filter of the other tabs (URL-encoded)")
    args = parser.parse_args()
    epochs = args.epochs if args.epochs is not None else 12 if args.tab == "fmlogger" else 5
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        sys.exit("Chromium is needed: apt-get install chromium")
    logdir = tempfile.mkdtemp(prefix="fmlogger-shot-")
    demo = [sys.executable, "-m", "fmlogger", "demo", "--logdir", logdir, "--epochs", str(epochs), "--quiet"]
    subprocess.run(demo, check=True)
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    other = f"tagFilter={args.tag_filter}"
    fragment = f"{args.tab}&{args.state if args.tab == 'fmlogger' else other}"
    profile = tempfile.mkdtemp(prefix="fmlogger-chromium-")
    try:
        wait_for(f"http://127.0.0.1:{port}/data/plugin/fmlogger/runs")
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={args.size}", "--virtual-time-budget=20000",
             f"--screenshot={os.path.abspath(args.out)}",
             f"http://127.0.0.1:{port}/?darkMode=false#{fragment}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180,
        )
    finally:
        board.terminate()
        board.wait(timeout=30)
        shutil.rmtree(logdir, ignore_errors=True)
        shutil.rmtree(profile, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
