"""The same job on Dagster's Dask executor: a dask.distributed cluster of two worker processes on loopback.

The real bundle is built once in process and once through the cluster (each step a task on a worker, outputs
handed over as Parquet / pickles in a folder both workers reach); both releases must have the same content hash.
"""

from __future__ import annotations

import logging
import os

import dagster as dg
import pytest

from pipeline.operate.runs import execute_on_dask
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import run_pipeline

pytestmark = pytest.mark.integration


def release_metadata(events) -> dict:
    """The release materialisation's metadata values of a run."""
    for event in events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key == dg.AssetKey("release"):
            metadata = event.step_materialization_data.materialization.metadata
            return {key: value.value for key, value in metadata.items()}
    raise AssertionError("the run cut no release")


def test_real_bundle_on_a_two_worker_dask_cluster_cuts_the_in_process_release(tmp_path, monkeypatch):
    """Two worker processes run the steps; the release's content hash equals the in-process run's."""
    distributed = pytest.importorskip("distributed")
    in_process = run_pipeline(REPO_ROOT / "raw", tmp_path / "in_process")
    assert in_process.success
    expected = release_metadata(in_process.all_events)["content_hash"]

    monkeypatch.setenv("PIPELINE_RAW_DIR", str(REPO_ROOT / "raw"))
    monkeypatch.setenv("PIPELINE_WAREHOUSE_DIR", str(tmp_path / "on_dask"))
    shared = tmp_path / "shared_io"  # the storage every worker reaches (an fsspec URL in production)
    monkeypatch.setenv("PIPELINE_IO_DIR", str(shared))
    logging.getLogger("distributed").setLevel(logging.ERROR)
    (tmp_path / "dagster_home").mkdir()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance,
    ):
        assert len(cluster.scheduler_info["workers"]) == 2
        result = execute_on_dask(instance, cluster.scheduler_address, workers=2)
        assert result.success, [event.message for event in result.all_events if event.is_failure]
        hosts = {
            entry.dagster_event.step_key: entry.dagster_event.pid
            for entry in instance.all_logs(result.run_id)
            if entry.dagster_event is not None and entry.dagster_event.event_type_value == "STEP_START"
        }
    released = release_metadata(result.all_events)
    assert released["content_hash"] == expected
    assert released["path"].startswith(str(tmp_path / "on_dask"))
    # The steps ran in both worker processes, not in this one, and handed their outputs over as files.
    assert len(set(hosts.values())) == 2 and os.getpid() not in hosts.values()
    assert (shared / "observations").read_bytes()[:4] == b"PAR1"
