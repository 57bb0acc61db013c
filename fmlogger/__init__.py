"""fmlogger: see what a CNN's layers respond to, epoch after epoch, in TensorBoard.

``import fmlogger`` is light: TensorFlow and Keras load only when a class that needs them is
first used.

Example:
    >>> import fmlogger
    >>> fmlogger.__all__[:3]
    ['ActivationMaximizer', 'EmbeddingSettings', 'ExplainSettings']
    >>> callback = fmlogger.FeatureMapCallback("runs", probe=x[:8])             # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[callback])                          # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "FeatureMapCallback": "fmlogger.callback",
    "FeatureMapLogger": "fmlogger.logger",
    "RenderSettings": "fmlogger.render.renderer",
    "Renderer": "fmlogger.render.renderer",
    "Saliency": "fmlogger.explain.saliency",
    "ActivationMaximizer": "fmlogger.explain.actmax",
    "ExplainSettings": "fmlogger.explain.settings",
    "TimelineSettings": "fmlogger.views.timelines",
    "EmbeddingSettings": "fmlogger.views.embeddings",
    "layer_paths": "fmlogger.capture.layers",
    "read_run": "fmlogger.runs.read",
    "export_run": "fmlogger.runs.export",
    "compare_runs": "fmlogger.runs.compare",
    "show": "fmlogger.notebook",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fmlogger' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
