"""What a run folder remembers: render settings, per-layer channel choice and fixed range, probe,
and the rows of every timeline.

``FeatureMapLogger`` writes ``<run folder>/fmlogger_state.json`` after every logged step in which
something changed, and beside it the rows (steps and tiles) each timeline keeps
(``fmlogger.sinks.timeline_rows``). A logger started later on the same folder (a resumed run)
reads them back, so the ``top_k`` channel choice and the ``normalize="fixed"`` range stay those of
the first logged step, the timelines go on with their earlier rows, and it warns when the probe or
the render settings differ from the saved ones. A state file of an unknown ``format_version``, or
a rows file that is missing or unreadable, is reported (naming the file) and ignored. The probe
fingerprint and the settings are also written as a TensorBoard text summary
(``feature_map_run/info``, Text tab). ``fmlogger compare`` reads the JSON of both runs.

The JSON (format version 1)::

    {"format_version": 1, "fmlogger_version": "0.1.0",
     "settings": {"normalize": "fixed", "channel_order": "top_k", ...},
     "layers": {"conv1": {"channels": [3, 0, 2], "fixed_range": [0.0, 1.7], "settings": {...}}},
     "probe": {"sha256": "...", "shape": [4, 16, 16, 1], "dtype": "float32", "samples": 4, "seed": 0},
     "timelines": {"conv1": {"tile_shape": [32, 32], "columns": 16}}}

Example:
    >>> import numpy as np
    >>> fp = probe_fingerprint(np.zeros((2, 3), np.float32))
    >>> fp["shape"], fp["dtype"], len(fp["sha256"])
    ([2, 3], 'float32', 64)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading

import numpy as np

from fmlogger import tags
from fmlogger._arrays import to_numpy
from fmlogger._paths import join, read_bytes, write_atomic
from fmlogger.sinks.timeline_rows import RowsFile, TimelineRows, load_rows

log = logging.getLogger("fmlogger")

_CHANNEL_KEYS = ("channel_order", "max_channels")
_SAVE_LOCK = threading.Lock()
_RANGE_KEYS = ("normalize", "clip_percentile")


def _leaves(x) -> list[tuple[str, np.ndarray]]:
    if isinstance(x, dict):
        return [(f"{k}{'/' + sub if sub else ''}", leaf) for k in sorted(x) for sub, leaf in _leaves(x[k])]
    if isinstance(x, (list, tuple)):
        return [
            (f"{i}{'/' + sub if sub else ''}", leaf)
            for i, item in enumerate(x)
            for sub, leaf in _leaves(item)
        ]
    return [("", to_numpy(x))]


def probe_fingerprint(x, *, seed: int | None = None) -> dict:
    """Identifies a probe: SHA-256 over every input's dtype, shape and bytes, plus shape and dtype.

    Args:
        x: the probe inputs: an array/tensor, or a list/dict of them (multi-input models).
        seed: the seed the probe was drawn with, if any (recorded, not hashed).

    Returns:
        ``{"sha256", "shape", "dtype", "samples", "seed"}``; for several inputs ``shape`` and
        ``dtype`` are ``{input: value}``.
    """
    leaves = _leaves(x)
    digest = hashlib.sha256()
    for key, leaf in leaves:
        leaf = np.ascontiguousarray(leaf)
        digest.update(f"{key}|{leaf.dtype.str}|{leaf.shape}|".encode())
        digest.update(leaf.tobytes())
    single = len(leaves) == 1 and leaves[0][0] == ""
    shapes = {key: [int(d) for d in leaf.shape] for key, leaf in leaves}
    dtypes = {key: str(leaf.dtype) for key, leaf in leaves}
    return {
        "sha256": digest.hexdigest(),
        "shape": shapes[""] if single else shapes,
        "dtype": dtypes[""] if single else dtypes,
        "samples": int(leaves[0][1].shape[0]) if leaves[0][1].ndim else 0,
        "seed": seed,
    }


def state_path(run_dir: str) -> str:
    return join(os.fspath(run_dir), tags.STATE_FILE)


def load_state(run_dir: str) -> dict | None:
    """The saved state of a run folder, or None when there is none.

    A file that cannot be read, or of a ``format_version`` this fmlogger does not know, is
    warned about (naming it) and ignored.
    """
    path = state_path(run_dir)
    try:
        data = read_bytes(path)
        if data is None:
            return None
        state = json.loads(data.decode("utf-8"))
    except (OSError, ValueError) as err:
        log.warning("fmlogger: cannot read %s (%s); starting with a fresh state.", path, err)
        return None
    if not isinstance(state, dict):
        log.warning("fmlogger: %s holds %s, not an object; starting afresh.", path, _short(state))
        return None
    version = state.get("format_version")
    if version != tags.FORMAT_VERSION:
        log.warning(
            "fmlogger: %s has format_version %r, which this fmlogger does not know (it reads %r); "
            "ignoring it and starting with a fresh state.", path, version, tags.FORMAT_VERSION,
        )
        return None
    return _checked(path, state)


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layer_problem(entry) -> str | None:
    """Why a saved layer entry cannot be used (None when it can)."""
    if not isinstance(entry, dict):
        return f"is {_short(entry)}, not an object"
    channels, fixed = entry.get("channels"), entry.get("fixed_range")
    if channels is not None:
        if not isinstance(channels, list) or not channels or not all(_is_int(c) for c in channels):
            return f"has channels={_short(channels)}, not a non-empty list of integers"
        if min(channels) < 0 or len(set(channels)) != len(channels):
            return f"has channels={_short(channels)}: negative or repeated channels"
    if fixed is not None:
        numbers = isinstance(fixed, list) and len(fixed) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in fixed
        )
        if not numbers or fixed[0] > fixed[1]:
            return f"has fixed_range={_short(fixed)}, not two finite numbers [low, high]"
    if entry.get("settings") is not None and not isinstance(entry["settings"], dict):
        return f"has settings={_short(entry['settings'])}, not an object"
    return None


def _checked(path: str, state: dict) -> dict:
    """``state`` without the parts of the wrong shape, each warned about naming ``path``: a part of
    the wrong type, or a layer entry with unusable channels or fixed range, is dropped alone."""
    state = dict(state)
    for key, kinds in (("settings", dict), ("layers", dict), ("timelines", dict), ("probe", dict)):
        if state.get(key) is not None and not isinstance(state[key], kinds):
            log.warning("fmlogger: %s has %s=%s, not an object; ignoring that part.", path, key,
                        _short(state[key]))
            state[key] = None
    probe = state.get("probe")
    if probe is not None and not isinstance(probe.get("sha256"), str):
        log.warning("fmlogger: %s has a probe without a sha256 string; ignoring that part.", path)
        state["probe"] = None
    layers = {}
    for name, entry in (state.get("layers") or {}).items():
        problem = _layer_problem(entry)
        if problem:
            log.warning("fmlogger: %s: layer %r %s; choosing its channels and range afresh.",
                        path, name, problem)
        else:
            layers[name] = entry
    state["layers"] = layers
    return state


def save_state(run_dir: str, state: dict) -> None:
    """Writes the state JSON (atomically on local disks: a temporary file, then a rename)."""
    write_atomic(state_path(run_dir), json.dumps(state, indent=1, sort_keys=True).encode("utf-8"))


def settings_dict(settings) -> dict:
    """``RenderSettings`` as a JSON-ready dict."""
    return dataclasses.asdict(settings)


def setting_differences(saved: dict, current: dict) -> list[str]:
    """``["normalize: 'per_map' -> 'fixed'", ...]`` for every setting whose value changed."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def probe_differences(a: dict | None, b: dict | None) -> str | None:
    """A sentence saying how two probe fingerprints differ, or None when they match (or one is missing)."""
    if not a or not b or a.get("sha256") == b.get("sha256"):
        return None
    parts = [f"sha256 {a.get('sha256', '?')[:12]}... vs {b.get('sha256', '?')[:12]}..."]
    for key in ("shape", "dtype", "seed"):
        if a.get(key) != b.get(key):
            parts.append(f"{key} {a.get(key)} vs {b.get(key)}")
    return "; ".join(parts)


def info_markdown(state: dict) -> str:
    """The text summary: probe fingerprint and render settings as Markdown tables."""
    probe = state.get("probe") or {}
    lines = [
        f"fmlogger {state.get('fmlogger_version', '?')}; saved in `{tags.STATE_FILE}` in the run folder.",
        "",
        "| probe | value |",
        "|---|---|",
    ]
    if probe:
        seed = probe.get("seed")
        drawn = f"drawn with seed {seed}" if seed is not None else "first samples of the data given"
        lines += [
            f"| sha256 | `{probe['sha256']}` |",
            f"| shape | {probe['shape']} |",
            f"| dtype | {probe['dtype']} |",
            f"| samples | {probe['samples']} ({drawn}) |",
        ]
    else:
        lines.append("| (none) | arrays were logged directly with log_arrays |")
    lines += ["", "| render setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted((state.get("settings") or {}).items())]
    return "\n".join(lines)


class RunRecord:
    """The logger's side of the state files: restores on start, checks the probe, saves after steps.

    Args:
        run_dir: the run folder.
        settings: the logger's ``RenderSettings``.
        renderer: the ``Renderer`` whose channel choice and fixed range are restored and saved.
        resume: read the saved state (False: start afresh and overwrite it).

    Attributes:
        saved: the state read back, or None.
        saved_rows: ``{layer: TimelineRows}`` read back from the rows file (``{}`` when none).
    """

    def __init__(self, run_dir: str, settings, renderer, *, resume: bool = True):
        from fmlogger import __version__

        self.run_dir = run_dir
        self.renderer = renderer
        self.saved = load_state(run_dir) if resume else None
        self.state = {
            "format_version": tags.FORMAT_VERSION,
            "fmlogger_version": __version__,
            "settings": settings_dict(settings),
            "layers": {},
            "probe": None,
            "timelines": {},
        }
        self._last_written: str | None = None
        self._info_written = False
        self._probe_source = None
        self._probe_warned = False
        self._cut_said = False
        self._changed_settings: dict[str, list[str]] = {}
        self._settings_warned = False
        self.saved_rows: dict[str, TimelineRows] = {}
        self._rows_file = RowsFile(run_dir)
        if self.saved:
            self._restore(self.saved)
            self.saved_rows = load_rows(run_dir, expected=bool(self.saved.get("timelines")))

    def _restore(self, saved: dict) -> None:
        current = self.state["settings"]
        default = saved.get("settings") or {}
        for name, entry in (saved.get("layers") or {}).items():
            old = entry.get("settings") or default  # per layer since several loggers may share a run

            def same(keys, old=old):
                return all(old.get(k) == current.get(k) for k in keys)

            self.renderer.restore(
                {name: entry},
                channels=same(_CHANNEL_KEYS),
                fixed_range=same(_RANGE_KEYS) and current.get("normalize") == "fixed",
            )
            changed = setting_differences(old, current)
            if changed:
                self._changed_settings[name] = changed
        self.state["probe"] = saved.get("probe")
        self.state["timelines"] = dict(saved.get("timelines") or {})

    def set_probe(self, x, *, seed: int | None = None, source=None, given: int | None = None) -> dict:
        """Fingerprints the probe (once per ``source`` object) and warns once if it changed.

        ``given``: the samples the source held; when the probe is a cut of it, that is said once.
        """
        if source is not None and source is self._probe_source:
            return self.state["probe"]
        fingerprint = probe_fingerprint(x, seed=seed)
        kept = fingerprint["samples"]
        if given is not None and given > kept and not self._cut_said:
            self._cut_said = True
            how = f"drawn with probe_seed={seed}" if seed is not None else "the first ones"
            log.warning(
                "fmlogger: the probe holds %d samples; %d of them (%s) are logged (max_samples=%d). "
                "Pass max_samples=%d to log them all.", given, kept, how, kept, given,
            )
        previous = self.state["probe"]
        if previous is not None and seed is None and previous.get("sha256") == fingerprint["sha256"]:
            fingerprint["seed"] = previous.get("seed")  # same data: keep how it was drawn
        diff = probe_differences(previous, fingerprint)
        if diff and not self._probe_warned:
            self._probe_warned = True
            where = (
                "saved in " + state_path(self.run_dir)
                if self.saved and previous is self.saved.get("probe")
                else "used before"
            )
            log.warning(
                "fmlogger: the probe differs from the one %s (%s); images of different probes are "
                "not comparable.",
                where,
                diff,
            )
        if diff:
            self._info_written = False
        self.state["probe"] = fingerprint
        self._probe_source = source
        return fingerprint

    def after_step(self, writer, step: int, timelines=None) -> None:
        """Writes the text summary (first step, or after the probe changed), the timelines' rows if
        they changed (``timelines``: an ``fmlogger.views.timelines.TimelineView``), then the JSON
        if it changed (in a steady run: at the first step only).

        Layers and timelines are merged into what is on disk, so loggers that share a run folder
        (different layers, same ``log_dir``) keep each other's entries. The rows file is written
        before the JSON: a state file that lists timelines always has its rows beside it.
        """
        settings = self.state["settings"]
        layers = {name: {**entry, "settings": settings} for name, entry in self.renderer.state().items()}
        self._warn_changed_settings(layers)
        self.state["layers"] = {**(self.state.get("layers") or {}), **layers}
        if timelines is not None:
            self.state["timelines"] = {**self.state["timelines"], **timelines.state()}
        if not self._info_written:
            writer.text(tags.RUN_INFO_TAG, info_markdown(self.state), step)
            self._info_written = True
        text = json.dumps(self.state, sort_keys=True)
        rows = timelines.changed_rows() if timelines is not None else {}
        if not rows and text == self._last_written:
            return
        with _SAVE_LOCK:  # loggers of one process (each with its writer thread) share the files
            if rows:
                self._rows_file.save(rows)
            if text != self._last_written:
                on_disk = load_state(self.run_dir) or {}
                merged = dict(self.state)
                for key in ("layers", "timelines"):
                    merged[key] = {**(on_disk.get(key) or {}), **self.state[key]}
                save_state(self.run_dir, merged)
                self._last_written = text

    def _warn_changed_settings(self, layers: dict) -> None:
        changed = {name: self._changed_settings[name] for name in layers if name in self._changed_settings}
        if changed and not self._settings_warned:
            self._settings_warned = True
            differences = sorted({d for diffs in changed.values() for d in diffs})
            log.warning(
                "fmlogger: render settings of %s differ from those saved in %s (%s); images logged from "
                "now on are not comparable with the earlier ones.",
                ", ".join(sorted(changed)), state_path(self.run_dir), ", ".join(differences),
            )
