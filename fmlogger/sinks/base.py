"""What views hand to sinks, and the ``Sink`` interface every destination implements.

A view's ``produce`` returns an ``Output``: tagged uint8 images (``ImageSummary``), scalars, the
failures met on the way, and, for the embedding view, a Projector entry. A ``Sink`` writes the
outputs of one step: ``fmlogger.sinks.event_sink.EventSink`` as one TensorBoard event,
``fmlogger.sinks.png_folder.PngFolderSink`` as PNG files.

Example:
    >>> import numpy as np
    >>> out = Output(images=[ImageSummary("feature_maps/conv1", np.zeros((2, 8, 8, 1), np.uint8))])
    >>> [(i.tag, i.images.shape) for i in out.images], out.scalars
    ([('feature_maps/conv1', (2, 8, 8, 1))], [])
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

Failure = tuple[str, BaseException]
"""``(where, error)``: what failed, for the caller's ``ErrorPolicy`` (``where`` names the part)."""


@dataclasses.dataclass(frozen=True)
class ImageSummary:
    """One tag's images at one step.

    Attributes:
        tag: the tag (``fmlogger.tags``); sinks never use it as a path unchecked.
        images: uint8 ``[n, h, w, c]``, c in 1, 3, 4.
        description: a line for TensorBoard's image card.
        pngs: the images already PNG-encoded (one per sample), or None for the sink to encode.
    """

    tag: str
    images: np.ndarray
    description: str = ""
    pngs: tuple[bytes, ...] | None = None

    def encoded(self) -> list[bytes]:
        """The PNG bytes of every sample (encoded here unless given)."""
        from fmlogger.render.png import encode_png

        return list(self.pngs) if self.pngs is not None else [encode_png(image) for image in self.images]


@dataclasses.dataclass(frozen=True)
class ProjectorEntry:
    """Embeddings of one step for TensorBoard's Projector.

    Attributes:
        tensors: ``{layer path: float32 [N, D]}``.
        columns: metadata columns ``{name: [N]}`` (label, predicted, correct), or None.
        sprite: the inputs ``[N, ...]`` to draw the sprite from (given once), or None.
        data_format: layout of ``sprite``.
        keep_last: the newest steps the Projector keeps (0: every step).
    """

    tensors: Mapping[str, np.ndarray]
    columns: Mapping[str, np.ndarray] | None = None
    sprite: np.ndarray | None = None
    data_format: str = "channels_last"
    keep_last: int = 0


@dataclasses.dataclass
class Output:
    """What one view produced for one step.

    Attributes:
        images: ``ImageSummary`` per tag.
        scalars: ``(tag, value)`` pairs.
        failures: ``(where, error)`` for parts that failed (the rest is still written).
        frames: ``{layer path: Frame}`` rendered feature maps (the feature-map view only).
        projector: a ``ProjectorEntry`` (the embedding view only).
    """

    images: list[ImageSummary] = dataclasses.field(default_factory=list)
    scalars: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    failures: list[Failure] = dataclasses.field(default_factory=list)
    frames: dict = dataclasses.field(default_factory=dict)
    projector: ProjectorEntry | None = None


class Sink(abc.ABC):
    """A destination for the outputs of logged steps.

    Attributes:
        location: where it writes (a folder), for messages.
    """

    location: str = ""

    def start(self, step: int) -> list[Failure]:
        """Called before the views produce ``step`` (on the thread that then writes it); returns
        failures like ``write``. No-op by default."""
        return []

    @abc.abstractmethod
    def write(self, step: int, outputs: Sequence[Output]) -> list[Failure]:
        """Writes the images and scalars of ``outputs`` at ``step``.

        Never raises for one part: returns ``(where, error)`` for what could not be written.
        """

    def flush(self) -> None:
        """Makes what was written durable (no-op by default)."""

    def close(self) -> None:
        """Releases files; writing again re-opens them (no-op by default)."""
