"""The README's table of asset groups lists exactly the groups and assets of the loaded definitions."""

import re

from pipeline.definitions import defs
from tests.support.paths import REPO_ROOT

TABLE_HEADING = "## How the pipeline is organised"


def readme_groups() -> dict[str, set[str]]:
    """Group → asset names from the README table (per-table keys written `prefix/<id>`)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(TABLE_HEADING) :]
    groups = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("group", "---"):
            groups[cells[0]] = set(re.findall(r"`([^`]+)`", cells[1])) - {"publication"}
    return groups


def definition_groups() -> dict[str, set[str]]:
    """Group → asset names of the definitions, per-table keys as `prefix/<id>`."""
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        name = key.path[0] if len(key.path) == 1 else f"{key.path[0]}/<id>"
        groups.setdefault(graph.get(key).group_name, set()).add(name)
    return groups


def test_the_readme_lists_every_group_and_asset_of_the_definitions():
    assert readme_groups() == definition_groups()
