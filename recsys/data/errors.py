"""Errors about input data that name the file, the column and example rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RawDataError(Exception):
    """A raw file cannot be read as the Kaggle schema; nothing downstream is written."""

    file: Path | str
    problem: str
    column: str | None = None
    examples: list[tuple[int | None, str]] = field(default_factory=list)
    hint: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        lines = [f"{where}: {self.problem}"]
        for line, text in self.examples[:5]:
            lines.append(f"    line {line if line is not None else '?'}: {text}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ValidationFailed(Exception):
    """The typed data broke expectations; carries the validation report."""

    def __init__(self, report: object, message: str) -> None:
        super().__init__(message)
        self.report = report
        self.message = message

    def __str__(self) -> str:
        """The message and, when the report can tell, each failure (file, column, rows)."""
        describe = getattr(self.report, "describe_failures", None)
        return f"{self.message}\n{describe()}" if callable(describe) else self.message
