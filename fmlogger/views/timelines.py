"""The timeline view: one image per layer whose rows are all logged steps so far.

Built on the feature-map view: at each step the first probe sample's tiles of every rendered
layer become a new row of ``feature_map_timeline/<layer path>`` (step number at left), and the
whole timeline is written again, so the newest step, which TensorBoard always keeps, holds the
history. Rows are appended at the bottom, so only the new rows are compressed
(``fmlogger.render.png.GrowingPNG``). The kept rows are saved with the run state
(``fmlogger.sinks.timeline_rows``) and a resumed run starts from them.

Example:
    >>> import numpy as np
    >>> from fmlogger.render.renderer import RenderSettings
    >>> from fmlogger.views.base import Batch, produce_all
    >>> from fmlogger.views.feature_maps import FeatureMapView, LayerArrays
    >>> maps = FeatureMapView(None, RenderSettings(min_tile_size=8))
    >>> view = TimelineView(TimelineSettings(max_rows=4), maps)
    >>> for step in range(3):
    ...     batch = Batch(step)
    ...     batch.computed[maps] = LayerArrays({"conv1": np.random.rand(1, 8, 8, 2)})
    ...     outputs, failures = produce_all([maps, view], batch)
    >>> image = outputs[1].images[0]
    >>> image.tag, view.timelines["conv1"].steps
    ('feature_map_timeline/conv1', [0, 1, 2])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fmlogger import tags
from fmlogger._checks import check_int
from fmlogger.render.png import GrowingPNG
from fmlogger.render.timeline import Timeline, frame_tiles
from fmlogger.sinks.base import ImageSummary, Output
from fmlogger.sinks.timeline_rows import TimelineRows
from fmlogger.views.base import Batch, View


@dataclasses.dataclass(frozen=True, kw_only=True)
class TimelineSettings:
    """How many rows and channel columns a timeline keeps.

    Args:
        max_rows: rows kept per timeline (>= 2); past it, an even subsample that keeps the first
            and the newest step.
        max_channels: channel columns per timeline (the first shown channels), or None for all.
    """

    max_rows: int = 32
    max_channels: int | None = 16

    def __post_init__(self):
        check_int("max_rows", self.max_rows, 2)
        check_int("max_channels", self.max_channels, 1, allow_none=True)


class TimelineView(View):
    """The timelines of the layers a ``FeatureMapView`` renders.

    Args:
        settings: a ``TimelineSettings``.
        source: the feature-map view whose frames become rows (its ``RenderSettings`` give the
            grid columns, padding and colormap).
        saved: ``{layer: TimelineRows}`` to continue (a resumed run), or None.
    """

    what = "timelines"

    def __init__(self, settings: TimelineSettings, source, *, saved: dict[str, TimelineRows] | None = None):
        self.settings = settings
        self.source = source
        self.timelines: dict[str, Timeline] = {}
        self._pngs: dict[str, GrowingPNG] = {}
        self._touched: set[str] = set()
        self._changed = False
        for name, rows in (saved or {}).items():
            timeline = Timeline(settings.max_rows)
            timeline.stride, timeline.count = rows.stride, rows.count
            # Timeline keeps {logged-step counter: (step, tiles)}; restored as it was saved.
            timeline._rows = {
                i: (s, np.ascontiguousarray(t)) for i, s, t in zip(rows.indices, rows.steps, rows.tiles)
            }
            self.timelines[name] = timeline

    def produce(self, batch: Batch) -> Output:
        """Adds the first sample of each frame the source rendered as the row of ``batch.step``."""
        out = Output()
        source = batch.outputs.get(self.source)
        for name, frame in (source.frames if source is not None else {}).items():
            try:
                out.images.append(self._add(name, frame, batch.step))
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                out.failures.append((f"timeline of layer '{name}'", err))
        return out

    def _add(self, name: str, frame, step: int) -> ImageSummary:
        s, limit = self.source.settings, self.settings.max_channels
        tiles = frame_tiles(frame, cols=s.cols, padding=s.padding, max_channels=limit)
        timeline = self.timelines.setdefault(name, Timeline(self.settings.max_rows))
        timeline.add(step, tiles)
        self._touched.add(name)
        self._changed = True
        image = timeline.image(padding=s.padding, colormap=s.colormap)
        png = self._pngs.setdefault(name, GrowingPNG()).encode(image)
        shown = frame.channels[:limit] if limit else frame.channels
        return ImageSummary(tags.timeline_tag(name), image[None], timeline.describe(name, shown), pngs=(png,))

    def state(self) -> dict:
        """``{layer: {"tile_shape", "columns"}}`` for the state file (the rows go to the rows file)."""
        out = {}
        for name, t in self.timelines.items():
            first = next(iter(t._rows.values()))[1] if t._rows else None
            if first is not None:
                out[name] = {"tile_shape": list(first.shape[1:3]), "columns": int(first.shape[0])}
        return out

    def changed_rows(self) -> dict[str, TimelineRows]:
        """``{layer: TimelineRows}`` of the timelines this view added rows to, if any row was
        added since the last call (else ``{}``): what the rows file must hold."""
        if not self._changed:
            return {}
        self._changed = False
        out = {}
        for name in sorted(self._touched):
            t = self.timelines[name]
            kept = sorted(t._rows.items())
            steps, tiles = [r[0] for _, r in kept], [r[1] for _, r in kept]
            out[name] = TimelineRows(steps, [i for i, _ in kept], tiles, t.stride, t.count)
        return out
