"""Explanations: saliency, Grad-CAM and activation maximization, and their settings (backend code).

Example:
    >>> from fmlogger.explain import ExplainSettings
    >>> ExplainSettings(target=3).target
    3
"""

from fmlogger.explain.settings import ExplainSettings

__all__ = ["ExplainSettings"]
