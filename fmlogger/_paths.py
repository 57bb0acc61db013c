"""The file layer every sink writes through, and safe names: local folders and remote URLs
(``gs://``, ``s3://``, ...) through the same few functions; untrusted tags turned into safe,
collision-free relative paths (``SafePaths``, for export and inspect).

Local paths use ``os`` (small files are replaced atomically, bundle files hard-linked); URLs use
TensorBoard's file layer ``gfile()``: TensorFlow's ``tf.io.gfile`` when TensorFlow is installed
(``gs://``, ``s3://`` with its plug-ins, ``file://``), else TensorBoard's own (``s3://`` with boto3,
and every fsspec file system when fsspec is installed: ``memory://``, ``gs://`` with gcsfs). The
event file, the run state, the timelines' rows, the Projector files and the writer marks all go
through here. Facts of the layers (TensorFlow 2.21, TensorBoard 2.21): TensorBoard's layer has no
delete (``remove`` uses fsspec for it) and its ``stat`` has no modification time (``stamp`` is
then None: unknown). TensorFlow's in-memory ``ram://`` is no place for a run: rewriting a file
there appends to it, and a folder's listing matches names by prefix.

Example:
    >>> import os, tempfile
    >>> is_remote("gs://bucket/runs"), is_remote("runs/exp1"), join("gs://bucket/runs/", "a", "b")
    (True, False, 'gs://bucket/runs/a/b')
    >>> path = join(tempfile.mkdtemp(), "a", "state.json")
    >>> write_atomic(path, b"{}")
    >>> read_bytes(path), read_bytes(path + ".missing"), listdir(os.path.dirname(path))
    (b'{}', None, ['state.json'])
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading


def is_remote(path) -> bool:
    """True for a URL such as ``gs://bucket/runs`` (TensorFlow's file systems), False for a local path."""
    return "://" in os.fspath(path)


def join(folder: str, *names: str) -> str:
    """``folder/names...``: ``os.path.join`` for a local folder, ``/`` for a URL."""
    if is_remote(folder):
        return "/".join([os.fspath(folder).rstrip("/"), *names])
    return os.path.join(folder, *names)


def exists(path: str) -> bool:
    """True when the file or folder ``path`` exists."""
    return gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    """True when ``path`` is an existing folder (for a URL: a prefix holding objects)."""
    return gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def makedirs(path: str) -> None:
    """Creates the folder ``path`` and its parents (nothing when it exists)."""
    if is_remote(path):
        gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
    """The names in the folder ``path``, sorted; ``[]`` when it does not exist."""
    if is_remote(path):
        layer = gfile()
        return sorted(n.rstrip("/") for n in layer.listdir(path)) if layer.isdir(path) else []
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def remove(path: str) -> None:
    """Removes the file ``path`` (nothing when it does not exist).

    Raises:
        OSError: for a URL when no installed layer can delete (TensorBoard's own layer cannot:
            fsspec does it, so ``s3://`` without TensorFlow needs ``pip install fsspec s3fs``).
    """
    if not is_remote(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return
    layer = gfile()
    if not layer.exists(path):
        return
    if hasattr(layer, "remove"):  # TensorFlow's tf.io.gfile
        layer.remove(path)
        return
    try:
        import fsspec
    except ImportError:
        raise OSError(f"cannot remove {path}: without TensorFlow, deleting needs fsspec (pip install fsspec)")
    fs, inner = fsspec.core.url_to_fs(path)
    fs.rm_file(inner)


def copy(src: str, dst: str) -> None:
    """Copies the file ``src`` to ``dst`` (replacing it): a hard link on a local disk where possible."""
    if is_remote(src) or is_remote(dst):
        gfile().copy(src, dst, overwrite=True)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def stamp(path: str) -> tuple[int, int] | None:
    """``(modification time in ns, size)`` of the file ``path``; None when it is missing or the
    layer does not report a modification time (then compare by reading the file)."""
    if not is_remote(path):
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        return st.st_mtime_ns, st.st_size
    try:
        st = gfile().stat(path)
    except Exception:  # noqa: BLE001 - each layer has its own NotFoundError
        return None
    mtime = getattr(st, "mtime_nsec", 0)
    return (mtime, st.length) if mtime else None


def nearest_existing(path: str) -> str:
    """The absolute local ``path`` itself if it exists, else its nearest existing parent: where a
    folder to be created would hang (check that it is a folder, and writable).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> nearest_existing(os.path.join(folder, "runs", "exp1")) == folder
        True
    """
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe


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
    is written directly through ``gfile()`` (object stores replace whole objects anyway; the
    layers create missing parent prefixes themselves).
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
    installed (``gs://``, ``s3://`` with its plug-ins), else TensorBoard's own (local,
    ``s3://`` with boto3, fsspec's file systems when fsspec is installed)."""
    from tensorboard.compat import tf

    return tf.io.gfile


TF_SCHEMES = ("gs", "s3", "hdfs", "file")
"""URL schemes of TensorFlow's file systems (where TensorFlow is installed, ``gfile()`` is its),
besides those it registers itself; ``s3`` and ``hdfs`` come with plug-ins (tensorflow-io), so
they are accepted here and any trouble is reported at the first write."""


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
        known = set(TF_SCHEMES) | set(getattr(layer, "get_registered_schemes", tuple)())
        if scheme not in known:
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
