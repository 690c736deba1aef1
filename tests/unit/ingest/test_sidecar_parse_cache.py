"""A sidecar's parsed document is kept by its exact bytes (a run reads each sidecar about five times): the same bytes
give an equal, independent copy; changed bytes are parsed again; a refused sidecar is refused every time, naming the
file it was read from. MADE-UP sidecars only."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.core.errors import InputError
from pipeline.ingest import sidecar
from pipeline.ingest.sidecar import read_sidecar_fields

TEXT = (
    "source_id: made_up\naccessed: 2024-05-01\nlabels:\n  农村居民人均可支配收入: rural_income\ncaveats: [one, two]\n"
)


def test_same_bytes_give_equal_documents_that_a_caller_cannot_change(tmp_path):
    path = tmp_path / "made_up.meta.yaml"
    path.write_text(TEXT, encoding="utf-8")
    first = read_sidecar_fields(path)
    assert first == {
        "source_id": "made_up",
        "accessed": dt.date(2024, 5, 1),
        "labels": {"农村居民人均可支配收入": "rural_income"},
        "caveats": ["one", "two"],
    }
    first["caveats"].append("changed by a caller")  # type: ignore[index]
    first["labels"]["other"] = "x"  # type: ignore[index]
    assert read_sidecar_fields(path) == {
        **first,
        "caveats": ["one", "two"],
        "labels": {"农村居民人均可支配收入": "rural_income"},
    }
    assert path.read_bytes() in sidecar.PARSED_SIDECARS


def test_changed_bytes_are_parsed_again(tmp_path):
    path = tmp_path / "made_up.meta.yaml"
    path.write_text(TEXT, encoding="utf-8")
    assert read_sidecar_fields(path)["source_id"] == "made_up"  # type: ignore[index]
    path.write_text(TEXT.replace("made_up", "made_up_too"), encoding="utf-8")
    assert read_sidecar_fields(path)["source_id"] == "made_up_too"  # type: ignore[index]


def test_a_refused_sidecar_is_refused_each_time_naming_its_own_file(tmp_path):
    text = "source_id: a\nsource_id: b\n"  # a duplicate key
    paths = [tmp_path / "one.meta.yaml", tmp_path / "two.meta.yaml"]
    for path in paths:
        path.write_text(text, encoding="utf-8")
    for path in [*paths, paths[0]]:
        with pytest.raises(InputError) as caught:
            read_sidecar_fields(path)
        assert caught.value.problems[0].file == str(path)
        assert caught.value.problems[0].rule == "sidecar_duplicate_key"
    assert text.encode() not in sidecar.PARSED_SIDECARS


def test_the_kept_documents_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(sidecar, "PARSED_SIDECARS", {})
    monkeypatch.setattr(sidecar, "MAX_PARSED_SIDECARS", 3)
    path = tmp_path / "made_up.meta.yaml"
    for number in range(5):
        path.write_text(f"source_id: made_up_{number}\n", encoding="utf-8")
        assert read_sidecar_fields(path) == {"source_id": f"made_up_{number}"}
    assert len(sidecar.PARSED_SIDECARS) == 3
    assert path.read_bytes() in sidecar.PARSED_SIDECARS
