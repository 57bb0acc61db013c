"""Paths: telling remote URLs (``gs://``, ``s3://``) from local folders; small files read and
written whole (atomically on local disks, through TensorBoard's file layer for URLs).

Example:
    >>> import os, tempfile
    >>> is_remote("gs://bucket/runs"), is_remote("runs/exp1")
    (True, False)
    >>> path = os.path.join(tempfile.mkdtemp(), "a", "state.json")
    >>> write_atomic(path, b"{}")
    >>> read_bytes(path), read_bytes(path + ".missing")
    (b'{}', None)
"""

from __future__ import annotations

import os
import threading


def is_remote(path) -> bool:
    """True for a URL such as ``gs://bucket/runs`` (TensorFlow's file systems), False for a local path."""
    return "://" in os.fspath(path)


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist (URLs through ``gfile()``)."""
    if is_remote(path):
        layer = gfile()
        if not layer.exists(path):
            return None
        with layer.GFile(path, "rb") as f:
            return f.read()
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` (its folder is created) through a temporary file and a rename.

    A reader (TensorBoard, a resumed run) sees the old file or the new one, never half of one.
    The temporary name holds the process and thread, so concurrent writers do not collide. A URL
    is written directly through ``gfile()`` (object stores replace whole objects anyway).
    """
    if is_remote(path):
        with gfile().GFile(path, "wb") as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def gfile():
    """TensorBoard's file layer for remote paths: TensorFlow's ``tf.io.gfile`` when TensorFlow is
    installed (``gs://``, ``s3://`` with its plug-ins), else TensorBoard's own (local, ``s3://``)."""
    from tensorboard.compat import tf

    return tf.io.gfile


TF_SCHEMES = ("gs", "s3", "hdfs", "file")
"""URL schemes of TensorFlow's file systems (where TensorFlow is installed, ``gfile()`` is its)."""


def check_remote(path: str) -> None:
    """Fails now, naming the URL scheme, when no installed file layer can write ``path``.

    With TensorFlow: its file systems (``TF_SCHEMES``; they report other trouble at the first
    write). Without: TensorBoard's own layer (local, ``s3://``, fsspec's file systems).

    Raises:
        ValueError: for a scheme no installed layer knows (the message says what to install).
    """
    scheme = os.fspath(path).split("://", 1)[0]
    layer = gfile()
    if not hasattr(layer, "get_filesystem"):  # TensorFlow's tf.io.gfile
        if scheme not in TF_SCHEMES:
            schemes = ", ".join(s + "://" for s in TF_SCHEMES)
            raise ValueError(
                f"log_dir {path!r}: scheme '{scheme}' is not a TensorFlow file system; use a local "
                f"path or one of {schemes}."
            )
        return
    try:
        layer.get_filesystem(path)
    except ValueError:
        raise ValueError(
            f"log_dir {path!r}: no file system for '{scheme}://' without TensorFlow. TensorBoard's own "
            "file layer writes local folders, s3:// (with boto3) and fsspec's file systems (gs:// with "
            "pip install gcsfs); or install TensorFlow (pip install 'fmlogger[cpu]')."
        ) from None
