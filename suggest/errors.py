"""The one exception tree of ``suggest``.

Every error a user can cause is a :class:`SuggestError`. It carries where the
problem is (file, line, column, field), what was given, what was expected and
a hint. The command-line interface is the only place that turns it into a
message and exit code 2; library callers catch it like any exception.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SuggestError(Exception):
    """A problem with the user's input: a file, a value, an option.

    Parameters
    ----------
    message : str
        What is wrong, naming the value that was given.
    where : str, optional
        The place: ``"path"``, ``"path:line"`` or ``"path:line:col"``.
    hint : str, optional
        What to do about it ("did you mean ...", "set `separator:` ...").

    Examples
    --------
    >>> err = SuggestError("no column 'usr'", where="log.csv:1", hint="did you mean 'user'?")
    >>> str(err)
    "log.csv:1: no column 'usr' (did you mean 'user'?)"
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        """The one-paragraph message the CLI prints (re-read, so a caller may add to ``hint``)."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class DataError(SuggestError):
    """A log, catalog or dataset description that cannot be read as asked."""


class DescriptionError(DataError):
    """A dataset description (YAML) that is malformed or inconsistent."""


class ErrorList(SuggestError):
    """Several problems found at once (a file is checked completely before it is refused)."""

    def __init__(self, errors: list[SuggestError], *, summary: str):
        self.errors = list(errors)
        self.summary = summary
        super().__init__(summary)

    def format(self) -> str:
        return "\n".join([self.summary] + [e.format() for e in self.errors])


class DataErrorList(ErrorList, DataError):
    """Several problems with one log or description, reported together."""


def did_you_mean(word: object, choices: Iterable[object]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest choice, or ``None``.

    >>> did_you_mean("betwen", ["between", "in", "eq"])
    "did you mean 'between'?"
    """
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    return f"did you mean '{close[0]}'?" if close else None


def one_of(choices: Iterable[object]) -> str:
    """Format allowed values for a message: ``'a', 'b' or 'c'``."""
    names = [f"'{c}'" for c in choices]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
