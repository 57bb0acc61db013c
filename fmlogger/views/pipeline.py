"""Views into a sink, one step at a time: the loop ``FeatureMapLogger`` and ``fmlogger inspect`` share.

``Pipeline.log`` runs every view's ``compute`` on the caller's (training) thread, then hands the
step to ``write``: ``Sink.start``, every view's ``produce``, one ``Sink.write`` (one event for
TensorBoard), a flush and the ``after_write`` hook (the run state), inline or on the worker
(``fmlogger.sinks.worker.Worker``), so the training thread pays only for the passes and the copy
to host. Failures go to the ``ErrorPolicy``: at once inline, at the next call from the worker.

Example:
    >>> import numpy as np, tempfile
    >>> from fmlogger.errors import ErrorPolicy
    >>> from fmlogger.render.renderer import RenderSettings
    >>> from fmlogger.sinks.png_folder import PngFolderSink
    >>> from fmlogger.views.base import Batch
    >>> from fmlogger.views.feature_maps import FeatureMapView, LayerArrays
    >>> maps = FeatureMapView(None, RenderSettings(min_tile_size=8))
    >>> pipeline = Pipeline([maps], PngFolderSink(tempfile.mkdtemp()), ErrorPolicy("raise"), background=False)
    >>> batch = Batch(0)
    >>> batch.computed[maps] = LayerArrays({"conv1": np.random.rand(1, 8, 8, 4)})
    >>> frames = pipeline.write(batch)
    >>> [p.rsplit("/", 1)[-1] for p in pipeline.sink.written], frames["conv1"].images.shape
    (['conv1.png'], (1, 19, 19, 1))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from fmlogger.errors import ErrorPolicy
from fmlogger.render.renderer import Frame
from fmlogger.sinks.base import Failure, Sink
from fmlogger.sinks.worker import Worker
from fmlogger.views.base import Batch, View, compute_all, produce_all


def attempt(where: str, action: Callable[[], object]) -> list[Failure]:
    """Runs ``action()``; returns ``[(where, error)]`` if it raised, else ``[]``."""
    try:
        action()
    except Exception as err:  # noqa: BLE001 - the caller's error policy decides
        return [(where, err)]
    return []


class PendingFrames(Mapping):
    """``{layer path: Frame}`` of a step that the background writer may still be rendering.

    Reading it (``frames["conv1"]``, ``len``, iteration) waits for that step to be written;
    ``done()`` tells without waiting.
    """

    def __init__(self, future):
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def _frames(self) -> dict:
        return self._future.result()[0]

    def __getitem__(self, name: str) -> Frame:
        return self._frames()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames())

    def __len__(self) -> int:
        return len(self._frames())

    def __repr__(self) -> str:
        return f"PendingFrames({self._frames()!r})" if self.done() else "PendingFrames(<being written>)"


class Pipeline:
    """Runs views into a sink.

    Args:
        views: the views, in order (a view built on another comes after it).
        sink: where the outputs go.
        errors: where failures go: an ``ErrorPolicy`` (or anything with ``report(where, error)``).
        background: produce and write on the worker thread (``write`` returns ``PendingFrames``).
        max_pending: steps that may wait for the worker; ``write`` blocks beyond that.
        after_write: ``after_write(batch)`` once a step is written (saving the run state).
    """

    def __init__(
        self,
        views: Sequence[View],
        sink: Sink,
        errors: ErrorPolicy,
        *,
        background: bool = True,
        max_pending: int = 2,
        after_write: Callable[[Batch], object] | None = None,
    ):
        self.views = list(views)
        self.sink = sink
        self.errors = errors
        self.background = background
        self.after_write = after_write
        self._worker = Worker(max_pending)

    def log(self, model, batch: Batch):
        """Computes every view on ``batch`` here, then ``write``s it."""
        self.report_finished()
        compute_all(self.views, model, batch, report=self.errors.report)
        return self.write(batch)

    def write(self, batch: Batch):
        """Produces and writes ``batch`` (on the worker with ``background``); returns its frames."""
        if not self.background:
            frames, failures = self._produce_and_write(batch)
            self.report(failures)
            return frames
        return PendingFrames(self._worker.submit(self._produce_and_write, batch))

    def _produce_and_write(self, batch: Batch) -> tuple[dict, list[Failure]]:
        """Never raises: failures are returned for the caller's thread to report."""
        failures = self.sink.start(batch.step)
        outputs, more = produce_all(self.views, batch)
        failures += more + self.sink.write(batch.step, outputs)
        failures += attempt(f"flushing step {batch.step} to {self.sink.location}", self.sink.flush)
        if self.after_write is not None:
            failures += attempt(
                f"saving the run state in {self.sink.location}", lambda: self.after_write(batch)
            )
        return {name: frame for out in outputs for name, frame in out.frames.items()}, failures

    def report(self, failures: Sequence[Failure]) -> None:
        for where, err in failures:
            self.errors.report(where, err)

    def _collect(self, futures) -> None:
        """Hands the failures of finished background steps to the error policy, oldest first."""
        for future in futures:
            err = future.exception()
            self.report([("background writing", err)] if err is not None else future.result()[1])

    def report_finished(self) -> None:
        """Reports the failures of the steps the worker has finished."""
        self._collect(self._worker.finished())

    @property
    def pending(self) -> int:
        """Steps handed to the worker and not written yet."""
        return self._worker.pending

    def flush(self) -> None:
        """Waits for the worker, reports its failures, and flushes the sink."""
        self._collect(self._worker.wait())
        self.sink.flush()

    def close(self) -> None:
        """Waits for the worker and closes the sink; failures of the last steps are reported after."""
        futures = self._worker.shutdown()
        try:
            self.sink.close()
        finally:
            self._collect(futures)
