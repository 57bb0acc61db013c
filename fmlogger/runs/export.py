"""``fmlogger export``: every logged image as a PNG, and an animated GIF per layer and sample.

Layout under the output folder (tags become folders, sanitized and made unique by ``SafePaths``)::

    feature_maps/conv1/step_000003_sample_0.png      the logged PNG bytes, unchanged
    feature_maps/conv1/sample_0.gif                  steps in order, step number under each frame
    feature_map_timeline/conv1/step_000029_sample_0.png

GIFs need Pillow (``pip install 'fmlogger[export]'``); PNGs need nothing. Timeline tags get PNGs
only (their newest step already shows the whole history).

Example:
    >>> result = export_run("runs/a", "exported")                   # doctest: +SKIP
    >>> len(result.pngs), [os.path.basename(g) for g in result.gifs]   # doctest: +SKIP
    (96, ['sample_0.gif', 'sample_1.gif'])
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from fmlogger import tags
from fmlogger._paths import SafePaths
from fmlogger.render.timeline import number_bitmaps
from fmlogger.runs.events import (
    DamagedEventFile,
    decode_png,
    images_at,
    iter_summaries,
    resolve_run,
    summary_pngs,
)

PILLOW_HINT = (
    "GIF export needs Pillow, which is not installed: pip install 'fmlogger[export]' "
    "(or pip install pillow). Pass --no-gif (gif=False) to export PNGs only."
)
LABEL_SCALE = 2


class MissingPillow(ImportError):
    """Raised when GIFs are asked for and Pillow is not installed."""


@dataclasses.dataclass(frozen=True)
class Exported:
    """Files written by ``export_run``: ``pngs`` and ``gifs`` (paths), ``skipped`` notes, and the
    ``DamagedEventFile`` of each damaged event file (the records before the damage were exported)."""

    pngs: list
    gifs: list
    skipped: list
    damaged: list = dataclasses.field(default_factory=list)


EXPORT_FILES = r"step_\d+_sample_\d+\.png|sample_\d+\.gif"
"""The names ``export_run`` gives files inside a tag's folder: a tag part named so is renamed."""


def labelled_frame(image: np.ndarray, step: int, *, scale: int = LABEL_SCALE) -> np.ndarray:
    """``image [h, w, c]`` with a black bar below it showing ``step`` in white (bitmap font)."""
    bits = number_bitmaps([step], scale)[0]
    height, width, channels = image.shape
    bar_w = max(width, bits.shape[1] + 2 * scale)
    bar = np.zeros((bits.shape[0] + 2 * scale, bar_w), dtype=bool)
    bar[scale : scale + bits.shape[0], scale : scale + bits.shape[1]] = bits
    bar_px = np.broadcast_to((bar * np.uint8(255))[:, :, None], bar.shape + (channels,))
    top = np.zeros((height, bar_w, channels), np.uint8)
    top[:, :width] = image
    return np.concatenate([top, bar_px], axis=0)


def _pillow():
    try:
        from PIL import Image
    except ImportError as err:
        raise MissingPillow(PILLOW_HINT) from err
    return Image


def write_gif(path: str, frames: list, *, duration_ms: int = 500) -> None:
    """Writes uint8 frames ``[h, w, c]`` (same size) as a looping GIF, one GIF frame per frame."""
    Image = _pillow()
    images = [Image.fromarray(f[:, :, 0] if f.shape[-1] == 1 else f[:, :, :3]) for f in frames]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False
    )


def _write_pngs(run: str, out_dir: str, damaged: list, paths: SafePaths) -> tuple[list, dict]:
    """Writes every logged PNG as it is read; returns the files and ``{tag: {step: (file, offset, n)}}``."""
    places: dict[str, dict[int, tuple[str, int, int]]] = {}
    for s in iter_summaries(run, plugin="images", damaged=damaged):
        if not s.value.HasField("tensor"):
            continue
        folder = os.path.join(out_dir, paths.path(s.tag))
        if s.tag not in places:
            os.makedirs(folder, exist_ok=True)
        pngs = summary_pngs(s.value)
        for i, data in enumerate(pngs):
            with open(os.path.join(folder, f"step_{s.step:06d}_sample_{i}.png"), "wb") as f:
                f.write(data)
        # a step written again: the last one wins
        places.setdefault(s.tag, {})[s.step] = (s.path, s.offset, len(pngs))
    files = [
        os.path.join(out_dir, paths.path(tag), f"step_{step:06d}_sample_{i}.png")
        for tag in sorted(places)
        for step in sorted(places[tag])
        for i in range(places[tag][step][2])
    ]
    return files, places


def _write_gifs(tag: str, places: dict, folder: str, duration_ms: int, skipped: list) -> list:
    """The GIFs of one tag: its PNG bytes of every step are read back (one tag in memory at a time),
    then decoded one sample at a time."""
    by_step = {}
    for step in sorted(places):
        path, offset, _ = places[step]
        try:
            by_step[step] = images_at(path, offset, tag)
        except DamagedEventFile as err:  # the file changed since it was read
            skipped.append(f"{tag} step {step}: {err}; left out of the GIFs")
    gifs = []
    for i in range(max((len(p) for p in by_step.values()), default=0)):
        frames = []
        for step, pngs in by_step.items():
            if i < len(pngs):
                try:
                    frames.append(labelled_frame(decode_png(pngs[i]), step))
                except ValueError as err:
                    skipped.append(f"{tag} step {step} sample {i}: {err}; left out of the GIF")
        if len({f.shape for f in frames}) > 1:
            skipped.append(f"{tag} sample {i}: image size changes between steps, no GIF")
        elif frames:
            target = os.path.join(folder, f"sample_{i}.gif")
            write_gif(target, frames, duration_ms=duration_ms)
            gifs.append(target)
    return gifs


def export_run(path: str, out_dir: str, *, gif: bool = True, duration_ms: int = 500) -> Exported:
    """Exports every logged image of a run as PNG, and (``gif=True``) a GIF per image tag and sample.

    PNGs are written while the event files are read (nothing is held); GIFs are made one tag at a
    time from the records found on that pass (``events.images_at``). A damaged event file is
    reported once on stderr (``logging.warning``: file, byte offset, what is wrong) and listed in
    ``Exported.damaged``; what the other files (and the damaged one before the damage) hold is
    still exported, and ``fmlogger export`` exits 0. A PNG that does not decode is left out of
    its GIF and noted in ``Exported.skipped`` (the CLI prints those notes).

    Args:
        path: a log folder (or its ``feature_maps`` run folder).
        out_dir: where to write; created if needed.
        gif: also write GIFs (needs Pillow).
        duration_ms: time each GIF frame is shown.

    Returns:
        ``Exported`` listing the files written.

    Raises:
        MissingPillow: ``gif=True`` without Pillow; raised after the PNGs are written.
        FileNotFoundError: ``path`` holds no run.
    """
    run = resolve_run(path)
    damaged: list = []
    paths = SafePaths(EXPORT_FILES)
    pngs, places = _write_pngs(run, out_dir, damaged, paths)
    gifs: list = []
    skipped: list = []
    if gif:
        _pillow()
        for tag in sorted(places):
            if not tag.startswith(tags.TIMELINE_PREFIX):
                folder = os.path.join(out_dir, paths.path(tag))
                gifs += _write_gifs(tag, places[tag], folder, duration_ms, skipped)
    return Exported(pngs, gifs, skipped, damaged)
