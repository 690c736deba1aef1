"""The job's executor: in process (the default, `make run`), or Dagster's Dask executor on a dask.distributed cluster.

One job, one set of assets: run config `execution: {config: {dask: {cluster: {existing: {address: tcp://…}}}}}`
(or `local: {n_workers: 2, …}`, the LocalCluster's arguments) sends every step to the cluster's workers, which
rebuild the same job (pipeline.definitions.build_everything_for) and hand outputs over through the I/O manager's
shared storage (pipeline.defs.storage). Without `execution` config, every step runs in the launching process.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    _core_in_process_executor_creation,
    multiple_process_executor_requirements,
)
from dagster_dask import dask_executor

IN_PROCESS = "in_process"
DASK = "dask"


def executor_requirements(executor_config):
    """Dask needs what every multi-process executor needs (a persistent instance, a reconstructable job)."""
    return multiple_process_executor_requirements() if DASK in executor_config else []


@dg.executor(
    name="in_process_or_dask",
    config_schema=dg.Field(
        dg.Selector({IN_PROCESS: IN_PROC_CONFIG, DASK: dask_executor.config_schema.as_field()}),
        default_value={IN_PROCESS: {}},
    ),
    requirements=executor_requirements,
)
def in_process_or_dask_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Every step in this process (default), or each step a task on a dask.distributed cluster (`dask:` config)."""
    if DASK in init_context.executor_config:
        from dagster_dask.executor import DaskExecutor

        ((cluster_type, cluster_configuration),) = init_context.executor_config[DASK]["cluster"].items()
        return DaskExecutor(cluster_type, cluster_configuration)
    return _core_in_process_executor_creation(init_context.executor_config[IN_PROCESS])


def dask_run_config(scheduler: str | None = None, workers: int = 2) -> dict:
    """The run config that sends the job to a running scheduler (tcp://host:port), or to a local cluster of workers."""
    cluster = {"existing": {"address": scheduler}} if scheduler else {"local": {"n_workers": workers}}
    return {"execution": {"config": {DASK: {"cluster": cluster}}}}
