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

IN_PROCESS = "in_process"
DASK = "dask"
# dagster_dask's `cluster` config for the two cluster kinds this project documents; written out here so that
# `make run` does not import dask.distributed (~1 s) just to define the job. DaskExecutor is imported when used.
DASK_CONFIG = dg.Field(
    {
        "cluster": dg.Field(
            dg.Selector(
                {
                    "existing": dg.Field({"address": dg.StringSource}, description="Connect to a running scheduler."),
                    "local": dg.Field(
                        dg.Permissive(), is_required=False, description="distributed.LocalCluster's arguments."
                    ),
                }
            )
        )
    },
    description="Each step a task on a dask.distributed cluster (dagster-dask).",
)


def executor_requirements(executor_config):
    """Dask needs what every multi-process executor needs (a persistent instance, a reconstructable job)."""
    return multiple_process_executor_requirements() if DASK in executor_config else []


@dg.executor(
    name="in_process_or_dask",
    config_schema=dg.Field(
        dg.Selector({IN_PROCESS: IN_PROC_CONFIG, DASK: DASK_CONFIG}),
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
    # A local cluster without its web dashboard: nothing listens beyond the scheduler and workers on loopback.
    local = {"n_workers": workers, "host": "127.0.0.1", "dashboard_address": None}
    cluster = {"existing": {"address": scheduler}} if scheduler else {"local": local}
    return {"execution": {"config": {DASK: {"cluster": cluster}}}}
