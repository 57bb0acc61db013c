"""One background thread that runs jobs in submission order, with a bounded number in flight.

The logger hands each step's rendering, PNG encoding and writing to this worker, so the training
thread only pays for the forward pass and the copy to host. ``submit`` blocks while
``max_pending`` jobs are unfinished (back-pressure: memory stays bounded and nothing is dropped).
Jobs that are still queued when the interpreter exits are run before it does (the worker is a
``concurrent.futures`` thread, which Python joins at exit).

Example:
    >>> worker = Worker(max_pending=2)
    >>> future = worker.submit(sum, [1, 2, 3])
    >>> [f.result() for f in worker.wait()]
    [6]
    >>> worker.shutdown()  # waits for anything still queued, returns those futures
    []
"""

from __future__ import annotations

import collections
import threading
from concurrent.futures import Future, ThreadPoolExecutor


class Worker:
    """A single worker thread, started on first use and stopped by ``shutdown`` (restartable).

    Args:
        max_pending: how many submitted jobs may be unfinished (running or queued) at once.
        name: the thread's name prefix (shows in debuggers and ``threading.enumerate()``).
    """

    def __init__(self, max_pending: int = 2, *, name: str = "fmlogger-writer"):
        if max_pending < 1:
            raise ValueError(f"max_pending must be an integer >= 1. Received: max_pending={max_pending!r}")
        self.max_pending = max_pending
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(max_pending)
        self._futures: collections.deque[Future] = collections.deque()
        self._lock = threading.Lock()

    def submit(self, fn, *args, **kwargs) -> Future:
        """Queues ``fn(*args, **kwargs)``; blocks while ``max_pending`` jobs are unfinished."""
        self._slots.acquire()
        try:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                future = self._executor.submit(fn, *args, **kwargs)
                self._futures.append(future)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished yet."""
        with self._lock:
            return sum(not f.done() for f in self._futures)

    def finished(self) -> list[Future]:
        """Removes and returns the finished jobs at the head of the queue, oldest first."""
        done = []
        with self._lock:
            while self._futures and self._futures[0].done():
                done.append(self._futures.popleft())
        return done

    def wait(self) -> list[Future]:
        """Waits for every submitted job; removes and returns them, oldest first."""
        with self._lock:
            futures = list(self._futures)
            self._futures.clear()
        for future in futures:
            future.exception()  # waits; the caller decides what to do with a failure
        return futures

    def shutdown(self) -> list[Future]:
        """Waits for every job (returned, oldest first) and stops the thread; ``submit`` restarts it."""
        futures = self.wait()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        return futures
