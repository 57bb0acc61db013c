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
from fmlogger.render import resize, tiling
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


MAX_DEFAULT_PIXELS = 12 * 2**20
"""Pixels the default layer choice may draw per step, counting each layer's grid once per probe
sample and ``TIMELINE_SAMPLES`` times more for its timeline once full: a big model's default
choice keeps fewer layers (ResNet50 at 224x224, probe of 8: 5 instead of 16, so ~3.5 MB of
events per step instead of ~10 MB; the 128x128 CNN of ``benchmarks/`` keeps all 5)."""

TIMELINE_SAMPLES = 8
"""A full timeline (32 rows of one sample) weighs about as much as 8 samples' grids in PNG."""


def grid_pixels(shape: tuple, data_format: str, settings: RenderSettings) -> int:
    """Pixels of the grid ``Renderer.render`` draws for one sample of a 4-D output ``shape``."""
    h, w, c = (shape[2], shape[3], shape[1]) if data_format == "channels_first" else shape[1:4]
    shrink = resize.downscale_factor(h, w, settings.max_tile_size)
    h, w = max(1, h // shrink), max(1, w // shrink)
    scale = resize.upscale_factor(h, w, settings.min_tile_size)
    rows, cols = tiling.grid_shape(min(c, settings.max_channels or c), settings.cols)
    pad = settings.padding
    return (rows * (h * scale + pad) + pad) * (cols * (w * scale + pad) + pad)


class FeatureMapView(View):
    """Feature maps of chosen layers: images and statistics per layer.

    Args:
        layers: layer names, paths, glob patterns or classes (``fmlogger.capture.traced``); None
            picks every layer with a 4-D output (at most ``max_layers``, and fewer on a big model:
            at most ``MAX_DEFAULT_PIXELS`` drawn per step).
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
            from fmlogger.capture.probe import leaves

            samples = min(self.max_samples, len(leaves(x)[0]))

            def cost(shape, data_format):
                return (samples + TIMELINE_SAMPLES) * grid_pixels(shape, data_format, self.settings)

            self.capture = Capture(
                model, self.layers, x, max_layers=self.max_layers, cost=cost, max_cost=MAX_DEFAULT_PIXELS
            )
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
