"""What happens when logging fails during training: report once and go on, or stop.

Example:
    >>> policy = ErrorPolicy("warn")
    >>> policy.report("layer 'conv1'", RuntimeError("boom"))   # logs one warning, returns
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("fmlogger")

ON_ERROR = ("warn", "raise")


class ErrorPolicy:
    """``"warn"``: log each kind of failure once (where + cause) and carry on; ``"raise"``: re-raise.

    A kind is the place (numbers such as the step ignored) and the exception type.
    """

    def __init__(self, on_error: str = "warn"):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}. Received: on_error={on_error!r}")
        self.on_error = on_error
        self._reported: set[tuple[str, str]] = set()

    def report(self, where: str, error: BaseException) -> None:
        """Raises ``error`` under ``"raise"``; otherwise logs it the first time it is seen."""
        if self.on_error == "raise":
            raise error
        key = (re.sub(r"\d+", "#", where), type(error).__name__)  # "step 3" and "step 4": one kind
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning(
            "fmlogger: %s failed and is skipped: %s: %s. Training goes on; further failures of "
            "this kind are not reported. Pass on_error='raise' to stop instead.",
            where, type(error).__name__, str(error).rstrip("."),
        )
