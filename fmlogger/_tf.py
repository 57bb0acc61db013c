"""The one place that imports TensorFlow, so a missing install gets one clear message."""

from __future__ import annotations

_INSTALL_HINT = (
    "fmlogger needs TensorFlow, which is not installed in this environment. Install it with "
    "`pip install 'fmlogger[cpu]'` (tensorflow-cpu) or `pip install 'fmlogger[tf]'` "
    "(tensorflow, with GPU support), or install the TensorFlow build you already use."
)


def tensorflow():
    """Imports and returns the ``tensorflow`` module, or raises ImportError saying what to install."""
    try:
        import tensorflow as tf
    except ImportError as err:  # pragma: no cover - exercised only without TensorFlow
        raise ImportError(_INSTALL_HINT) from err
    return tf
