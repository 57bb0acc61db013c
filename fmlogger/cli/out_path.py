"""The ``--out`` of ``fmlogger compare`` and ``fmlogger export``, checked before any run is read.

``compare --out`` names one PNG file: its folder must already exist (nothing else is created), it
must not be a folder, nor a file of the runs compared; the PNG is written to a temporary file in
that folder and renamed over the name (``fmlogger._paths.write_atomic``), so a link of that name is
replaced, never written through. ``export --out`` names a folder, created with its parents; it must
not be a file. Both refuse an empty path, a NUL character and a URL with a message naming ``--out``
and echoing the value (``BadOut``, a ``ValueError``).

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_out_file(os.path.join(folder, "diff.png")) == os.path.join(folder, "diff.png")
    True
    >>> try:
    ...     check_out_file(folder)
    ... except BadOut as err:
    ...     print(str(err).split(" (")[0])
    --out names a folder; name the PNG file to write
"""

from __future__ import annotations

import os

from fmlogger._paths import is_remote, nearest_existing


class BadOut(ValueError):
    """An ``--out`` that cannot be written as asked (the message names it and says why)."""


def _checked(path: str, what: str) -> str:
    if not isinstance(path, str) or not path.strip():
        raise BadOut(f"--out must name {what}. Received: --out={path!r}")
    if "\0" in path:
        raise BadOut(f"--out must not contain a NUL character. Received: --out={path!r}")
    if is_remote(path):
        raise BadOut(f"--out must be a local path (URLs are not written here). Received: --out={path!r}")
    return os.path.abspath(path)


def check_out_file(path: str, *, runs: tuple = ()) -> str:
    """The absolute path of the one file ``path`` names, after checking it can be written as asked.

    Args:
        path: the ``--out`` given.
        runs: run folders read by the command; a file in one of them (its event or state file) is
            refused.

    Raises:
        BadOut: empty, NUL, a URL, an existing folder, a missing parent folder, or a run's file.
    """
    target = _checked(path, "the PNG file to write")
    if os.path.isdir(target):
        example = os.path.join(path, "compare.png")
        raise BadOut(
            f"--out names a folder; name the PNG file to write (e.g. {example}). Received: --out={path!r}"
        )
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        what = "is not a folder" if os.path.exists(parent) else "does not exist"
        raise BadOut(
            f"--out's folder {parent!r} {what} (compare creates only the file). Received: --out={path!r}"
        )
    for run in runs:
        if os.path.realpath(parent) == os.path.realpath(run):
            raise BadOut(
                f"--out would write into the run folder {run!r} being read. Received: --out={path!r}"
            )
    return target


def check_out_folder(path: str) -> str:
    """The absolute path of the output folder ``path`` (created later), after checking it.

    Raises:
        BadOut: empty, NUL, a URL, or an existing file (or a file where one of its parents should be).
    """
    target = _checked(path, "the output folder")
    probe = nearest_existing(target)
    if not os.path.isdir(probe):
        where = "is a file" if probe == target else f"lies under the file {probe!r}"
        raise BadOut(f"--out must be a folder; it {where}. Received: --out={path!r}")
    return target
