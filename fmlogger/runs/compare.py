"""``fmlogger compare``: one layer of two runs side by side, plus their difference.

The output is one image: run A's logged image | run B's logged image | ``|A - B|``, separated by
4-pixel mid-grey gaps. A and B are the exact logged pixels (first probe sample by default); the
difference is the largest absolute difference over the colour channels, as grey (black = equal).
The comparison is only meaningful for the same probe and the same render settings: both are read
from each run's ``fmlogger_state.json`` and a warning says when they differ.

Example:
    >>> result = compare_runs("runs/a", "runs/b", "conv1")          # doctest: +SKIP
    >>> result.image.shape, result.steps, result.warnings            # doctest: +SKIP
    ((61, 191, 1), (29, 29), [])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fmlogger import tags
from fmlogger.runs.events import decode_png, images_by_step, iter_summaries, resolve_run
from fmlogger.sinks.state import load_state, probe_differences, setting_differences

GAP = 4
GAP_VALUE = 128


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What ``compare_runs`` found.

    Attributes:
        image: uint8 ``[H, W, c]``: A | B | difference (difference omitted when shapes differ).
        a, b: the two logged images ``[h, w, c]``.
        diff: ``|A - B|`` ``[h, w, 1]`` (max over colour channels), or None when shapes differ.
        tag: the image tag compared.
        steps: the steps of A and B.
        runs: the two run folders.
        warnings: probe or settings mismatches, missing steps.
    """

    image: np.ndarray
    a: np.ndarray
    b: np.ndarray
    diff: np.ndarray | None
    tag: str
    steps: tuple[int, int]
    runs: tuple[str, str]
    warnings: list


def image_tag_names(run_dir: str) -> list[str]:
    """The image tags of a run, sorted."""
    return sorted({s.tag for s in iter_summaries(run_dir, plugin="images")})


def layer_tag(layer: str) -> str:
    """``"conv1"`` -> ``"feature_maps/conv1"``; a full tag (``feature_maps/...``,
    ``feature_map_timeline/...``) stays as it is."""
    if layer.startswith((tags.IMAGE_PREFIX, tags.TIMELINE_PREFIX)):
        return layer
    return tags.image_tag(layer)


def _rgb(image: np.ndarray, channels: int) -> np.ndarray:
    return (
        image
        if image.shape[-1] == channels
        else np.broadcast_to(image[..., :1], image.shape[:2] + (channels,))
    )


def side_by_side(panels, *, gap: int = GAP, value: int = GAP_VALUE) -> np.ndarray:
    """Joins ``[h, w, c]`` images left to right with ``gap`` columns of ``value``.

    Shorter images are padded below with ``value``; gray ones become RGB beside a colour one."""
    channels = max(p.shape[-1] for p in panels)
    height = max(p.shape[0] for p in panels)
    parts = []
    for i, panel in enumerate(panels):
        panel = _rgb(panel, channels)
        below = np.full((height - panel.shape[0], panel.shape[1], channels), value, np.uint8)
        parts.append(np.concatenate([panel, below], axis=0))
        if i < len(panels) - 1:
            parts.append(np.full((height, gap, channels), value, np.uint8))
    return np.concatenate(parts, axis=1)


def _pick_steps(steps_a, steps_b, step, names, warnings) -> tuple[int, int]:
    if step is not None:
        missing = [
            f"{name} (steps {_span(s)})" for name, s in zip(names, (steps_a, steps_b)) if step not in s
        ]
        if missing:
            raise ValueError(f"step={step} was not logged in {' and '.join(missing)}.")
        return step, step
    common = set(steps_a) & set(steps_b)
    if common:
        return max(common), max(common)
    warnings.append(
        f"the runs share no logged step; comparing their newest steps ({max(steps_a)} and {max(steps_b)})."
    )
    return max(steps_a), max(steps_b)


def _span(steps) -> str:
    steps = sorted(steps)
    return f"{steps[0]}..{steps[-1]}" if len(steps) > 1 else str(steps[0])


def compare_runs(
    run_a: str, run_b: str, layer: str, *, step: int | None = None, sample: int = 0
) -> Comparison:
    """Renders one layer of two runs side by side, plus the difference image.

    Args:
        run_a, run_b: log folders (or their ``feature_maps`` run folders).
        layer: a layer path as logged (``"conv1"``, ``"backbone/conv1"``) or a full image tag.
        step: the step to compare; None takes the newest step both runs logged.
        sample: which probe sample (image) of the step.

    Returns:
        A ``Comparison``; ``warnings`` says when the probes or render settings differ.

    Raises:
        FileNotFoundError: a folder holds no run.
        ValueError: the layer, step or sample is not in both runs (the message lists what is), or
            a logged PNG does not decode (the message names the run, tag, step and sample).
    """
    runs = (resolve_run(run_a), resolve_run(run_b))
    tag = layer_tag(layer)
    logged = [images_by_step(r, tag) for r in runs]
    for run, by_step in zip(runs, logged):
        if not by_step:
            listed = ", ".join(image_tag_names(run)) or "none"
            raise ValueError(f"layer={layer!r} (tag {tag!r}) is not logged in {run!r}. Image tags: {listed}.")
    warnings: list[str] = []
    steps = _pick_steps(sorted(logged[0]), sorted(logged[1]), step, runs, warnings)
    images = []
    for run, by_step, s in zip(runs, logged, steps):
        pngs = by_step[s]
        if not 0 <= sample < len(pngs):
            raise ValueError(f"sample={sample} is not in {run!r} at step {s}: it has {len(pngs)} sample(s).")
        try:
            images.append(decode_png(pngs[sample]))
        except ValueError as err:
            raise ValueError(f"{run!r}, tag {tag!r}, step {s}, sample {sample}: {err}") from None
    states = [load_state(r) or {} for r in runs]
    probe = probe_differences(states[0].get("probe"), states[1].get("probe"))
    if probe:
        warnings.insert(
            0,
            f"the probe fingerprints differ ({probe}): the runs saw different inputs, so "
            "differences mix model changes with input changes.",
        )
    elif not (states[0].get("probe") and states[1].get("probe")):
        warnings.append(
            "a run has no probe fingerprint (logged with log_arrays, or before fmlogger 0.1): "
            "cannot check that both saw the same inputs."
        )
    settings = setting_differences(states[0].get("settings") or {}, states[1].get("settings") or {})
    if settings:
        warnings.append(
            "the render settings differ (" + ", ".join(settings) + "): equal activations may look different."
        )
    a, b = images
    diff = None
    if a.shape[:2] == b.shape[:2]:
        channels = max(a.shape[-1], b.shape[-1])
        delta = np.abs(_rgb(a, channels).astype(np.int16) - _rgb(b, channels).astype(np.int16))
        diff = delta.max(axis=-1, keepdims=True).astype(np.uint8)
        panels = [a, b, diff]
    else:
        warnings.append(f"the images differ in size ({a.shape[:2]} vs {b.shape[:2]}): no difference image.")
        panels = [a, b]
    return Comparison(side_by_side(panels), a, b, diff, tag, steps, runs, warnings)
