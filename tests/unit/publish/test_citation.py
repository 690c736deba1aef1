"""CITATION.cff, LICENSE and the release's licences agree with pipeline/metadata/dataset.yaml and validate."""

from __future__ import annotations

import json
import tomllib

import jsonschema
import pytest
import yaml

from pipeline.core.metadata import dataset_url, load_dataset_metadata
from pipeline.core.paths import PROJECT_ROOT
from pipeline.publish.documents.card import citation_lines, data_licence_lines
from pipeline.publish.documents.report import citation_block
from pipeline.publish.release.write import (
    RELEASE_DATE_PLACEHOLDER,
    RELEASE_VERSION_PLACEHOLDER,
    package_licenses,
    release_date,
    resource_licenses,
)

SCHEMA_FILE = PROJECT_ROOT / "tests" / "support" / "schemas" / "citation_file_format_1.2.0.schema.json"


def citation_file() -> dict:
    """CITATION.cff as validated: YAML dates cast to text, as the CFF schema asks of tools."""
    fields = yaml.safe_load((PROJECT_ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    return json.loads(json.dumps(fields, default=str))


def cff_validator() -> jsonschema.Draft7Validator:
    """A validator of the official CFF 1.2.0 JSON schema (vendored copy, see tests/support/schemas/README.md)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_citation_file_is_valid_cff_1_2_0():
    cff_validator().validate(citation_file())
    assert citation_file()["cff-version"] == "1.2.0"


@pytest.mark.parametrize(
    ("corruption", "path"),
    [
        (lambda cff: cff.pop("authors"), "authors"),
        (lambda cff: cff.update({"cff-version": "1.1.0"}), "cff-version"),
        (lambda cff: cff.update({"license": "CC-BY-4"}), "license"),
        (lambda cff: cff.update({"licence": "MIT"}), "licence"),
    ],
)
def test_the_schema_rejects_a_corrupted_citation_file(corruption, path):
    cff = citation_file()
    corruption(cff)
    errors = list(cff_validator().iter_errors(cff))
    assert errors and any(path in (str(error.message) + " ".join(map(str, error.path))) for error in errors)


def test_citation_file_agrees_with_the_dataset_metadata():
    cff, dataset = citation_file(), load_dataset_metadata()
    assert cff["title"] == dataset["title"]
    assert [author["name"] for author in cff["authors"]] == [dataset["compiler"]]
    assert cff["license"] == dataset["data_licence"]["name"]
    assert " ".join(cff["abstract"].split()) == " ".join(dataset["abstract"].split())
    assert cff["keywords"] == dataset["keywords"]
    assert cff.get("url") == dataset.get("url")  # both absent until the dataset is deposited


def test_code_licence_file_matches_pyproject():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dataset = load_dataset_metadata()
    assert pyproject["project"]["license"] == dataset["code_licence"] == "MIT"
    assert (PROJECT_ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_datapackage_licences_name_the_data_licence_and_the_sources_terms():
    licence = load_dataset_metadata()["data_licence"]
    names = [entry.get("name") for entry in package_licenses()]
    assert names[0] == licence["name"] == "CC-BY-4.0" and "various" not in names
    assert all(entry.get("name") or entry.get("path") for entry in package_licenses())  # the spec's rule
    assert [entry.get("name") for entry in resource_licenses("dispersion")] == ["CC-BY-4.0"]
    observations = resource_licenses("observations")
    assert observations[0]["name"] == "CC-BY-4.0" and "source" in observations[1]["title"]


def test_how_to_cite_gives_compiler_title_version_date_and_url():
    dataset = load_dataset_metadata()
    for text in ("\n".join(citation_lines()), "\n".join(citation_block())):
        for part in (dataset["compiler"], RELEASE_VERSION_PLACEHOLDER, RELEASE_DATE_PLACEHOLDER, dataset_url(dataset)):
            assert part in text
        assert dataset["title"] in text
    assert "CC-BY-4.0" in "\n".join(data_licence_lines()) and "CC-BY-4.0" in "\n".join(citation_block())
    assert release_date("2026.11.28.2") == "2026-11-28"
