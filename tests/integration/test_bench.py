"""The benchmark at a tiny scale: the synthetic generator, the pipeline's stages and both references agree (no timing asserted)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import yaml

from bench import duckdb_floor, pandas_reference, pipeline_stages
from bench.generate import PROVINCE_CODE, SYNTHETIC_CAVEAT, generate_panel, synthetic_regions
from bench.run import STAGE_ORDER, benchmark, timed_process
from pipeline.validate.schemas import RegionSchema
from tests.support.paths import REPO_ROOT

# 30 indicators × 20 years per village, less the 8 years before 2013 of the 2 rural disposable-income series the
# panel fills (left blank: they exist from the 2013 survey reform on, pipeline/metadata/series_breaks.yaml).
FIGURES_PER_VILLAGE = 30 * 20 - 2 * 8

SCALE = 0.002


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A synthetic panel at SCALE=0.002 (52 villages × 30 indicators × 20 years)."""
    return generate_panel(tmp_path_factory.mktemp("bench") / "raw", SCALE)


def test_synthetic_regions_form_a_valid_tree():
    """Codes pass the region schema, every parent exists, and levels nest province → city → county → town → village."""
    regions = synthetic_regions(0.01)
    assert_valid_tree(regions)
    assert (regions["level"] == "village").sum() == 260


def test_national_scale_regions_form_a_valid_tree():
    """SCALE=23 (~600,000 villages, China's count): more synthetic cities, every code keeps its GB/T width."""
    regions = synthetic_regions(23)
    assert_valid_tree(regions)
    counts = regions["level"].value_counts()
    assert counts["village"] == 598_000 and counts["town"] == 36_800 and counts["county"] == 2_806
    assert counts["prefecture_city"] == 99
    widths = regions.groupby("level")["region_code"].agg(lambda codes: set(codes.str.len()))
    assert widths.to_dict() == {
        "province": {6},
        "prefecture_city": {6},
        "county": {6},
        "town": {9},
        "village": {12},
    }
    # Each code extends its parent's: a town or village code is its parent's plus three digits, a county's six
    # digits are its city's first four plus two.
    for level, own, parents in (("village", -3, None), ("town", -3, None), ("county", 4, 4)):
        rows = regions[regions["level"] == level]
        parent_part = rows["parent_code"] if parents is None else rows["parent_code"].str[:parents]
        assert (rows["region_code"].str[:own] == parent_part).all(), level


def test_scale_beyond_the_code_widths_is_refused():
    """A scale whose counties per city would need three digits fails with a message instead of malformed codes."""
    with pytest.raises(ValueError, match="counties per city would exceed 99"):
        synthetic_regions(100)


def assert_valid_tree(regions: pd.DataFrame) -> None:
    """Region schema passes, parents exist, levels nest province → city → county → town → village, codes are 99…"""
    RegionSchema.validate(regions)  # codes unique and GB/T-shaped
    children = regions.dropna(subset=["parent_code"])
    # A merge, not isin: isin over ~600,000 pandas strings takes seconds.
    linked = children[["parent_code", "level"]].merge(
        regions[["region_code", "level"]], left_on="parent_code", right_on="region_code", suffixes=("", "_parent")
    )
    assert len(linked) == len(children), "a parent_code that is no region"
    pairs = set(linked[["level_parent", "level"]].drop_duplicates().itertuples(index=False, name=None))
    assert pairs == {
        ("province", "prefecture_city"),
        ("prefecture_city", "county"),
        ("county", "town"),
        ("town", "village"),
    }
    assert regions["region_code"].str.startswith(PROVINCE_CODE[:2]).all()


def test_generated_tables_are_labelled_synthetic_and_outside_raw(panel):
    """Each table has a sidecar with its sha256 and the synthetic caveat; nothing is written to the repository's raw/."""
    sidecars = sorted(panel.raw_dir.glob("*.meta.yaml"))
    assert len(sidecars) == panel.tables >= 1
    for path in sidecars:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert fields["caveats"] == [SYNTHETIC_CAVEAT]
        assert "SYNTHETIC" in fields["title"]
    assert REPO_ROOT / "raw" not in panel.raw_dir.parents


def test_parallel_read_stages_the_same_observations(tmp_path):
    """Staging the raw tables in a process per core (--parallel-read) gives the serial read's table and checks."""
    panel = generate_panel(tmp_path / "raw", 0.0125)  # two synthetic cities: two tables
    assert panel.tables == 2
    serial = pipeline_stages.run_stages(panel.raw_dir, panel.regions, tmp_path / "serial", derived=False)
    parallel = pipeline_stages.run_stages(
        panel.raw_dir, panel.regions, tmp_path / "parallel", derived=False, parallel_read=True
    )
    assert serial["read_workers"] == 1 and parallel["read_workers"] == min(2, os.cpu_count() or 1)
    assert parallel["counts"] == serial["counts"] == {"staged_observations": panel.observations}
    assert all(parallel["checks"].values()) and all(serial["checks"].values())
    # prepare_release leaves each release in its temporary folder (publish_tables would commit it).
    released = [
        pd.read_parquet(next((tmp_path / run / "releases").glob("*/observations.parquet")))
        for run in ("serial", "parallel")
    ]
    pd.testing.assert_frame_equal(*released)


def test_pipeline_stages_and_references_agree(panel, tmp_path):
    """The pipeline's stages pass their checks and stage every figure; pandas and DuckDB find the same counts and no problems."""
    regions = panel.regions
    pipeline = pipeline_stages.run_stages(panel.raw_dir, regions, tmp_path / "pipeline")
    assert pipeline["counts"]["staged_observations"] == panel.observations == 52 * FIGURES_PER_VILLAGE
    assert all(pipeline["checks"].values()), pipeline["checks"]
    # The blocking checks of the job's staged_observations and observations assets, all replayed.
    assert set(pipeline["checks"]) == {
        "staged_observations_schema",
        "observations_schema",
        "observations_parts_within_totals",
        "observations_ratio_inputs_in_range",
    }
    # The stages the script timed are the ones bench.run's memory guard expects, in its order.
    assert list(pipeline["stages"]) == STAGE_ORDER["bench.pipeline_stages"]
    assert (tmp_path / "pipeline" / "indicators.duckdb").is_file()
    references = []
    for module in (pandas_reference, duckdb_floor):
        output = tmp_path / module.__name__
        output.mkdir()
        result = module.run(panel.raw_dir, regions, output)
        assert result["counts"]["observations"] == panel.observations
        assert not any(result["problems"].values()), result["problems"]
        references.append(pd.read_parquet(output / "dispersion.parquet"))
    pandas_dispersion, duckdb_dispersion = (
        frame.sort_values(["indicator_code", "parent_region_code", "year"]).reset_index(drop=True)
        for frame in references
    )
    assert len(pandas_dispersion) == len(duckdb_dispersion) > 0
    for measure in ("cv", "theil", "gini", "max_min_ratio"):
        assert pandas_dispersion[measure].to_numpy() == pytest.approx(duckdb_dispersion[measure].to_numpy(), rel=1e-9)


def test_bad_synthetic_cell_is_reported_by_file_row_and_column(panel, tmp_path):
    """The benchmark exercises the real reader: a corrupted figure fails with file, row, column and rule."""
    from pipeline.core.errors import InputError

    broken = tmp_path / "raw"
    broken.mkdir()
    source = sorted(panel.raw_dir.glob("*.csv"))[0]
    lines = source.read_text(encoding="utf-8").splitlines()
    cells = lines[2].split(",")
    cells[5] = "12x3"
    lines[2] = ",".join(cells)
    (broken / source.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    sidecar = yaml.safe_load(source.with_name(source.name.replace(".csv", ".meta.yaml")).read_text(encoding="utf-8"))
    from pipeline.core.hashing import sha256_of

    sidecar["sha256"] = sha256_of(broken / source.name)
    from tests.support.tables import write_sidecar_fields

    write_sidecar_fields(broken / f"{sidecar['source_id']}.meta.yaml", sidecar)
    with pytest.raises(InputError) as error:
        pipeline_stages.run_stages(broken, panel.regions, tmp_path / "out")
    message = str(error.value)
    assert source.name in message and "row 3" in message and "2007" in message


@pytest.mark.integration
def test_benchmark_writes_results_with_the_required_keys(tmp_path):
    """`make bench SCALE=0.001` end to end: `python -m pipeline run` on the panel, both references, the required keys."""
    result = benchmark(0.001, results_dir=tmp_path)
    files = list(tmp_path.glob("bench_*_scale_0.001.json"))
    assert len(files) == 1
    written = json.loads(files[0].read_text())
    for key in (
        "scale",
        "observations",
        "job_wall_s",
        "job_peak_rss_mb",
        "floor_wall_s",
        "floor_peak_rss_mb",
        "baseline_wall_s",
        "stages",
        "machine",
        "git_commit",
    ):
        assert written[key] is not None, key
    assert written == json.loads(json.dumps(result))
    assert written["observations"] == 26 * FIGURES_PER_VILLAGE
    assert set(written["stages"]) == {"job", "pandas", "duckdb"}
    assert written["job_wall_s"] > 0 and written["job_peak_rss_mb"] > 0
    # The command line ran the real job on the synthetic panel (its folders from the environment), every step
    # passed, and the stages come from the run's events in its scratch instance.
    job = written["runs"]["job"]
    assert written["job_success"] is True, (job.get("failed_steps"), job.get("error"))
    assert job["command"] == "python -m pipeline run"
    assert job["stages"]["read_and_stage"] > 0 and job["stages"]["warehouse_and_release"] > 0
    assert any(
        line.startswith("rows:") and f"observations {26 * FIGURES_PER_VILLAGE}" in line for line in job["summary"]
    )
    # Each listed step's peak is the sampled process tree's while it ran: positive, at most the run's peak.
    peaks = job["step_peak_rss_mb"]
    # Every step gets a sample (inside it, or the first after it) but one the run ends before the next poll.
    assert "observations" in peaks and len(peaks) >= job["step_count"] - 1, peaks
    assert all(0 < megabytes <= job["peak_rss_mb"] for megabytes in peaks.values()), peaks
    assert list(peaks.values()) == sorted(peaks.values(), reverse=True)


def test_project_paths_metadata_dir_feeds_the_ingest_assets(tmp_path):
    """A copy of pipeline/metadata with the synthetic regions: the regions asset and a staged table use it."""
    import shutil

    from bench.pipeline_job import write_regions_csv
    from pipeline.core.metadata import load_regions
    from pipeline.core.paths import PACKAGE_METADATA_DIR
    from pipeline.defs import ingest
    from pipeline.defs.resources import ProjectPaths

    panel = generate_panel(tmp_path / "raw", 0.001)
    metadata_dir = tmp_path / "metadata"
    shutil.copytree(PACKAGE_METADATA_DIR, metadata_dir)
    write_regions_csv(pd.concat([load_regions(), panel.regions], ignore_index=True), metadata_dir / "regions.csv")
    paths = ProjectPaths(
        raw_dir=str(panel.raw_dir), warehouse_dir=str(tmp_path / "out"), metadata_dir=str(metadata_dir)
    )
    regions = ingest.regions(project_paths=paths).value
    assert len(regions) == len(load_regions()) + len(panel.regions)
    RegionSchema.validate(regions)
    source_id = sorted(path.name.removesuffix(".meta.yaml") for path in panel.raw_dir.glob("*.meta.yaml"))[0]
    staged = ingest.staged_table_asset(source_id)(project_paths=paths).value
    assert staged["region_code"].str.startswith("99").all() and len(staged) > 0
    with pytest.raises(Exception, match="not in regions.csv"):
        ingest.staged_table_asset(source_id)(project_paths=ProjectPaths(raw_dir=str(panel.raw_dir)))


MEMORY_HOG = """
import sys, time

print("stage read_and_stage 0.1s", file=sys.stderr, flush=True)
blocks = []
for _ in range(40):  # at most 1 GB: if the guard does not kill it, the script ends and the test fails
    blocks.append(b"x" * (25 * 2**20))
    time.sleep(0.05)
print("{}")
"""


def test_memory_guard_kills_a_script_above_the_limit_and_records_where(tmp_path, monkeypatch):
    """A script whose RSS passes the limit is killed; its result has the error, time, peak RSS and last stage."""
    (tmp_path / "memory_hog.py").write_text(MEMORY_HOG, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{REPO_ROOT}")
    result = timed_process("memory_hog", [], tmp_path, tmp_path / "regions.parquet", memory_limit_gb=0.2)
    assert result["error"] == "killed: RSS above 0.2 GB"
    assert result["wall_s"] is None and result["killed_after_s"] > 0
    assert 0.2 * 1024 < result["peak_rss_mb"] < 1024
    assert result["stages_finished"] == {"read_and_stage": 0.1}
    assert result["last_stage_finished"] == "read_and_stage"


def test_benchmark_records_a_killed_script_and_reuses_a_kept_panel(tmp_path):
    """At SCALE=0.001 with a 50 MB limit the pipeline is killed (recorded, not raised); the kept panel is reused."""
    panel_dir = tmp_path / "panel"
    first = benchmark(
        0.001, results_dir=tmp_path / "results", only=["pipeline"], memory_limit_gb=0.05, panel_dir=panel_dir
    )
    run = first["runs"]["pipeline"]
    assert run["error"] == "killed: RSS above 0.05 GB"
    assert (
        first["stage_script_wall_s"] is None
        and run["killed_during"] == "read_and_stage"
        and run["last_stage_finished"] is None
    )
    assert first["panel"]["reused"] is False and (panel_dir / "panel.json").is_file()
    tables = sorted(path.name for path in (panel_dir / "raw").iterdir())
    second = benchmark(
        0.001, results_dir=tmp_path / "results", only=["pipeline"], memory_limit_gb=0.05, panel_dir=panel_dir
    )
    assert second["panel"]["reused"] is True
    assert second["observations"] == first["observations"] == 26 * FIGURES_PER_VILLAGE
    assert sorted(path.name for path in (panel_dir / "raw").iterdir()) == tables
    assert len(list((tmp_path / "results").glob("bench_*_scale_0.001.json"))) >= 1
    with pytest.raises(ValueError, match="not 0.002"):
        benchmark(0.002, results_dir=tmp_path / "results", only=["pipeline"], panel_dir=panel_dir)
    (panel_dir / "panel.json").unlink()  # as after an interrupted generation: the tables are not trusted
    with pytest.raises(ValueError, match="no panel.json"):
        benchmark(0.001, results_dir=tmp_path / "results", only=["pipeline"], panel_dir=panel_dir)
