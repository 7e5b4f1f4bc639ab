"""Files written whole: each is complete or absent, never half written.

:func:`write_atomic` writes beside the target (``NAME.partial``) and renames
it into place, so a run that fails midway (a full disk, no permission, an
interrupt) never leaves a file that looks finished. A failed write removes the
partial file and raises :class:`~suggest.errors.WriteError` naming the file
(exit code 1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from suggest.errors import WriteError

if TYPE_CHECKING:
    import pandas as pd

#: What :func:`write_atomic` writes: text (UTF-8), a frame (Parquet), or a function that
#: writes the given path itself (a CSV with its own options).
Content = Union[str, "pd.DataFrame", Callable[[Path], None]]
RETRY = "free some space or fix the folder's permissions, then run the same command again"


def partial_path(path: Path) -> Path:
    """Where :func:`write_atomic` writes ``path`` before it is whole."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def write_atomic(path: str | Path, content: Content, *, hint: str = RETRY) -> Path:
    """Write ``content`` to ``path`` whole (module docstring); returns ``path``."""
    path = Path(path)
    partial = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(content, "to_parquet"):  # a frame (pandas is not imported to ask)
            content.to_parquet(partial, index=False)
        elif callable(content):
            content(partial)
        else:
            partial.write_text(content, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}", hint=hint) from None
    return path


def json_text(value, *, indent: int = 1, sort_keys: bool = False) -> str:
    """``value`` as JSON text for a file or a machine: a missing or infinite number (NaN) is
    ``null``, never the token ``NaN``, which JSON does not have (a browser's or ``jq``'s
    parser stops at it); other values that are not JSON as text."""
    import json

    return json.dumps(finite(value), indent=indent, sort_keys=sort_keys, default=str,
                      allow_nan=False)


def finite(value):
    """``value`` with every float that is NaN or infinite, in nested dicts and lists, None."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def read_json(path: Path, *, missing: str, hint: str, error=None) -> dict:
    """The JSON object in ``path``; when the file is absent, ``error`` (default
    :class:`~suggest.errors.SuggestError`) saying ``missing`` with ``hint``, and when it is
    not valid UTF-8 JSON or not an object, the same error naming the file and the fault."""
    import json

    from suggest.errors import SuggestError

    error = error or SuggestError
    path = Path(path)
    if not path.exists():
        raise error(missing, hint=hint)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path.name} is damaged: {exc}", where=str(path),
                    hint="write it again with the command that made it") from None
    if not isinstance(value, dict):
        raise error(f"{path.name} is damaged: it holds {type(value).__name__}, not an object",
                    where=str(path), hint="write it again with the command that made it")
    return value
