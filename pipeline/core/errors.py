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


# At most this many problems are described in an error's message (every problem stays in `problems`): a table
# broken in every row gives one readable message, not thousands of lines.
MAX_DESCRIBED_PROBLEMS = 30


class InputError(Exception):
    """Raised when an input file breaks one or more rules; carries every problem found."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = list(problems)
        lines = [problem.describe() for problem in self.problems[:MAX_DESCRIBED_PROBLEMS]]
        hidden = self.problems[MAX_DESCRIBED_PROBLEMS:]
        if hidden:
            rules = sorted({problem.rule for problem in hidden})
            files = sorted({problem.file for problem in hidden})
            lines.append(f"… and {len(hidden)} more problems (rules {rules}) in {', '.join(files[:5])}")
        super().__init__("\n".join(lines))
