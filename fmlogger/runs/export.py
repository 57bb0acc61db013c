"""``fmlogger export``: every logged image as a PNG, and an animated GIF per layer and sample.

Layout under the output folder (tags become folders)::

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
import re

import numpy as np

from fmlogger import tags
from fmlogger.runs.events import decode_png, image_tags, resolve_run
from fmlogger.render.timeline import number_bitmaps

PILLOW_HINT = (
    "GIF export needs Pillow, which is not installed: pip install 'fmlogger[export]' "
    "(or pip install pillow). Pass --no-gif (gif=False) to export PNGs only."
)
LABEL_SCALE = 2


class MissingPillow(ImportError):
    """Raised when GIFs are asked for and Pillow is not installed."""


@dataclasses.dataclass(frozen=True)
class Exported:
    """Files written by ``export_run``: ``pngs`` and ``gifs`` (paths), and ``skipped`` notes."""

    pngs: list
    gifs: list
    skipped: list


def tag_folder(tag: str) -> str:
    """A tag as a relative folder: ``"feature_maps/block1/conv"`` -> ``feature_maps/block1/conv``,
    with characters outside ``[A-Za-z0-9._#=+-]`` replaced by ``_``."""
    parts = [re.sub(r"[^A-Za-z0-9._#=+-]", "_", p) for p in tag.split("/") if p]
    return os.path.join(*[p if p.strip(".") else "_" for p in parts] or ["_"])


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


def read_frame_step(frame: np.ndarray, image_height: int, *, scale: int = LABEL_SCALE) -> int:
    """Reads back the step that ``labelled_frame`` drew under an image of ``image_height`` rows."""
    from fmlogger.render.timeline import read_numbers

    bar = frame[image_height:, :, 0] if frame.ndim == 3 else frame[image_height:]
    ink = bar[scale : scale + 5 * scale : scale, scale::scale] > 127
    digits = ink.shape[1] // 4
    return read_numbers(ink[None, :, : digits * 4])[0]


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


def export_run(path: str, out_dir: str, *, gif: bool = True, duration_ms: int = 500) -> Exported:
    """Exports every logged image of a run as PNG, and (``gif=True``) a GIF per image tag and sample.

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
    by_tag = image_tags(run)
    pngs, gifs, skipped = [], [], []
    for tag in sorted(by_tag):
        folder = os.path.join(out_dir, tag_folder(tag))
        os.makedirs(folder, exist_ok=True)
        for step in sorted(by_tag[tag]):
            for i, data in enumerate(by_tag[tag][step]):
                target = os.path.join(folder, f"step_{step:06d}_sample_{i}.png")
                with open(target, "wb") as f:
                    f.write(data)
                pngs.append(target)
    if not gif:
        return Exported(pngs, gifs, skipped)
    _pillow()
    for tag in sorted(by_tag):
        if tag.startswith(tags.TIMELINE_PREFIX):
            continue
        steps = sorted(by_tag[tag])
        samples = max(len(by_tag[tag][s]) for s in steps)
        for i in range(samples):
            frames = [
                labelled_frame(decode_png(by_tag[tag][s][i]), s) for s in steps if i < len(by_tag[tag][s])
            ]
            if len({f.shape for f in frames}) > 1:
                skipped.append(f"{tag} sample {i}: image size changes between steps, no GIF")
                continue
            target = os.path.join(out_dir, tag_folder(tag), f"sample_{i}.gif")
            write_gif(target, frames, duration_ms=duration_ms)
            gifs.append(target)
    return Exported(pngs, gifs, skipped)
