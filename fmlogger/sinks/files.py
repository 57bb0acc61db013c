"""Small files of a run folder, read and written whole: locally (atomic rename) or through gfile.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a", "state.json")
    >>> write_atomic(path, b"{}")
    >>> read_bytes(path), read_bytes(path + ".missing")
    (b'{}', None)
"""

from __future__ import annotations

import os
import threading


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist (gs://, s3:// through TensorFlow's gfile)."""
    if "://" in path:
        from fmlogger._tf import tensorflow

        gfile = tensorflow().io.gfile
        if not gfile.exists(path):
            return None
        with gfile.GFile(path, "rb") as f:
            return f.read()
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` atomically on local disks (a temporary file, then a rename)."""
    if "://" in path:
        from fmlogger._tf import tensorflow

        with tensorflow().io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
