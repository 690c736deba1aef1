"""Running notebooks/analyst_quickstart.ipynb against a warehouse, as an analyst would (a real kernel)."""

from __future__ import annotations

from pathlib import Path

from tests.support.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "analyst_quickstart.ipynb"


def executed_notebook_images(warehouse_file: Path, work_dir: Path, monkeypatch) -> list[dict]:
    """Execute the notebook on the warehouse file; fail on any error output; its image outputs."""
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("INDICATORS_WAREHOUSE", str(warehouse_file))
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work_dir)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    errors = [f"{output.ename}: {output.evalue}" for output in outputs if output.output_type == "error"]
    assert errors == []
    return [output for output in outputs if "image/png" in output.get("data", {})]
