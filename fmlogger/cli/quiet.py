"""TensorFlow's C++ start-up lines hidden on the command line (``--verbose`` shows them).

Example:
    >>> from fmlogger.cli.quiet import is_startup_noise
    >>> is_startup_noise("I0000 00:00:1796307407.151024    9443 port.cc:153] oneDNN custom operations ...")
    True
    >>> is_startup_noise("Epoch 1/3")
    False
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] |"
    r"To enable the following instructions: )"
)
"""TensorFlow's C++ start-up lines (oneDNN notice, CPU features, absl's preamble). TF 2.19+ logs
them through absl before ``absl::InitializeLog``, which ignores ``TF_CPP_MIN_LOG_LEVEL``."""


def is_startup_noise(line: str) -> bool:
    """True for a TensorFlow C++ start-up line (absl's preamble, an ``I``/``W`` log line, the CPU hint)."""
    return bool(_STARTUP_NOISE.match(line))


def quiet_tensorflow_import() -> None:
    """Imports TensorFlow with its C++ start-up lines hidden; other stderr output is kept.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless set) and absl's verbosity to errors, then imports
    TensorFlow with file descriptor 2 sent to a scratch file, and writes back every line that is
    not start-up noise. Only the command line calls this (``--verbose`` skips it); importing
    ``fmlogger`` changes nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # the command that needs it says what to install
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        scratch.seek(0)
        kept = [line for line in scratch.read().decode(errors="replace").splitlines(True)
                if not is_startup_noise(line)]
    sys.stderr.write("".join(kept))
