"""Makes the README's TensorBoard screenshot: runs the demo, starts TensorBoard, shoots it headless.

Needs Chromium (Debian: `apt-get install chromium`). Usage:

    python scripts/screenshot.py --out docs/tensorboard-images.png [--epochs 5]
    python scripts/screenshot.py --out docs/tensorboard-projector.png --tab projector --tag-filter ""
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
    parser.add_argument("--out", default="docs/tensorboard-images.png")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--tab", default="images", help="TensorBoard dashboard to shoot")
    parser.add_argument("--size", default="1400,1100", help="window size W,H")
    parser.add_argument("--tag-filter", default="feature_maps%2Fconv1", help="TensorBoard tag filter (URL-encoded)")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        sys.exit("Chromium is needed: apt-get install chromium")
    logdir = tempfile.mkdtemp(prefix="fmlogger-shot-")
    subprocess.run([sys.executable, "-m", "fmlogger", "demo", "--logdir", logdir, "--epochs", str(args.epochs), "--quiet"], check=True)
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/data/plugin/images/tags")
        profile = tempfile.mkdtemp(prefix="fmlogger-chromium-")
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={args.size}",
             "--virtual-time-budget=15000", f"--screenshot={os.path.abspath(args.out)}",
             f"http://127.0.0.1:{port}/?darkMode=false#{args.tab}&tagFilter={args.tag_filter}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )
    finally:
        board.terminate()
        board.wait(timeout=30)
        shutil.rmtree(logdir, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
