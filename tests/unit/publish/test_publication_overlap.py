"""publish.alongside: the warehouse and the release are written at the same time, and a failure of either wins; settle."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from pipeline.publish.publication import alongside, settle


def test_both_run_at_the_same_time_and_both_results_come_back():
    """The foreground waits for a signal that only the running background can give."""
    started = threading.Event()

    def background() -> str:
        started.set()
        return "release folder"

    def foreground() -> bool:
        return started.wait(timeout=10)

    assert alongside(foreground, background, discard=lambda _: None) == (True, "release folder")


def test_without_a_background_only_the_foreground_runs():
    """No release to write (content unchanged): the warehouse alone."""
    assert alongside(lambda: {"rows": 3}, None, discard=lambda _: None) == ({"rows": 3}, None)


def test_a_failing_foreground_discards_the_finished_background_and_raises():
    """A failed warehouse audit: the release folder written meanwhile is discarded, the audit error propagates."""
    discarded = []

    def foreground():
        raise ValueError("audit failed")

    with pytest.raises(ValueError, match="audit failed"):
        alongside(foreground, lambda: "release folder", discard=discarded.append)
    assert discarded == ["release folder"]


def test_a_failing_background_raises_after_the_foreground():
    """A failed release write fails the publication even though the warehouse was written."""
    finished = []

    def background():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        alongside(lambda: finished.append("warehouse"), background, discard=lambda _: None)
    assert finished == ["warehouse"]


def test_settle_hands_the_result_or_the_error_to_the_waiting_side():
    """The warehouse waits on the content hash the release side computes: it gets the value, or the same error."""
    decided: Future[str] = Future()
    assert settle(decided, lambda: "hash") == "hash"
    assert decided.result(timeout=1) == "hash"
    failed: Future[str] = Future()

    def broken() -> str:
        """A hash that fails."""
        raise ValueError("unreadable column")

    with pytest.raises(ValueError, match="unreadable column"):
        settle(failed, broken)
    with pytest.raises(ValueError, match="unreadable column"):
        failed.result(timeout=1)
