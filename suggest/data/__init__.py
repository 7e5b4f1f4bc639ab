"""Reading logs: dataset descriptions, readers, validation with rejects, time fields.

The public entry points are :func:`load` (frames for the engines) and
:func:`read` (the validated long log and its rejects), both taking a
:class:`Dataset` or the path of its YAML description.
"""

from suggest.data.description import CatalogSpec, ColumnSpec, Dataset
from suggest.data.load import Log, LoadReport, load, read, write_rejects
from suggest.data.timefields import local_fields, parse_times

__all__ = ["CatalogSpec", "ColumnSpec", "Dataset", "Log", "LoadReport", "load", "read",
           "write_rejects", "local_fields", "parse_times"]
