"""Errors that the command line reports as bad input (exit code 2)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class RunFailed(RuntimeError):
    """A run that could not finish for a reason outside its input (a worker was killed)."""


class InputError(ValueError):
    """Invalid user input: a priors file, a scenario name, an option or a data file.

    The message names where the problem is (file and key or row), the value seen
    and what to do instead, so the command line can print it as one line.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        key: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.key = key
        self.value = value
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """Format the error as a single line: location, problem, value, fix."""
        where = ": ".join(part for part in (self.file, self.key) if part)
        text = f"{where}: {self.problem}" if where else self.problem
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.fix:
            text += f". {self.fix}"
        return text


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Suggest the closest valid names for a misspelt one, or list the valid names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if close:
        return "Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "Valid names: " + ", ".join(choices)
