"""Safe YAML loading that remembers where every value stood.

Dataset descriptions and rule sets are YAML written by people. Loading them
must never run code (only PyYAML's safe constructors are used; a
``!!python/...`` tag is refused, never constructed), must not be turned into a
memory bomb by aliases (a "billion laughs" file is refused by counting the
expanded size of the node graph before anything is built), and must let every
later error name ``file:line:col`` of the value it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suggest.errors import SuggestError

#: Largest number of nodes a document may expand to once aliases are followed.
MAX_EXPANDED_NODES = 200_000
#: Largest YAML file read at all (dataset descriptions and rule files are hand-written).
MAX_BYTES = 8 * 2**20

Key = tuple  # a path into the document: ("rules", 2, "when", "all", 0)


@dataclass
class YamlDoc:
    """A loaded YAML document: plain Python data plus the position of each value.

    ``where(("rules", 0, "when"))`` gives ``"file.yaml:12:5"`` for the value at
    that path, falling back to the closest enclosing value that has a position.
    """

    data: Any
    source: str
    positions: dict[Key, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Key, tuple[int, int]] = field(default_factory=dict)
    #: the text of each unquoted value YAML read as a number (``007`` is 7, ``010`` is 8)
    numbers: dict[Key, str] = field(default_factory=dict)

    def where(self, path: Key = (), *, key: bool = False) -> str:
        table = self.key_positions if key else self.positions
        path = tuple(path)
        while path not in table and path:
            path = path[:-1]
            table = self.positions
        line, col = table.get(path, (1, 1))
        return f"{self.source}:{line}:{col}"


def load_yaml(path: str | Path, *, what: str = "YAML file") -> YamlDoc:
    """Read ``path`` as one safe YAML document with positions.

    Raises
    ------
    SuggestError
        When the file is missing, not UTF-8, not YAML, carries a tag that safe
        loading refuses, or expands past :data:`MAX_EXPANDED_NODES`.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # refused before reading: composing it would take minutes
            raise SuggestError(f"{what} is too large: {size / 2**20:.1f} MiB (at most "
                               f"{MAX_BYTES / 2**20:.0f} MiB)", where=str(path),
                               hint="a hand-written file is a few kilobytes; split it, or keep "
                                    "long value lists in the data")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuggestError(f"{what} not found", where=str(path),
                           hint="check the path; relative paths are taken from the current folder") from None
    except IsADirectoryError:
        raise SuggestError(f"{what} is a folder, not a file", where=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SuggestError(f"{what} is not valid UTF-8 (byte {exc.start})", where=str(path),
                           hint="save the file as UTF-8") from None
    return parse_yaml(text, source=str(path), what=what)


def parse_yaml(text: str, *, source: str = "<string>", what: str = "YAML file") -> YamlDoc:
    """Parse YAML text; see :func:`load_yaml`."""
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character up front
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        raise SuggestError(f"{what} is not valid YAML: character #x{exc.character:04x} is not allowed",
                           where=f"{source}:{line}:{col}",
                           hint="remove control characters; YAML text must be printable") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuggestError(f"{what} is empty", where=source, hint="it must hold a mapping")
        size = _expanded_size(node, {}, set())
        if size > MAX_EXPANDED_NODES:
            written = _written_size(node)
            if written > MAX_EXPANDED_NODES:  # large as written: no alias is to blame
                raise SuggestError(
                    f"{what} is too large: {written:,} values (at most {MAX_EXPANDED_NODES:,})",
                    where=source, hint="split it, or keep long value lists in the data")
            raise SuggestError(
                f"{what} expands to more than {MAX_EXPANDED_NODES:,} values through YAML aliases "
                f"({written:,} as written)", where=source,
                hint="refused as a possible alias bomb; write the values out")
        # Positions and duplicate keys are read from the document as written: building
        # it expands merge keys (`<<: *base`) in place, and a key that overrides a
        # merged one is allowed, not a duplicate.
        doc = YamlDoc(data=None, source=source)
        _record(node, (), doc, set())
        doc.data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        raise _marked(exc, source, f"{what}: unsafe or unknown YAML tag refused "
                                   f"({exc.problem})", "only plain YAML values are allowed; "
                                   "tags such as !!python/object are never executed") from None
    except yaml.MarkedYAMLError as exc:
        hint = ("indent YAML with spaces, not tabs" if "\\t" in str(exc.problem) or "'\t'" in str(exc.problem)
                else "check indentation and quoting near this place")
        raise _marked(exc, source, f"{what} is not valid YAML: {exc.problem}", hint) from None
    except RecursionError:  # PyYAML composes and builds nested values recursively
        raise SuggestError(f"{what} nests values too deeply to read", where=source,
                           hint="a hand-written file needs a few levels, not thousands") from None
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        raise SuggestError(f"{what} is not valid YAML: {exc}", where=source) from None
    finally:
        loader.dispose()
    return doc


def _marked(exc: yaml.MarkedYAMLError, source: str, message: str, hint: str) -> SuggestError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    return SuggestError(message, where=where, hint=hint)


def _written_size(node: yaml.Node) -> int:
    """Number of distinct nodes, each alias counted once (the document as written)."""
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            todo.extend(part for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            todo.extend(current.value)
    return len(seen)


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Number of nodes once aliases are expanded, memoised so it costs O(nodes)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:  # a recursive alias: refuse as unbounded
        return MAX_EXPANDED_NODES + 1
    active.add(key)
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo, active) + _expanded_size(v, memo, active)
                        for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(v, memo, active) for v in node.value)
    else:
        total = 1
    active.discard(key)
    memo[key] = min(total, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _record(node: yaml.Node, path: Key, doc: YamlDoc, seen: set[int]) -> None:
    doc.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if id(node) in seen:  # an alias: its positions were recorded where it was defined
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        _check_text(node, doc.source)
        if node.style is None and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            doc.numbers[path] = node.value
    if isinstance(node, yaml.MappingNode):
        keys_seen: dict[Any, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                _check_text(k, doc.source)
            name = k.value if isinstance(k, yaml.ScalarNode) else None
            if name in keys_seen and name not in ("<<",):
                raise SuggestError(
                    f"duplicate key '{name}' (first on line {keys_seen[name]})",
                    where=f"{doc.source}:{k.start_mark.line + 1}:{k.start_mark.column + 1}",
                    hint="YAML keeps only the last one; merge them or rename one")
            keys_seen[name] = k.start_mark.line + 1
            doc.key_positions[path + (name,)] = (k.start_mark.line + 1, k.start_mark.column + 1)
            _record(v, path + (name,), doc, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _record(v, path + (i,), doc, seen)


def _check_text(node: yaml.ScalarNode, source: str) -> None:
    """Join a ``\\uD83D\\uDE00`` escape pair into its character (PyYAML leaves the two
    halves apart) and refuse a lone half: half a character is not text, and no file,
    column or item name can hold it."""
    value = node.value
    if not isinstance(value, str) or not any("\ud800" <= ch <= "\udfff" for ch in value):
        return
    try:
        node.value = value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        mark = node.start_mark
        raise SuggestError("a \\u escape of a lone surrogate (\\uD800-\\uDFFF) is half a "
                           "character, not text", where=f"{source}:{mark.line + 1}:{mark.column + 1}",
                           hint="write the character itself, or both halves of its pair") from None
