"""Capture: which layers, their outputs on the probe in one traced forward pass (backend code).

Example:
    >>> from fmlogger.capture import layer_paths      # doctest: +SKIP
    >>> layer_paths(model)[:2]                         # doctest: +SKIP
    ['conv1', 'pool1']
"""

from fmlogger.capture.layers import iter_layers, layer_paths, select_layers
from fmlogger.capture.traced import Capture

__all__ = ["Capture", "iter_layers", "layer_paths", "select_layers"]
