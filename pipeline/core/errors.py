"""Input errors that name the file, row, column and rule, so a bad table is fixed at its source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    """One problem found in an input file: where it is, which rule it breaks and what was expected."""

    file: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    expected: str | None = None
    cell: str | None = None

    def describe(self) -> str:
        """A one-line, human-readable description of the problem."""
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.cell is not None:
            where += f" (cell {self.cell})"
        text = f"{where}: [{self.rule}] {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def as_record(self) -> dict:
        """The problem as a flat record, for asset-check metadata and reports."""
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "cell": self.cell,
            "rule": self.rule,
            "message": self.message,
            "expected": self.expected,
        }


class InputError(Exception):
    """Raised when an input file breaks one or more rules; carries every problem found."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(problem.describe() for problem in self.problems))
