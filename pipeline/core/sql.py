"""SQL quoting for identifiers and literals that cannot be bound parameters."""

from __future__ import annotations


def quoted(identifier: str) -> str:
    """A SQL identifier in double quotes (identifiers cannot be bound parameters)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (COMMENT ON accepts no bound parameter)."""
    return "'" + text.replace("'", "''") + "'"
