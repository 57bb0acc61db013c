"""Helpers for tests that start a real TensorBoard on loopback and read its HTTP API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def popen_env() -> dict:
    """This process's environment, with its ``sys.path`` so a child imports the same fmlogger."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def popen(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=popen_env()
    )


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def start_tensorboard(logdir, *flags: str) -> tuple[subprocess.Popen, str]:
    """Starts ``tensorboard.main`` on a free loopback port; returns the process and its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "tensorboard.main", "--logdir", os.fspath(logdir), "--host", "127.0.0.1",
            "--port", str(port), *flags]
    return popen(argv), f"http://127.0.0.1:{port}"


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def get_json(url: str):
    return json.loads(get(url))


def wait_for(predicate, process: subprocess.Popen, what: str, timeout: float = STARTUP_TIMEOUT_S):
    """Polls ``predicate()`` (None/False: not yet) until it returns a value; fails if the server exits."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited ({process.returncode}) while waiting for {what}: {stop(process)}"
            )
        try:
            value = predicate()
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as err:
            value, last_error = None, err
        if value:
            return value
        time.sleep(0.2)  # poll interval, not synchronisation: the predicate decides
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error}); output: {stop(process)}")


def image_entries(base: str, run: str, tag: str) -> list[dict]:
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return get_json(f"{base}/data/plugin/images/images?{query}")


def individual_image(base: str, entry: dict) -> np.ndarray:
    from fmlogger.runs.read import decode_png

    return decode_png(get(f"{base}/data/plugin/images/individualImage?{entry['query']}"))
