"""Running the real Dagster job against tmp_path folders, for the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline import definitions
from pipeline.defs.resources import ProjectPaths


def run_pipeline(raw_dir: Path, warehouse_dir: Path) -> dg.ExecuteInProcessResult:
    """Execute the `build_everything` job, exactly as `make run` does, on the given folders."""
    defs = definitions.build_definitions(ProjectPaths(raw_dir=str(raw_dir), warehouse_dir=str(warehouse_dir)))
    return defs.resolve_job_def("build_everything").execute_in_process(raise_on_error=False)


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Failed asset checks of a run: check name → description."""
    return {
        evaluation.check_name: evaluation.description or ""
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    }


def step_failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """All step failure messages of a run, with their causes, as one text."""
    texts = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None:
                texts.append(error.message)
                error = error.cause
    return "\n".join(texts)
