"""The repository's folders as the tests see them, computed once here (the test modules sit at different depths)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).parent.parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
FIXTURE_RAW = FIXTURES / "raw"
FIXTURE_TABLES = FIXTURES / "tables"
FIXTURE_CONNECTORS = FIXTURES / "connectors"
