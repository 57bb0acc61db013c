"""What happens when logging fails during training: report once and go on, or stop.

Example:
    >>> policy = ErrorPolicy("warn")
    >>> policy.report("layer 'conv1'", RuntimeError("boom"))   # logs one warning, returns
    >>> policy.site("writing step 3 to runs/a")
    'writing step # to runs/a'
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("fmlogger")

ON_ERROR = ("warn", "raise")

_STEP_NUMBER = re.compile(r"\b(step|epoch) -?\d+\b")


class ErrorPolicy:
    """``"warn"``: log each kind of failure once (where + cause) and carry on; ``"raise"``: re-raise.

    A kind is the site, the ``where`` text with its step (or epoch) number left out, and the
    exception type: the same layer failing at every step is one warning, two layers whose names
    differ only by digits (``c3d_1``, ``c3d_2``) are two.
    """

    def __init__(self, on_error: str = "warn"):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}. Received: on_error={on_error!r}")
        self.on_error = on_error
        self._reported: set[tuple[str, str]] = set()

    @staticmethod
    def site(where: str) -> str:
        """``where`` without its step number: ``"step 3"`` -> ``"step #"``, ``"epoch 4"`` -> ``"epoch #"``."""
        return _STEP_NUMBER.sub(lambda m: f"{m.group(1)} #", where)

    def report(self, where: str, error: BaseException) -> None:
        """Raises ``error`` under ``"raise"``; otherwise logs it the first time its kind is seen."""
        if self.on_error == "raise":
            raise error
        key = (self.site(where), type(error).__name__)
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning(
            "fmlogger: %s failed and is skipped: %s: %s. Training goes on; further failures of "
            "this kind are not reported. Pass on_error='raise' to stop instead.",
            where, type(error).__name__, str(error).rstrip("."),
        )
