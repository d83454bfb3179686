"""The one error type for input the program cannot use."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Unusable input: carries the offending path and a one-line reason.

    The CLI prints it as ``spinegui: error: <path>: <reason>`` and the GUI shows the same line.
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        # One line, always: newlines from third-party messages would break the CLI contract.
        self.reason = " ".join(str(reason).split())
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path is not None else self.reason
