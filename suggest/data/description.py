"""The dataset description: how to read one log (DESIGN section 2).

A description is a small YAML file beside the log::

    name: app_usage
    log: usage.tsv            # csv, tsv, jsonl or parquet (by extension or `format:`); or
                              # a folder of Parquet files / a hive-partitioned dataset, or
                              # a glob of files of one format (logs/*.csv, logs/**/*.jsonl)
    separator: "\\t"
    timezone: UTC             # local time for hour / weekday; `offset`: each time's own
                              #   written UTC offset (2026-03-02T08:01+05:30 is 08:01)
    columns:
      user: user
      item: item
      relevance: cnt          # optional; 1 per row when absent
      time: null              # optional; ISO 8601, or see `time_format`
      request: null           # optional; default: user + context (+ time)
      timezone: null          # optional; a column holding each row's IANA zone
      position: null          # a log of what was shown (bandit feedback): one row per shown
      propensity: null        #   item, its 1-based position and the logging policy's
                              #   probability of showing it there; relevance 0 if not engaged
      group: null             # optional; a sitting or session id for `--split group`: kept
                              #   with each request, never a context column or a feature
    positive_min: null        # optional; rows whose relevance is below it are known negatives
    context:
      daytime: categorical    # categorical | numeric | boolean
      weather: {type: categorical, values: [sunny, rainy]}   # closed: other values are rejected
    ignore: [cost]
    catalog:                  # optional item table
      path: meta.csv          # without `path`, the attributes are columns of the log
      item: item
      attributes: {category: categorical}

Optional keys beyond DESIGN: ``format``, ``encoding`` (default utf-8),
``rename`` (``{LOG_COLUMN: NEW_NAME}``, applied to the log's header before
anything else reads it, so every other key uses the new names: the way out
when a log has its own ``weekday``, ``hour`` or ``score`` column),
``missing_values`` (cell texts read as missing; default ``[""]``),
``duplicates`` (how rows repeating a (request, item) become one engagement:
``max`` relevance, the default with a relevance column; ``sum``, the default
without one, so repeats count; ``last`` row; or ``reject`` every repeat) and
``time_format`` (``iso`` default, ``unix_s``, ``unix_ms`` or a strftime
pattern such as ``"%d/%m/%Y %H:%M"``). Paths are relative to the YAML file.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suggest.data.readers import GLOB
from suggest.data.timefields import (OFFSET_ZONE, TIME_FIELDS, TIME_FORMAT_HINT, TIME_FORMATS,
                                     time_format_problem, zone_hint, zone_name)
from suggest.errors import DataErrorList, DescriptionError, did_you_mean, one_of
from suggest.yamlio import YamlDoc, load_yaml

CONTEXT_TYPES = ("categorical", "numeric", "boolean")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}
def format_of(path: Path) -> str | None:
    """The format a log's path shows: Parquet for a folder (of Parquet files, or a hive
    dataset), else by its extension (``.gz`` aside); None when it shows none."""
    if path.is_dir():
        return "parquet"
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return FORMATS.get(suffixes[-1].lower() if suffixes else "")


TOP_KEYS = ("name", "log", "format", "separator", "encoding", "timezone", "columns",
            "positive_min", "context", "ignore", "catalog", "missing_values", "time_format", "rename",
            "duplicates")
#: The extensions of a log (given where its description is asked for).
LOG_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".json", ".gz")
#: How rows repeating a (request, item) become one engagement (``duplicates:``).
DUPLICATE_RULES = ("max", "sum", "last", "reject")
COLUMN_ROLES = ("user", "item", "relevance", "time", "request", "timezone", "position",
                "propensity", "group")
CATALOG_KEYS = ("path", "format", "separator", "encoding", "item", "attributes")


@dataclass(frozen=True)
class ColumnSpec:
    """A context or attribute column: its type and, when closed, its allowed values."""

    type: str
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CatalogSpec:
    """Where the item table is: a file (``path``) or columns of the log (``path=None``)."""

    path: Path | None
    item: str = "item"
    attributes: dict[str, ColumnSpec] = field(default_factory=dict)
    format: str | None = None
    separator: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Dataset:
    """A parsed dataset description. Build it with :meth:`from_yaml` or :meth:`from_dict`.

    Examples
    --------
    >>> ds = Dataset.from_dict({"log": "log.csv", "columns": {"user": "u", "item": "i"}},
    ...                        base_dir=".")
    >>> ds.format, ds.separator, ds.user
    ('csv', ',', 'u')
    """

    name: str
    log: Path
    format: str
    separator: str
    timezone: str = "UTC"
    user: str = "user"
    item: str = "item"
    relevance: str | None = None
    time: str | None = None
    request: str | None = None
    timezone_column: str | None = None
    position: str | None = None
    propensity: str | None = None
    group: str | None = None
    positive_min: float | None = None
    context: dict[str, ColumnSpec] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    catalog: CatalogSpec | None = None
    encoding: str = "utf-8"
    missing_values: tuple[str, ...] = ("",)
    time_format: str = "iso"
    rename: dict[str, str] = field(default_factory=dict)
    duplicates: str | None = None  # None: max with a relevance column, sum without
    source: str = "<dict>"

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Dataset":
        """Read a description file; every problem in it is reported at once."""
        doc = load_yaml(path, what="dataset description")
        return cls._from_doc(doc, Path(path).resolve().parent)

    @classmethod
    def from_dict(cls, spec: dict, *, base_dir: str | Path = ".", source: str = "<dict>") -> "Dataset":
        """Build a description from a mapping (paths relative to ``base_dir``)."""
        return cls._from_doc(YamlDoc(data=spec, source=source), Path(base_dir))

    @classmethod
    def _from_doc(cls, doc: YamlDoc, base: Path) -> "Dataset":
        parser = _Parser(doc, base)
        ds = parser.parse()
        if parser.errors:
            if len(parser.errors) == 1:
                raise parser.errors[0]
            raise DataErrorList(parser.errors, summary=f"{doc.source}: {len(parser.errors)} problems "
                                                   "in the dataset description:")
        return ds

    @property
    def named_columns(self) -> dict[str, str]:
        """Role -> column for every role that is set (``{"user": "u", "item": "i", ...}``)."""
        roles = {"user": self.user, "item": self.item, "relevance": self.relevance,
                 "time": self.time, "request": self.request, "timezone": self.timezone_column,
                 "position": self.position, "propensity": self.propensity, "group": self.group}
        return {role: col for role, col in roles.items() if col}


def _text_encoding(name: str) -> bool:
    """Whether ``name`` is a codec files can be read in as the readers read them: text in
    and out, with undecodable bytes kept (``surrogateescape``) rather than refused."""
    if not getattr(codecs.lookup(name), "_is_text_encoding", True):
        return False
    try:
        "user,item\n".encode(name).decode(name, "surrogateescape")
        codecs.getincrementaldecoder(name)("surrogateescape").decode(b"", final=True)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return False
    return True


class _Parser:
    """Turns a YAML document into a :class:`Dataset`, collecting every error."""

    def __init__(self, doc: YamlDoc, base: Path):
        self.doc, self.base, self.errors = doc, base, []

    def error(self, path: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        self.errors.append(DescriptionError(message, where=self.doc.where(path, key=key), hint=hint))

    def parse(self) -> Dataset | None:
        spec = self.doc.data
        log_like = Path(self.doc.source).suffix.lower() in LOG_SUFFIXES
        if not isinstance(spec, dict):
            raise DescriptionError("a dataset description must be a mapping (key: value lines), "
                                   f"not {type(spec).__name__}", where=self.doc.where(()),
                                   hint="this looks like the log itself: give its YAML "
                                        "description (`log: FILE`, `columns:`, `context:`), "
                                        "which names the log; see the example in the README"
                                   if log_like else "see the example in the README")
        if "rules" in spec and "log" not in spec:  # a rule file given for a description
            raise DescriptionError("this is a rule file (it has `rules:`), not a dataset "
                                   "description", where=self.doc.where(("rules",), key=True),
                                   hint="give it as --rules FILE, and the log's description "
                                        "(`log:`, `columns:`, `context:`) as --dataset")
        self.unknown_keys(spec, (), TOP_KEYS)
        log = self.text(spec, ("log",), required=True)
        log_path = Path(os.path.normpath(self.base / (log or "<missing>")))
        # Without `log` there is no extension to read the format from; one error is enough.
        fmt = self.format(spec, ("format",), log_path) if log or "format" in spec else "csv"
        separator = self.text(spec, ("separator",)) or ("\t" if fmt == "tsv" else ",")
        if len(separator) != 1:
            self.error(("separator",), f"separator must be one character, not {separator!r}",
                       'for a tab write separator: "\\t" (double quotes)')
        columns = spec.get("columns") or {}
        if not isinstance(columns, dict):
            self.error(("columns",), "`columns` must be a mapping of role: column name")
            columns = {}
        self.unknown_keys(columns, ("columns",), COLUMN_ROLES)
        roles = {r: self.text(columns, ("columns", r)) for r in COLUMN_ROLES}
        timezone = self.zone(spec.get("timezone", "UTC"), ("timezone",))
        context = self.column_specs(spec.get("context") or {}, ("context",))
        ignore = spec.get("ignore") or []
        if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
            self.error(("ignore",), "`ignore` must be a list of column names")
            ignore = []
        catalog = self.catalog(spec.get("catalog"), fmt)
        missing = spec.get("missing_values", [""])
        if not isinstance(missing, list):
            self.error(("missing_values",), "`missing_values` must be a list of cell texts")
            missing = [""]
        positive_min = spec.get("positive_min")
        if positive_min is not None and (isinstance(positive_min, bool)
                                         or not isinstance(positive_min, (int, float))):
            self.error(("positive_min",), f"positive_min must be a number, not {positive_min!r}")
            positive_min = None
        if positive_min is not None and not (isinstance(columns, dict) and columns.get("relevance")):
            self.error(("positive_min",), "positive_min needs a relevance column to compare with",
                       "name it under `columns: relevance:`, or drop positive_min")
        time_format = str(spec.get("time_format") or "iso")
        if time_format not in TIME_FORMATS and "%" not in time_format:
            self.error(("time_format",), f"unknown time_format '{time_format}'",
                       did_you_mean(time_format, TIME_FORMATS) or f"expected {one_of(TIME_FORMATS)} "
                       "or a strftime pattern such as '%d/%m/%Y %H:%M'")
        elif time_format not in TIME_FORMATS and (problem := time_format_problem(time_format)):
            self.error(("time_format",), f"time_format '{time_format}' cannot read times: "
                       f"{problem}", TIME_FORMAT_HINT)
            time_format = "iso"
        encoding = self.encoding(spec, ("encoding",))
        rename = self.renames(spec.get("rename") or {})
        duplicates = spec.get("duplicates")
        if duplicates is not None and duplicates not in DUPLICATE_RULES:
            self.error(("duplicates",), f"unknown duplicates rule {duplicates!r}",
                       did_you_mean(str(duplicates), DUPLICATE_RULES)
                       or f"expected {one_of(DUPLICATE_RULES)}")
            duplicates = None
        if bool(roles["position"]) != bool(roles["propensity"]):
            given, other = ("position", "propensity") if roles["position"] else ("propensity",
                                                                                  "position")
            self.error(("columns", given), f"a log of what was shown needs both position and "
                       f"propensity columns; {other} is not named",
                       f"name the {other} column under `columns:`, or drop {given}")
        if timezone == OFFSET_ZONE and (roles["timezone"] or not roles["time"]):
            self.error(("timezone",), "`timezone: offset` reads each time's written UTC offset, "
                       + ("and a timezone column gives each row's zone: choose one"
                          if roles["timezone"] else "and the log has no time column"),
                       "drop `timezone: offset`" if roles["timezone"] else
                       "name the time column under `columns: time:`, or give an IANA zone")
        self.check_roles(roles, context, ignore, catalog)
        if self.errors:
            return None
        return Dataset(
            name=str(spec.get("name") or (log_path.parent.name if GLOB.search(log_path.name)
                                          else log_path.stem)), log=log_path, format=fmt, separator=separator,
            timezone=timezone, user=roles["user"] or "user", item=roles["item"] or "item",
            relevance=roles["relevance"], time=roles["time"], request=roles["request"],
            timezone_column=roles["timezone"], position=roles["position"],
            propensity=roles["propensity"], group=roles["group"], positive_min=positive_min, context=context,
            ignore=tuple(ignore), catalog=catalog, encoding=encoding,
            missing_values=tuple(str(m) for m in missing), time_format=time_format,
            rename=rename, duplicates=duplicates, source=self.doc.source)

    def renames(self, mapping: Any) -> dict[str, str]:
        """``rename:``: log column -> new name, each new name given once."""
        if not isinstance(mapping, dict):
            self.error(("rename",), "`rename` must be a mapping of log column: new name",
                       "e.g. rename: {weekday: day_name}")
            return {}
        out, seen = {}, {}
        for old, new in mapping.items():
            if not isinstance(new, (str, int)) or isinstance(new, bool) or not str(new).strip():
                self.error(("rename", old), f"`rename: {old}:` must be a column name, not {new!r}")
                continue
            if str(new) in seen:
                self.error(("rename", old), f"'{old}' and '{seen[str(new)]}' are both renamed "
                           f"to '{new}'", "give each its own name")
                continue
            seen[str(new)] = str(old)
            out[str(old)] = str(new)
        return out

    def unknown_keys(self, mapping: dict, path: tuple, allowed: tuple) -> None:
        for key in mapping:
            if key not in allowed:
                nested = path and key in TOP_KEYS  # e.g. time_format under columns:
                self.error(path + (key,), f"unknown key '{key}'",
                           f"'{key}' is a key of the description's top level, not of "
                           f"`{': '.join(map(str, path))}:`; move it there" if nested else
                           did_you_mean(key, allowed) or f"expected {one_of(allowed)}", key=True)

    def text(self, mapping: dict, path: tuple, required: bool = False) -> str | None:
        value = mapping.get(path[-1])
        if value is None:
            if required:
                self.error(path[:-1], f"`{path[-1]}` is required")
            return None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            self.error(path, f"`{'.'.join(map(str, path))}` must be a name, not {value!r}")
            return None
        return str(value)

    def format(self, spec: dict, path: tuple, file: Path) -> str:
        fmt = spec.get(path[-1])
        allowed = sorted(set(FORMATS.values()))
        if fmt is None:
            fmt = format_of(file)
            if fmt is None and not file.exists() and not set("*?[") & set(str(file)):
                self.error(("log",), f"log file or folder not found: {file}",
                           "paths in a dataset description are relative to the YAML file")
                return "csv"
            from suggest.data.readers import UNREADABLE, UNREADABLE_HINT

            if fmt is None and file.suffix.lower() in UNREADABLE:
                self.error(("log",), f"'{file.name}' is a {UNREADABLE[file.suffix.lower()]}, "
                           "which the tool does not read", UNREADABLE_HINT)
                return "csv"
            if fmt is None:
                self.error(("log",), f"cannot tell the format of '{file.name}' from its extension",
                           f"add `format:` with {one_of(allowed)}")
                return "csv"
        elif fmt not in allowed:
            self.error(path, f"unknown format '{fmt}'", did_you_mean(fmt, allowed)
                       or f"expected {one_of(allowed)}")
            return "csv"
        return fmt

    def encoding(self, mapping: dict, path: tuple) -> str:
        value = str(mapping.get(path[-1]) or "utf-8")
        try:
            codecs.lookup(value)
        except (LookupError, ValueError):  # ValueError: a name with a null character
            self.error(path, f"unknown encoding {value!r}",
                       did_you_mean(value, ("utf-8", "latin-1", "cp1252", "utf-16"))
                       or "use a Python codec name such as utf-8 or latin-1")
            return "utf-8"
        if not _text_encoding(value):
            # rot13, hex, base64 turn bytes into bytes or text into text; 'undefined', idna
            # and punycode cannot read a file line by line keeping the bytes they cannot decode
            self.error(path, f"'{value}' is not a text encoding a log can be read in",
                       "use a text encoding such as utf-8, latin-1, cp1252 or utf-16")
            return "utf-8"
        return value

    def zone(self, value: Any, path: tuple) -> str:
        if value == OFFSET_ZONE and path == ("timezone",):  # each time's own written offset
            return OFFSET_ZONE
        name = zone_name(value)  # an IANA name, or one fixed offset for every row (UTC+05:30)
        if name is None:
            self.error(path, f"unknown time zone '{value}'", zone_hint(value))
            return "UTC"
        return name

    def column_specs(self, mapping: Any, path: tuple) -> dict[str, ColumnSpec]:
        if not isinstance(mapping, dict):
            self.error(path, f"`{path[-1]}` must be a mapping of column: type")
            return {}
        specs = {}
        for col, kind in mapping.items():
            values = None
            if isinstance(kind, dict):
                self.unknown_keys(kind, path + (col,), ("type", "values"))
                values = kind.get("values")
                if values is not None and (not isinstance(values, list) or not values):
                    self.error(path + (col, "values"), "`values` must be a non-empty list")
                    values = None
                kind = kind.get("type", "categorical")
                if values is not None and kind != "categorical":
                    self.error(path + (col, "values"), f"`values` closes a categorical column; "
                               f"'{col}' is {kind}", "drop `values` or make the type categorical")
                    values = None
            if kind not in CONTEXT_TYPES:
                self.error(path + (col,), f"column '{col}': unknown type '{kind}'",
                           did_you_mean(kind, CONTEXT_TYPES) or f"expected {one_of(CONTEXT_TYPES)}")
                continue
            specs[str(col)] = ColumnSpec(kind, tuple(str(v) for v in values) if values else None)
        return specs

    def catalog(self, spec: Any, log_format: str) -> CatalogSpec | None:
        if spec is None:
            return None
        if not isinstance(spec, dict):
            self.error(("catalog",), "`catalog` must be a mapping with `path`, `item`, `attributes`")
            return None
        self.unknown_keys(spec, ("catalog",), CATALOG_KEYS)
        path = self.text(spec, ("catalog", "path"))
        file = Path(os.path.normpath(self.base / path)) if path else None
        fmt = self.format(spec, ("catalog", "format"), file) if file else None
        return CatalogSpec(path=file, item=self.text(spec, ("catalog", "item")) or "item",
                           attributes=self.column_specs(spec.get("attributes") or {},
                                                        ("catalog", "attributes")),
                           format=fmt, separator=self.text(spec, ("catalog", "separator"))
                           or ("\t" if fmt == "tsv" else ","),
                           encoding=self.encoding(spec, ("catalog", "encoding")))

    def check_roles(self, roles: dict, context: dict, ignore: list, catalog: CatalogSpec | None) -> None:
        named = {c: r for r, c in roles.items() if c}
        first: dict[str, str] = {}
        for role, col in roles.items():
            if not col:
                continue
            # a request per user is a choice (no context), and so are groups of whole users or
            # of single requests; any other shared column is a mistake
            if col in first and {first[col], role} not in ({"user", "request"}, {"user", "group"},
                                                           {"request", "group"}):
                self.error(("columns", role), f"'{col}' is named for two roles, {first[col]} and "
                           f"{role}", "each role needs its own column")
            first.setdefault(col, role)
            if col in ignore:
                self.error(("ignore",), f"'{col}' is the {role} column and cannot be ignored",
                           f"drop it from `ignore:`, or name another column as {role}")
        for col in context:
            if col in named:
                self.error(("context", col), f"'{col}' is the {named[col]} column and cannot also be context")
            if col in ignore:
                self.error(("context", col), f"'{col}' is both context and ignored")
            if col in TIME_FIELDS and roles.get("time"):
                self.error(("context", col), f"'{col}' is derived from the time column",
                           "rename the log column or drop it under `ignore:`")
        if catalog and catalog.path is None:
            for col in catalog.attributes:
                if col in context:
                    self.error(("catalog", "attributes", col),
                               f"'{col}' is both context and an item attribute")
                if col in ignore:
                    # `ignore:` drops a log column entirely, so it cannot describe the items too
                    self.error(("catalog", "attributes", col),
                               f"'{col}' is both an item attribute and ignored",
                               f"`ignore:` drops a log column from everything, the catalog "
                               f"included: keep '{col}' in one of the two")
                if col in named:
                    self.error(("catalog", "attributes", col),
                               f"'{col}' is the {named[col]} column and cannot also be an item "
                               "attribute")
