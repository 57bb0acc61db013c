"""The PCA-RGB view: every channel of a 4-D layer summarised as colour, ``pca_rgb/<layer path>``.

Built on the feature-map view: its captured arrays are projected, per position, on their first
3 principal components (R, G, B), fitted over the probe at each step and sign-aligned to the
step before (``fmlogger.render.pca.PCARGBRenderer``), so colours do not flip between steps.

Example:
    >>> import numpy as np
    >>> from fmlogger.render.renderer import RenderSettings
    >>> from fmlogger.views.base import Batch, produce_all
    >>> from fmlogger.views.feature_maps import FeatureMapView, LayerArrays
    >>> maps = FeatureMapView(None, RenderSettings(min_tile_size=8))
    >>> view = PCARGBView(True, maps)
    >>> batch = Batch(0)
    >>> batch.computed[maps] = LayerArrays({"conv1": np.random.rand(2, 4, 4, 5), "dense": np.ones((2, 3))})
    >>> outputs, failures = produce_all([maps, view], batch)
    >>> [(i.tag, i.images.shape) for i in outputs[1].images]
    [('pca_rgb/conv1', (2, 8, 8, 3))]
"""

from __future__ import annotations

from fmlogger import tags
from fmlogger.sinks.base import ImageSummary, Output
from fmlogger.views.base import Batch, View


def check_pca_rgb(pca_rgb) -> None:
    """Raises a ValueError naming ``pca_rgb`` unless it is a bool, a layer path or a list of them."""
    paths = isinstance(pca_rgb, (list, tuple)) and all(isinstance(p, str) for p in pca_rgb)
    if not (isinstance(pca_rgb, (bool, str)) or paths):
        raise ValueError(
            f"pca_rgb must be True, False, or a list of layer paths. Received: pca_rgb={pca_rgb!r}"
        )


class PCARGBView(View):
    """PCA-RGB images of the 4-D layers a ``FeatureMapView`` captures.

    Args:
        layers: True for every 4-D layer of the source, or a layer path or list of them.
        source: the feature-map view (its arrays, and ``min_tile_size`` as the upscale target).
    """

    what = "PCA RGB"

    def __init__(self, layers, source):
        check_pca_rgb(layers)
        from fmlogger.render.pca import PCARGBRenderer

        self.wanted = None if layers is True else set([layers] if isinstance(layers, str) else layers)
        self.source = source
        self.renderer = PCARGBRenderer(min_size=source.settings.min_tile_size)

    def prepare(self, model, x) -> None:
        """Checks, once the feature-map view has resolved its layers, that it logs every wanted path."""
        capture = self.source.capture
        if self.wanted is None or capture is None:
            return
        missing = sorted(self.wanted - set(capture.paths))
        if missing:
            raise ValueError(
                f"pca_rgb={missing!r} names no logged layer. pca_rgb must name layers that are also in "
                f"layers=. Logged layers: {', '.join(capture.paths)}."
            )

    def produce(self, batch: Batch) -> Output:
        out = Output()
        computed = batch.computed.get(self.source)
        for name, array in (computed.arrays if computed is not None else {}).items():
            if (self.wanted is not None and name not in self.wanted) or array.ndim != 4:
                continue
            fmt = computed.data_formats.get(name) or "channels_last"
            channels = array.shape[1] if fmt == "channels_first" else array.shape[-1]
            try:
                images, fit = self.renderer.render(name, array, fmt)
            except Exception as err:  # noqa: BLE001 - the caller's error policy decides
                out.failures.append((f"PCA RGB of layer '{name}'", err))
                continue
            r, g, b = fit.explained_variance_ratio
            description = (
                f"{name}: each position's {channels} channels on the first 3 principal components "
                f"(R, G, B: {r:.0%}, {g:.0%}, {b:.0%} of variance), fitted over the probe at this step."
            )
            out.images.append(ImageSummary(tags.pca_rgb_tag(name), images, description))
        return out
