"""The same job on Dagster's Dask executor: a dask.distributed cluster of two worker processes on loopback.

The real bundle, and a small synthetic panel (bench/generate.py: made-up figures, not data), are each built once in
process and once through the cluster (each step a task on a worker, outputs handed over as Parquet / pickles in a
folder both workers reach); both releases must have the same content hash.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg
import pytest

from bench.generate import generate_panel
from bench.pipeline_cli import command_environment
from pipeline import definitions
from pipeline.defs.resources import ProjectPaths
from pipeline.operate.runs import execute_on_dask
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import run_pipeline

pytestmark = pytest.mark.integration

# 52 made-up villages × 30 indicators × 20 years (one raw table), as tests/integration/test_bench.py's panel.
SYNTHETIC_SCALE = 0.002


def release_metadata(events) -> dict:
    """The release materialisation's metadata values of a run."""
    for event in events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key == dg.AssetKey("release"):
            metadata = event.step_materialization_data.materialization.metadata
            return {key: value.value for key, value in metadata.items()}
    raise AssertionError("the run cut no release")


def run_on_two_workers(tmp_path: Path, monkeypatch, environment: dict[str, str]) -> tuple[dict, dict[str, int]]:
    """The job through a two-worker loopback cluster with these folders; the release metadata and each step's pid."""
    distributed = pytest.importorskip("distributed")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # The storage every worker reaches (an fsspec URL in production): the ColumnarIOManager's base_dir.
    monkeypatch.setenv("PIPELINE_IO_DIR", str(tmp_path / "shared_io"))
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
    return release_metadata(result.all_events), hosts


def assert_spread_over_two_workers(hosts: dict[str, int], shared: Path) -> None:
    """The steps ran in both worker processes, not in this one, and handed their outputs over as files."""
    assert len(set(hosts.values())) == 2, hosts
    assert os.getpid() not in hosts.values()
    assert (shared / "observations").read_bytes()[:4] == b"PAR1"
    assert (shared / "dispersion").read_bytes()[:4] == b"PAR1"


def test_real_bundle_on_a_two_worker_dask_cluster_cuts_the_in_process_release(tmp_path, monkeypatch):
    """Two worker processes run the steps; the release's content hash equals the in-process run's."""
    pytest.importorskip("distributed")
    in_process = run_pipeline(REPO_ROOT / "raw", tmp_path / "in_process")
    assert in_process.success
    expected = release_metadata(in_process.all_events)["content_hash"]

    released, hosts = run_on_two_workers(
        tmp_path,
        monkeypatch,
        {"PIPELINE_RAW_DIR": str(REPO_ROOT / "raw"), "PIPELINE_WAREHOUSE_DIR": str(tmp_path / "on_dask")},
    )
    assert released["content_hash"] == expected
    assert released["path"].startswith(str(tmp_path / "on_dask"))
    assert_spread_over_two_workers(hosts, tmp_path / "shared_io")


def test_synthetic_panel_on_a_two_worker_dask_cluster_cuts_the_in_process_release(tmp_path, monkeypatch):
    """A made-up province (bench/generate.py) through the cluster: the in-process release's hash, steps on both workers."""
    pytest.importorskip("distributed")
    panel = generate_panel(tmp_path / "panel" / "raw", SYNTHETIC_SCALE)
    environment = command_environment(panel.raw_dir, panel.regions, tmp_path / "folders")
    paths = ProjectPaths(
        raw_dir=environment["PIPELINE_RAW_DIR"],
        warehouse_dir=str(tmp_path / "in_process"),
        metadata_dir=environment["PIPELINE_METADATA_DIR"],
    )
    in_process = definitions.build_definitions(paths).resolve_job_def("build_everything").execute_in_process()
    expected = release_metadata(in_process.all_events)
    assert expected["content_hash"]

    released, hosts = run_on_two_workers(tmp_path, monkeypatch, environment)
    assert released["content_hash"] == expected["content_hash"]
    assert released["path"].startswith(environment["PIPELINE_WAREHOUSE_DIR"])
    assert_spread_over_two_workers(hosts, tmp_path / "shared_io")
