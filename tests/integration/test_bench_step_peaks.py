"""bench's per-step peak RSS: sampled process-tree memory attributed to the steps of made-up run events."""

from __future__ import annotations

from types import SimpleNamespace

from bench.pipeline_job import step_intervals, step_peak_rss_mb

MB = 2**20


def entry(timestamp: float, event_type: str | None, step_key: str = "") -> SimpleNamespace:
    """A made-up event log entry: its time and (unless None) a Dagster event of that type for that step."""
    event = None if event_type is None else SimpleNamespace(event_type_value=event_type, step_key=step_key)
    return SimpleNamespace(timestamp=timestamp, dagster_event=event)


# Made-up run: `read` 10–14 s, `validate` 14–15 s (fails), `publish` 15.02–15.05 s (between two samples),
# `never_done` starts and never ends; a log line without an event in between.
EVENTS = [
    entry(10.0, "STEP_START", "read"),
    entry(11.0, None),
    entry(14.0, "STEP_SUCCESS", "read"),
    entry(14.0, "STEP_START", "validate"),
    entry(15.0, "STEP_FAILURE", "validate"),
    entry(15.02, "STEP_START", "publish"),
    entry(15.05, "STEP_SUCCESS", "publish"),
    entry(15.1, "STEP_START", "never_done"),
]


def test_step_intervals_pair_each_start_with_its_end():
    """Successes and failures end a step; a step still running has no interval; other entries are ignored."""
    assert step_intervals(EVENTS) == {"read": (10.0, 14.0), "validate": (14.0, 15.0), "publish": (15.02, 15.05)}


def test_each_step_gets_the_peak_sampled_while_it_ran():
    """The largest sample inside a step's interval is its peak; samples outside it do not count."""
    samples = [(9.0, 900 * MB), (10.5, 100 * MB), (12.0, 300 * MB), (13.9, 200 * MB), (14.5, 250 * MB)]
    samples += [(15.2, 120 * MB)]
    peaks = step_peak_rss_mb(samples, step_intervals(EVENTS))
    # publish (30 ms) holds no sample: it gets the first one after its end. Largest first.
    assert peaks == {"read": 300.0, "validate": 250.0, "publish": 120.0}
    assert list(peaks) == ["read", "validate", "publish"]


def test_unordered_samples_and_overlapping_steps():
    """Samples need not be in time order; a sample counts for every step running at its time (a Dask run)."""
    intervals = {"left": (0.0, 10.0), "right": (5.0, 20.0)}
    samples = [(12.0, 50 * MB), (7.0, 400 * MB), (1.0, 80 * MB)]
    assert step_peak_rss_mb(samples, intervals) == {"left": 400.0, "right": 400.0}
    # A step after the last sample (the run ended first) is left out rather than given a made-up figure.
    assert step_peak_rss_mb(samples, {"late": (30.0, 31.0)}) == {}
    assert step_peak_rss_mb([], intervals) == {}
