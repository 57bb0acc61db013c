"""The PNG-folder sink: each tag's images as PNG files under one folder (``fmlogger inspect``).

A tag becomes a relative path with ``fmlogger._paths.tag_folder`` (``/`` separates folders;
other characters outside ``[A-Za-z0-9._#=+-]``, NUL included, become ``_``; ``.`` and ``..``
parts become ``_``), so names that come from layers never leave the output folder. One image
goes to ``<tag>.png``; a batch of n to ``<tag>_0.png`` ... ``<tag>_<n-1>.png``; a name another tag
or sample already has gets ``~<hash of the tag>`` before ``.png`` (``SafePaths``). A later step
overwrites the files of the same tag. Scalars and Projector entries are not written.

Example:
    >>> import numpy as np, os, tempfile
    >>> from fmlogger.sinks.base import ImageSummary, Output
    >>> sink = PngFolderSink(tempfile.mkdtemp())
    >>> image = ImageSummary("feature_maps/../conv1", np.zeros((1, 4, 4, 1), np.uint8))
    >>> sink.write(0, [Output(images=[image])])
    []
    >>> [os.path.relpath(p, sink.out_dir) for p in sink.written]
    ['feature_maps/_/conv1.png']
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from fmlogger._paths import SafePaths
from fmlogger.sinks.base import Failure, Output, Sink


class PngFolderSink(Sink):
    """Writes every image of a step as a PNG file under ``out_dir``.

    Args:
        out_dir: the output folder (created on the first write).

    Attributes:
        written: the paths written so far, in order (a path written again is listed again).
    """

    def __init__(self, out_dir):
        self.out_dir = self.location = os.path.abspath(os.fspath(out_dir))
        self.written: list[str] = []
        self._paths = SafePaths(reserved=r".*\.png")  # a folder "x.png" would take the file of tag "x"

    def path_for(self, tag: str, index: int | None = None) -> str:
        """The file of ``tag`` (sample ``index`` of several), always inside ``out_dir`` and never
        the file of another tag or sample (``fmlogger._paths.SafePaths``)."""
        relative = self._paths.path(tag, ("" if index is None else f"_{index}") + ".png")
        path = os.path.normpath(os.path.join(self.out_dir, relative))
        if os.path.commonpath([path, self.out_dir]) != self.out_dir:  # cannot happen: tag_folder
            raise ValueError(f"tag {tag!r} would be written outside {self.out_dir!r}")
        return path

    def write(self, step: int, outputs: Sequence[Output]) -> list[Failure]:
        failures: list[Failure] = []
        for image in (image for out in outputs for image in out.images):
            try:
                pngs = image.encoded()
                for index, png in enumerate(pngs):
                    path = self.path_for(image.tag, None if len(pngs) == 1 else index)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(png)
                    self.written.append(path)
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                failures.append((f"writing {image.tag!r} under {self.out_dir}", err))
        return failures
