"""Render: activations -> normalized, tiled, colorized uint8 images and PNG bytes (numpy only).

Nothing in this subpackage imports TensorFlow, Keras or another backend.

Example:
    >>> import numpy as np
    >>> from fmlogger.render import Renderer, RenderSettings
    >>> frame = Renderer(RenderSettings(min_tile_size=8)).render("conv1", np.ones((2, 8, 8, 3)))
    >>> frame.images.shape
    (2, 19, 19, 1)
"""

from fmlogger.render.renderer import Frame, Renderer, RenderSettings

__all__ = ["Frame", "Renderer", "RenderSettings"]
