"""Paths: telling remote URLs (``gs://``, ``s3://``) from local folders; small files read and
written whole (atomically on local disks, through TensorBoard's file layer for URLs); untrusted
tags turned into safe, collision-free relative paths (``SafePaths``, for export and inspect).

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

import hashlib
import os
import re
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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def tag_folder(tag: str, reserved: str | None = None) -> str:
    """A tag as a relative folder: ``"feature_maps/block1/conv"`` -> ``feature_maps/block1/conv``,
    with characters outside ``[A-Za-z0-9._#=+-]`` replaced by ``_``, ``.``/``..`` parts by ``_``,
    and a part that fully matches the regex ``reserved`` (a file name of the caller's) suffixed
    ``~<8 hex of its SHA-256>``. Different tags may give the same folder: see ``SafePaths``."""
    parts = [re.sub(r"[^A-Za-z0-9._#=+-]", "_", p) for p in tag.split("/") if p]
    parts = [p if p.strip(".") else "_" for p in parts] or ["_"]
    if reserved:
        parts = [f"{p}~{_digest(p)}" if re.fullmatch(reserved, p) else p for p in parts]
    return os.path.join(*parts)


class SafePaths:
    """Tags -> relative paths that stay inside the output folder and never collide.

    ``path(tag, suffix)`` is ``tag_folder(tag) + suffix`` unless another (tag, suffix) already has
    that path (compared case-insensitively, for macOS and Windows disks; ``"a:b"``, ``"a b"`` and
    ``"a_b"`` all sanitize to ``a_b``): then ``~<8 hex of the tag's SHA-256>`` goes before the
    suffix. ``~`` never survives sanitizing, so such a path cannot be another tag's plain one.

    Example:
        >>> paths = SafePaths()
        >>> paths.path("feature_maps/a:b"), paths.path("feature_maps/a b"), paths.path("feature_maps/a:b")
        ('feature_maps/a_b', 'feature_maps/a_b~739d9a74', 'feature_maps/a_b')
    """

    def __init__(self, reserved: str | None = None):
        self.reserved = reserved
        self._given: dict[tuple[str, str], str] = {}
        self._owner: dict[str, tuple[str, str]] = {}

    def path(self, tag: str, suffix: str = "") -> str:
        key = (tag, suffix)
        if key not in self._given:
            folder = tag_folder(tag, self.reserved)
            path = folder + suffix
            if self._owner.get(path.casefold(), key) != key:
                path = f"{folder}~{_digest(tag)}{suffix}"
            self._given[key], self._owner[path.casefold()] = path, key
        return self._given[key]
