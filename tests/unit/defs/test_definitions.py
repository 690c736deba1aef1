"""Layer 1: the Dagster definitions load, and every asset is documented and grouped."""

import dagster as dg

from pipeline.definitions import defs


def test_definitions_load_with_job_and_resources():
    repository = defs.get_repository_def()
    job = defs.resolve_job_def("build_everything")
    assert job is not None
    asset_keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {
        "regions",
        "sources",
        "indicator_catalog",
        "staged_observations",
        "observations",
        "indicators",
        "warehouse",
        "release",
    } <= asset_keys


def test_every_asset_has_a_group_and_a_one_line_description():
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for key in assets_def.keys:
            spec = assets_def.specs_by_key[key]
            assert spec.group_name and spec.group_name != "default", key
            assert spec.description and "\n" not in spec.description.strip(), key


def test_blocking_checks_guard_observations_and_indicators():
    graph = defs.resolve_asset_graph()
    checks = {
        key.name: checks_def.get_spec_for_check_key(key)
        for checks_def in graph.assets_defs
        for key in checks_def.check_keys
    }
    for name in (
        "observations_schema",
        "indicators_schema",
        "urban_rural_income_ratio_reconciles",
        "urban_rural_consumption_ratio_reconciles",
    ):
        assert name in checks, name
        assert checks[name].blocking, name
    assert isinstance(checks["observations_schema"], dg.AssetCheckSpec)
