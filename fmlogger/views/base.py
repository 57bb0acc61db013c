"""The one protocol every producer of images follows: ``prepare``, ``compute``, ``produce``.

Feature maps, timelines, PCA-RGB, explanations and embeddings are all ``View``s:

* ``prepare(model, x)``: once per model, before the first step: resolve layers, build and trace
  the passes; a wrong layer name fails here, before training, with a ``ValueError``.
* ``compute(model, batch)``: on the training thread: only the forward / gradient passes this
  view needs, returned as host numpy (or None: nothing to draw this step). Cheap by design.
* ``produce(batch)``: numpy only, so it may run on the background worker: turns what was
  computed into an ``fmlogger.sinks.base.Output`` (tagged uint8 images, scalars, failures).

A ``Batch`` carries one step through both halves: ``compute_all`` puts each view's result in
``batch.computed[view]`` and ``produce_all`` each ``Output`` in ``batch.outputs[view]``, in the
order of the views, so a view built on another one (timelines and PCA-RGB on the feature maps)
reads its source's results there. Any ``Sink`` then writes the outputs.

Example:
    >>> import numpy as np
    >>> from fmlogger.sinks.base import ImageSummary, Output
    >>> class Ones(View):
    ...     what = "ones"
    ...     def compute(self, model, batch):
    ...         return np.ones((1, 2, 2, 1), np.uint8)
    ...     def produce(self, batch):
    ...         return Output(images=[ImageSummary("ones", batch.computed[self] * 255)])
    >>> batch, view = Batch(step=3), Ones()
    >>> compute_all([view], None, batch, report=print)
    >>> outputs, failures = produce_all([view], batch)
    >>> int(outputs[0].images[0].images.max()), failures
    (255, [])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from fmlogger.sinks.base import Failure, Output


@dataclasses.dataclass
class Batch:
    """One logged step as the views see it.

    Attributes:
        step: the step.
        x: the probe inputs (host numpy), or None when arrays were given directly.
        labels: the probe's labels, or None.
        computed: ``{view: what its compute returned}``.
        outputs: ``{view: Output}``, filled by ``produce_all`` in view order.
    """

    step: int
    x: Any = None
    labels: Any = None
    computed: dict = dataclasses.field(default_factory=dict)
    outputs: dict = dataclasses.field(default_factory=dict)


class View:
    """A producer of images and scalars; subclasses override what they need.

    Attributes:
        what: names the view in failure reports (``"<what> failed and is skipped"``).
    """

    what = "view"

    def prepare(self, model, x) -> None:
        """Resolves layers and builds the passes for ``model`` (cheap when already done for it)."""

    def compute(self, model, batch: Batch) -> Any:
        """The training-thread part: forward/gradient passes as host numpy, or None."""
        return None

    def produce(self, batch: Batch) -> Output:
        """The numpy-only part: ``batch.computed[self]`` (and its sources' results) -> ``Output``."""
        raise NotImplementedError


def compute_all(
    views: Sequence[View], model, batch: Batch, *, report: Callable[[str, BaseException], None]
) -> None:
    """Runs every view's ``compute`` into ``batch.computed``; a view that raises is reported and skipped."""
    for view in views:
        try:
            batch.computed[view] = view.compute(model, batch)
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            report(view.what, err)


def produce_all(views: Sequence[View], batch: Batch) -> tuple[list[Output], list[Failure]]:
    """Runs every view's ``produce`` in order; returns the outputs and every failure met."""
    outputs: list[Output] = []
    failures: list[Failure] = []
    for view in views:
        try:
            out = view.produce(batch)
        except Exception as err:  # noqa: BLE001 - the caller's error policy decides
            failures.append((view.what, err))
            continue
        batch.outputs[view] = out
        outputs.append(out)
        failures += out.failures
    return outputs, failures
