"""The one exception tree of ``suggest``.

Every error a user can cause is a :class:`SuggestError`. It carries where the
problem is (file, line, column, field), what was given, what was expected and
a hint. The command-line interface is the only place that turns it into a
message and exit code 2; library callers catch it like any exception.
"""

from __future__ import annotations

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

    def __reduce__(self):
        """Pickled with its place and hint, so an error a Dask worker raises reaches the
        client whole."""
        return _restore, (type(self), dict(self.__dict__))

    def to_dict(self) -> dict:
        """The error for ``--json`` output: message, where, hint and exit code."""
        return {"message": self.message, "where": self.where, "hint": self.hint,
                "exit_code": self.exit_code}


def _restore(cls: type, state: dict) -> SuggestError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.format())
    return error


class DataError(SuggestError):
    """A log, catalog or dataset description that cannot be read as asked."""


class DescriptionError(DataError):
    """A dataset description (YAML) that is malformed or inconsistent."""


class ClusterError(SuggestError):
    """A cluster that failed while running (a Dask worker died more often than Dask
    retries): a runtime failure, exit code 1, not a problem with the input."""

    exit_code = 1


class WriteError(SuggestError):
    """A file that could not be written (disk full, no permission): a runtime failure, exit
    code 1, naming the file; what was finished before it is kept."""

    exit_code = 1


class ErrorList(SuggestError):
    """Several problems found at once (a file is checked completely before it is refused)."""

    def __init__(self, errors: list[SuggestError], *, summary: str):
        self.errors = list(errors)
        self.summary = summary
        super().__init__(summary)

    def format(self) -> str:
        return "\n".join([self.summary] + [e.format() for e in self.errors])

    def to_dict(self) -> dict:
        return {**super().to_dict(), "message": self.summary,
                "errors": [e.to_dict() for e in self.errors]}


class DataErrorList(ErrorList, DataError):
    """Several problems with one log or description, reported together."""


def did_you_mean(word: object, choices: Iterable[object]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest choice, or ``None``.

    Closeness is the edit distance counting a swap of two neighbours as one
    edit (``itme`` is one edit from ``item``, two from ``time``); a choice is
    offered only when at most a third of the word is wrong.

    >>> did_you_mean("betwen", ["between", "in", "eq"])
    "did you mean 'between'?"
    >>> did_you_mean("itme", ["user", "time", "item"])
    "did you mean 'item'?"
    >>> did_you_mean("gtee", ["gt", "gte", "lt", "lte"])
    "did you mean 'gte'?"
    """
    text = str(word)
    best, best_cost = None, None
    for choice in (str(c) for c in choices):
        # ties go to a choice with the same first letter: people mistype the middle of words
        # and to the choice with fewer real edits ('gte' over 'gt' for 'gtee')
        a, b = text.lower(), choice.lower()
        edits = real = _edits(a, b)
        if len(a) >= 3 and (b.startswith(a) or a.startswith(b)):  # 'unix' for 'unix_s'
            edits = min(edits, 1)
        cost = (edits, real, a[:1] != b[:1])
        if cost[0] <= max(1, len(text) // 3) and (best_cost is None or cost < best_cost):
            best, best_cost = choice, cost
    return f"did you mean '{best}'?" if best is not None else None


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent swaps)."""
    if abs(len(a) - len(b)) > max(len(a), len(b)) // 2 + 1:
        return max(len(a), len(b))
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``'1 tree'``, ``'2,345 trees'``: a count and its noun in the number it takes.

    >>> counted(1, "condition"), counted(1200, "condition"), counted(2, "match", "matches")
    ('1 condition', '1,200 conditions', '2 matches')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def percent(share: float, digits: int = 0) -> str:
    """A share as a percentage with ``digits`` decimals, and more where rounding would turn
    a share that is not all into "100%" (or one that is not none into "0%").

    >>> percent(0.8125), percent(0.9952), percent(0.0004), percent(1.0), percent(0.0)
    ('81%', '99.5%', '0.04%', '100%', '0%')
    >>> percent(0.834, 1), percent(0.9996, 1)
    ('83.4%', '99.96%')
    """
    for places in range(digits, digits + 4):
        text = f"{share:.{places}%}"
        if not 0 < share < 1 or float(text[:-1]) not in (0.0, 100.0):
            return text
    return f"<{10.0 ** -places:g}%" if share < 0.5 else f">{100 - 10.0 ** -places:g}%"


def one_of(choices: Iterable[object]) -> str:
    """Format allowed values for a message: ``'a', 'b' or 'c'``."""
    return listed([f"'{c}'" for c in choices], "or")


def listed(names: list[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or another conjunction)."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {conjunction} " + names[-1]
