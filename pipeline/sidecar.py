"""Provenance sidecars (`<table>.meta.yaml`): their schema, loading, and the sha256 check of the data file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import InputError, InputProblem

SIDECAR_SUFFIX = ".meta.yaml"

# Field → what it must hold. Every field is required; `url` may be null only with a `url_note` saying why.
SIDECAR_FIELDS = {
    "source_id": "the table's identifier, equal to the data file's stem",
    "title": "the table or release title as published",
    "publication": "the publication it appears in (yearbook, bulletin, release)",
    "publisher": "the publishing body",
    "table_number": "the table number, or 'release text' / 'article text'",
    "edition": "the edition or release date",
    "url": "where the figures were read (null only with url_note)",
    "url_kind": "official | mirror | news | compilation | self_media",
    "authority": "official | mirror_of_official | news_report | third_party_compilation | low_confidence",
    "accessed": "the date the figures were read (YYYY-MM-DD)",
    "licence": "the terms the figures are reproduced under",
    "file": "the data file's name, in the same folder as the sidecar",
    "sha256": "the sha256 of the data file",
    "encoding": "the data file's text encoding (utf-8, utf-8-sig, gb18030)",
    "unit": "the unit as printed (a key of pipeline/metadata/units.csv)",
    "multiplier": "the multiplier from the printed unit into the canonical unit",
    "layout": "how to read the table (kind wide|long and its columns)",
    "labels": "printed row labels → indicator codes",
    "caveats": "a list of caveats (may be empty)",
}
URL_KINDS = {"official", "mirror", "news", "compilation", "self_media"}
# Lower rank = preferred when two sources publish the same figure.
AUTHORITY_RANK = {
    "official": 1,
    "mirror_of_official": 2,
    "news_report": 3,
    "third_party_compilation": 4,
    "low_confidence": 5,
}
LAYOUT_KINDS = {"wide", "long"}


@dataclass(frozen=True)
class Sidecar:
    """A validated provenance sidecar and the absolute path of the data file it describes."""

    path: Path
    data_path: Path
    fields: dict = field(repr=False)

    @property
    def source_id(self) -> str:
        """The table's identifier."""
        return self.fields["source_id"]

    @property
    def layout(self) -> dict:
        """The layout block: kind and the names of the columns to read."""
        return self.fields["layout"]

    @property
    def labels(self) -> dict[str, str]:
        """Printed row labels → indicator codes."""
        return self.fields["labels"]


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_paths(raw_dir: Path) -> list[Path]:
    """Every sidecar in a raw folder (recursively), in a stable order."""
    return sorted(raw_dir.rglob(f"*{SIDECAR_SUFFIX}"))


def load_sidecar(path: Path, raw_dir: Path, check_hash: bool = True) -> Sidecar:
    """Read and validate one sidecar; raise InputError naming the sidecar and every broken rule."""
    name = str(path)
    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError([InputProblem(name, "sidecar_yaml", f"not readable YAML: {error}")]) from error
    if not isinstance(fields, dict):
        raise InputError([InputProblem(name, "sidecar_yaml", "the sidecar is not a YAML mapping")])

    problems = [
        InputProblem(name, "sidecar_required_field", f"missing required field {key!r}", expected=meaning)
        for key, meaning in SIDECAR_FIELDS.items()
        if key not in fields or (fields[key] is None and key != "url") or fields[key] == ""
    ]
    if "url" in fields and fields["url"] is None and not fields.get("url_note"):
        problems.append(
            InputProblem(
                name, "sidecar_url", "url is null without a url_note", expected="a URL, or url_note saying why none"
            )
        )
    if problems:
        raise InputError(problems)

    if fields["url_kind"] not in URL_KINDS:
        problems.append(
            InputProblem(
                name,
                "sidecar_url_kind",
                f"unknown url_kind {fields['url_kind']!r}",
                expected=" | ".join(sorted(URL_KINDS)),
            )
        )
    if fields["authority"] not in AUTHORITY_RANK:
        problems.append(
            InputProblem(
                name,
                "sidecar_authority",
                f"unknown authority {fields['authority']!r}",
                expected=" | ".join(AUTHORITY_RANK),
            )
        )
    if not isinstance(fields["layout"], dict) or fields["layout"].get("kind") not in LAYOUT_KINDS:
        problems.append(
            InputProblem(
                name, "sidecar_layout", "layout.kind must be wide or long", expected="layout: {kind: wide|long, ...}"
            )
        )
    if not isinstance(fields["labels"], dict) or not fields["labels"]:
        problems.append(InputProblem(name, "sidecar_labels", "labels must map printed labels to indicator codes"))
    if not isinstance(fields["caveats"], list):
        problems.append(InputProblem(name, "sidecar_caveats", "caveats must be a list"))
    if path.name != f"{fields['source_id']}{SIDECAR_SUFFIX}":
        problems.append(
            InputProblem(
                name,
                "sidecar_source_id",
                f"source_id {fields['source_id']!r} does not match the sidecar's name",
                expected=f"{path.name.removesuffix(SIDECAR_SUFFIX)}",
            )
        )

    data_path = (path.parent / str(fields["file"])).resolve()
    raw_root = raw_dir.resolve()
    if not data_path.is_relative_to(raw_root) or data_path.parent != path.parent.resolve():
        problems.append(
            InputProblem(
                name,
                "sidecar_file_path",
                f"file {fields['file']!r} is outside the sidecar's folder in raw/",
                expected="a file name beside the sidecar",
            )
        )
    elif not data_path.is_file():
        problems.append(InputProblem(name, "sidecar_file_missing", f"data file {fields['file']!r} does not exist"))
    if problems:
        raise InputError(problems)

    if check_hash:
        actual = sha256_of(data_path)
        if actual != str(fields["sha256"]).lower():
            raise InputError(
                [
                    InputProblem(
                        str(data_path),
                        "sha256_mismatch",
                        f"the file's sha256 is {actual}, the sidecar {path.name} declares {fields['sha256']}",
                        expected="the file exactly as published; if it was deliberately replaced, update the sidecar (python -m pipeline rehash)",
                    )
                ]
            )
    return Sidecar(path=path, data_path=data_path, fields=fields)


def rehash_sidecar(path: Path) -> str:
    """Write the data file's current sha256 into a sidecar, keeping its other text unchanged."""
    text = path.read_text(encoding="utf-8")
    fields = yaml.safe_load(text)
    digest = sha256_of(path.parent / fields["file"])
    lines = [f'sha256: "{digest}"' if line.startswith("sha256:") else line for line in text.splitlines()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return digest
