"""The feature-map view: the chosen layers' outputs on the probe, one traced forward pass.

``compute`` runs ``fmlogger.capture.traced.Capture`` (layers resolved and the pass traced by
``prepare``) and returns the outputs as host numpy (``LayerArrays``); ``produce`` renders each
layer with ``fmlogger.render.renderer.Renderer`` to ``feature_maps/<layer path>`` images (one per
sample) and ``feature_map_stats/<layer path>/<stat>`` scalars, and hands on the ``Frame``s.

Example:
    >>> import numpy as np
    >>> from fmlogger.render.renderer import RenderSettings
    >>> from fmlogger.views.base import Batch
    >>> view = FeatureMapView(None, RenderSettings(min_tile_size=8))
    >>> batch = Batch(step=0)
    >>> batch.computed[view] = LayerArrays({"conv1": np.random.rand(2, 8, 8, 4)})
    >>> out = view.produce(batch)
    >>> out.images[0].tag, out.images[0].images.shape, len(out.scalars)
    ('feature_maps/conv1', (2, 19, 19, 1), 4)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np

from fmlogger import tags
from fmlogger._arrays import to_numpy
from fmlogger.render.renderer import Renderer, RenderSettings
from fmlogger.sinks.base import Failure, ImageSummary, Output
from fmlogger.views.base import Batch, View

log = logging.getLogger("fmlogger")


@dataclasses.dataclass
class LayerArrays:
    """Layer outputs on the host: ``{name: array}`` (samples first) and their layouts."""

    arrays: dict[str, np.ndarray]
    data_formats: dict[str, str] = dataclasses.field(default_factory=dict)


def to_host(arrays: Mapping, max_samples: int, *, copy: bool = False) -> tuple[dict, list[Failure]]:
    """``{name: numpy [:max_samples]}`` of arrays or tensors (copied if asked); failures per name."""
    host, failures = {}, []
    for name, array in arrays.items():
        try:
            value = to_numpy(array)[:max_samples]
            host[name] = value.copy() if copy else value
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            failures.append((f"logging layer '{name}'", err))
    return host, failures


class FeatureMapView(View):
    """Feature maps of chosen layers: images and statistics per layer.

    Args:
        layers: layer names, paths, glob patterns or classes (``fmlogger.capture.traced``); None
            picks every layer with a 4-D output (at most ``max_layers``).
        settings: the ``RenderSettings``.
        max_samples: images per layer (the first samples).
        max_layers: cap on the default layer choice.
    """

    what = "capturing layer outputs"

    def __init__(self, layers, settings: RenderSettings, *, max_samples: int = 4, max_layers: int = 16):
        self.layers = layers
        self.settings = settings
        self.renderer = Renderer(settings)
        self.max_samples = max_samples
        self.max_layers = max_layers
        self.capture = None
        self._nonfinite_reported: set[str] = set()

    def prepare(self, model, x) -> None:
        from fmlogger.capture.traced import Capture

        if self.capture is None or self.capture.model is not model:
            self.capture = Capture(model, self.layers, x, max_layers=self.max_layers)
            self.renderer.newest_last = set(self.capture.concatenations)

    def compute(self, model, batch: Batch) -> LayerArrays:
        self.prepare(model, batch.x)
        arrays = {name: a[: self.max_samples] for name, a in self.capture(batch.x).items()}
        return LayerArrays(arrays, dict(self.capture.data_formats))

    def produce(self, batch: Batch) -> Output:
        """Renders every layer of ``batch.computed[self]``; a layer that cannot be drawn is a failure."""
        out = Output()
        computed = batch.computed.get(self)
        for name, array in (computed.arrays if computed is not None else {}).items():
            fmt = computed.data_formats.get(name) or self.settings.data_format
            try:
                frame = self.renderer.render(name, array, fmt)
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                out.failures.append((f"logging layer '{name}'", err))
                continue
            out.images.append(ImageSummary(tags.image_tag(name), frame.images, frame.description))
            out.scalars += [(tags.stat_tag(name, stat), frame.stats[stat]) for stat in tags.STAT_NAMES]
            out.frames[name] = frame
            if frame.stats["nonfinite"] and name not in self._nonfinite_reported:
                self._nonfinite_reported.add(name)
                log.warning(
                    "fmlogger: layer '%s' produced %d NaN/Inf values at step %d; they are drawn in "
                    "the marker colour and counted in %s.",
                    name,
                    frame.stats["nonfinite"],
                    batch.step,
                    tags.stat_tag(name, "nonfinite"),
                )
        return out
