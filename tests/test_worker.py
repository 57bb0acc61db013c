"""The background worker: order, back-pressure, failures handed back, restart after shutdown."""

from __future__ import annotations

import threading

import pytest

from fmlogger.sinks.worker import Worker


def test_jobs_run_in_submission_order_on_one_thread():
    worker = Worker(max_pending=3)
    seen, threads = [], set()

    def job(i):
        seen.append(i)
        threads.add(threading.get_ident())
        return i * i

    futures = [worker.submit(job, i) for i in range(10)]
    done = worker.wait()
    assert [f.result() for f in done] == [i * i for i in range(10)]
    assert done == futures
    assert seen == list(range(10))
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert worker.pending == 0 and worker.wait() == []
    worker.shutdown()


def test_submit_blocks_while_max_pending_jobs_are_unfinished():
    worker = Worker(max_pending=1)
    release = threading.Event()
    first = worker.submit(release.wait)
    second_submitted = threading.Event()

    def submit_second():
        worker.submit(lambda: "second")
        second_submitted.set()

    thread = threading.Thread(target=submit_second)
    thread.start()
    # The first job cannot finish, so the second submit must still be waiting for its slot.
    assert not second_submitted.wait(0.3)
    assert worker.pending == 1
    release.set()
    thread.join()
    assert second_submitted.is_set()
    results = [f.result() for f in worker.shutdown()]
    assert first.result() is True and results == [True, "second"]


def test_failures_stay_in_their_future_and_later_jobs_still_run():
    worker = Worker()
    bad = worker.submit(lambda: 1 / 0)
    good = worker.submit(lambda: "ok")
    worker.wait()
    assert isinstance(bad.exception(), ZeroDivisionError)
    assert good.result() == "ok"
    worker.shutdown()


def test_finished_returns_only_the_done_head_of_the_queue():
    worker = Worker(max_pending=2)
    release = threading.Event()
    head = worker.submit(lambda: "head")
    head.result()
    blocked = worker.submit(release.wait)
    assert worker.finished() == [head]
    assert worker.finished() == []  # the blocked job is not done
    release.set()
    assert worker.wait() == [blocked]
    worker.shutdown()


def test_shutdown_then_submit_restarts_the_thread():
    worker = Worker()
    worker.submit(lambda: None)
    worker.shutdown()
    assert worker.submit(lambda: 7).result() == 7
    worker.shutdown()


def test_max_pending_is_validated():
    with pytest.raises(ValueError, match="max_pending must be an integer >= 1. Received: max_pending=0"):
        Worker(max_pending=0)

