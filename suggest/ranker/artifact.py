"""Model artifacts: a folder with LightGBM's own text model, a manifest and the fitted
statistics, in Parquet files.

``models/<name>/``:

* ``model.txt``      LightGBM's text model (``Booster.save_model``);
* ``manifest.json``  settings, feature names and types, category encodings,
  candidate settings, training window, data fingerprint, package versions,
  validation metrics, candidate recall, feature importance, the dataset it
  came from, a SHA-256 of every other file and one of the manifest itself
  (so an edited setting is caught like an edited model);
* ``rules.yaml``     a copy of the rule file the model was trained with, if any;
* ``state.json`` and ``statistics/``: what serving reads, as it was fitted on
  the training requests: the feature counters and the user history's counts
  (``arrays/``: arrays of numbers, one Parquet column each, integers
  delta-encoded), the users' codes, the counts popular, context-popular and
  the rules' catalog slices learnt from (Parquet), and the kind of each of
  the Requests frame's columns (JSON). Loading reads them back instead of
  counting the training log again, so it costs what reading them costs;
* ``catalog.parquet`` the catalog (its attributes are features);
* ``trained.parquet`` the training requests' ids (replay warns when it scores
  one of them; ``rules distil`` reads their contexts from the dataset's log).

Nothing is ever unpickled: Parquet, JSON and LightGBM text only. A file whose checksum differs
from the manifest, a manifest from another format version, or restored
features whose names differ from the ones recorded, stops the load with an
error naming the mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from suggest import __version__
from suggest.errors import SuggestError, one_of
from suggest.files import finite, json_text, read_json

FORMAT = 3  # 2: the manifest carries its own checksum and the dataset; 3: fitted statistics
STATISTICS = "statistics"  # the folder of the fitted statistics' files
ARRAYS = "arrays"  # its folder of arrays of numbers, one Parquet file each


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(requests: pd.DataFrame, truth: pd.DataFrame) -> str:
    """A short hash of the training data (request ids, users, items, relevance), whatever
    the order of the rows (``rules distil`` finds the training requests in the log by id)."""
    rows = [pd.util.hash_pandas_object(requests[["request_id", "user_id"]].astype(str), index=False),
            pd.util.hash_pandas_object(truth[["request_id", "item_id"]].astype(str).assign(
                relevance=truth["relevance"].astype(float).to_numpy()), index=False)]
    digest = hashlib.sha256(b"".join(np.append(np.sort(r.to_numpy()), len(r)).tobytes() for r in rows))
    return digest.hexdigest()[:16]


def refuse_foreign_folder(folder: Path, option: str = "") -> None:
    """Refuse a folder that holds files but no model (no manifest.json): a model folder is
    replaced whole, and a folder of work named by mistake (the log's, a notebook's) would be
    lost. ``option`` names the command-line option that gave it ("-o ")."""
    folder = Path(folder)
    if not (folder.is_dir() and any(folder.iterdir())) or (folder / "manifest.json").is_file():
        return
    held = sorted(p.name for p in folder.iterdir())
    shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
    raise SuggestError(f"{option}{folder} is not a model folder (it holds {shown}, and no "
                       "manifest.json): a model folder is replaced whole, so only one is",
                       hint=f"choose another folder, e.g. {option}models/NAME")


def _manifest_checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def save(engine, directory: str | Path, requests: pd.DataFrame, truth: pd.DataFrame,
         catalog: pd.DataFrame | None, dataset: dict | None = None) -> Path:
    """Write a fitted :class:`~suggest.ranker.RankerEngine` to ``directory``.

    ``dataset`` (name, description path, ...) is recorded for the reader.
    Files are written to ``directory.partial`` and moved in place at the end,
    so a failed save never leaves a folder that looks like a model.
    """
    import lightgbm

    from suggest.ranker.model import fitted_on

    engine.check_fitted()
    final = Path(directory)
    refuse_foreign_folder(final)
    mark = getattr(engine, "fitted_on_", None)
    if mark is not None and fitted_on(requests, truth) != mark:
        # the folder records these requests as the model's training data: replay refuses a
        # model trained on its held-out requests by them
        raise SuggestError("the requests and truth given to save() are not those the ranker was "
                           f"fitted on ({mark[0]:,} requests and {mark[1]:,} engagements)",
                           hint="pass save() the frames given to fit()")
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    engine.booster_.save_model(str(work / "model.txt"))
    if engine.rules:  # the rule file shapes candidates and features: it travels with the model
        shutil.copyfile(engine.rules, work / "rules.yaml")
    _parquet(_plain_catalog(catalog), work / "catalog.parquet")
    _parquet(requests[["request_id"]].astype({"request_id": str}), work / "trained.parquet")
    _write_state(engine, work, requests)
    files = sorted(str(path.relative_to(work).as_posix()) for path in work.rglob("*")
                   if path.is_file())
    features = engine.features_
    stamps = requests["timestamp"] if "timestamp" in requests.columns else None
    importance = engine.booster_.feature_importance("gain")
    manifest = {
        "format": FORMAT,
        "engine": engine.name,
        "params": engine.get_params(),
        "features": _describe(features),
        "candidates": {"cap": engine.candidates_.cap, "quotas": engine.candidates_.quotas,
                       "recall": engine.candidate_recall_},
        "training": {"requests": len(requests), "engagements": len(truth),
                     "window": [str(stamps.min()), str(stamps.max())] if stamps is not None else None,
                     "fingerprint": fingerprint(requests, truth)},
        "validation": engine.validation_,
        "zone": getattr(engine, "zone_", None),  # one-context times without a zone read in it
        "importance": {n: float(v) for n, v in sorted(zip(features.names_, importance),
                                                        key=lambda x: -x[1])},
        "versions": {"suggest": __version__, "lightgbm": lightgbm.__version__,
                     "pandas": pd.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "files": {name: _sha256(work / name) for name in files},
        "dataset": dataset or {},
    }
    manifest = finite(manifest)  # written as read back: a NaN is null
    manifest["manifest_sha256"] = _manifest_checksum(manifest)
    (work / "manifest.json").write_text(json_text(manifest) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)
    return final


#: The empty column a Requests frame's column is read back as, by its kind
#: (:func:`suggest.engines.base.context_columns`' for context; the time; anything else).
KIND_DTYPES = {"categorical": object, "boolean": bool, "numeric": "float64",
               "timestamp": "datetime64[ns, UTC]", "other": object}


def _column_kinds(requests: pd.DataFrame) -> dict[str, str]:
    """The kind of each column of the training requests, as the engines read them (the
    candidate sources' default slices, the context keys ``suggest_one`` accepts): kinds,
    not dtypes, since an empty categorical of whole numbers reads back from Parquet as
    numbers."""
    from suggest.engines.base import context_columns

    kinds = context_columns(requests)
    return {col: kinds.get(col, "timestamp" if col == "timestamp" else "other")
            for col in requests.columns}


def _empty_requests(kinds: dict[str, str]) -> pd.DataFrame:
    """A Requests frame of no rows whose columns read as ``kinds`` say."""
    return pd.DataFrame({col: pd.Series(dtype=KIND_DTYPES[kind]) for col, kind in kinds.items()})


def _write_state(engine, work: Path, requests: pd.DataFrame) -> None:
    """``state.json`` and the ``statistics/`` files of a fitted engine (see the module
    docstring)."""
    features, arrays = engine.features_.state()
    candidates, history, frames = engine.candidates_.state()
    edges = engine.grades_.edges
    state = {"features": features, "candidates": candidates, "columns": _column_kinds(requests),
             "grades": None if edges is None else [float(e) for e in edges]}
    (work / "state.json").write_text(json_text(state) + "\n", encoding="utf-8")
    folder = work / STATISTICS
    (folder / ARRAYS).mkdir(parents=True)
    for name, values in {**{f"features.{k}": v for k, v in arrays.items()}, **history}.items():
        _write_array(values, folder / ARRAYS / f"{name}.parquet")
    frames = {**frames, "users": pd.DataFrame({"user_id": pd.Series(engine.features_.users_, dtype=str)})}
    for name, frame in frames.items():
        _parquet(frame, folder / f"{name}.parquet")


def _plain_catalog(catalog: pd.DataFrame | None) -> pd.DataFrame:
    """The catalog as the model folder keeps it: text as text, whether the load made a column
    of text categories (a local log's attributes) or plain text (the same log read on Dask),
    so both give the same file; categories of numbers stay categories (they are not
    numeric attributes)."""
    if catalog is None:
        return pd.DataFrame({"item_id": pd.Series(dtype=str)})
    out = {}
    for col in catalog.columns:
        values, dtype = catalog[col], catalog[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            text = not (pd.api.types.is_numeric_dtype(dtype.categories.dtype)
                        or pd.api.types.is_bool_dtype(dtype.categories.dtype))
        else:
            text = col == "item_id" or dtype == object or pd.api.types.is_string_dtype(dtype)
        if text:  # as text objects (a number among them too: the codes read it as text),
            # missing as None: the same in every pandas
            present = values.notna().to_numpy()
            cells = values.astype(object).to_numpy(dtype=object, copy=True)
            cells[present] = [str(v) for v in cells[present]]
            cells[~present] = None
            values = pd.Series(cells, dtype=object, name=col)
        out[col] = values.reset_index(drop=True)
    return pd.DataFrame(out)


def _write_array(values: np.ndarray, path: Path) -> None:
    """One array of numbers as a one-column Parquet file: integers delta-encoded (the counters'
    arrays are sorted, so this keeps a few bits a number), then compressed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = np.ascontiguousarray(values)
    delta = values.dtype.kind in "iu" and values.dtype.itemsize in (4, 8)
    pq.write_table(pa.table({"values": values}), path, use_dictionary=False, compression="zstd",
                   column_encoding={"values": "DELTA_BINARY_PACKED"} if delta else None)


def _read_array(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    return pq.read_table(path).column(0).to_numpy()


def _read_state(folder: Path, manifest: dict, params: dict, catalog: pd.DataFrame | None) -> tuple:
    """The fitted features, candidates and grades a model folder stores (the engine's
    ``rules`` param: the folder's own copy of its rule file)."""
    from suggest.ranker.candidates import Candidates
    from suggest.ranker.features import Features
    from suggest.ranker.model import _grades

    state = read_json(folder / "state.json", missing=f"{folder / 'state.json'} is missing",
                      hint="retrain the model")
    listed = [Path(name) for name in manifest["files"]]
    arrays = {path.stem: _read_array(folder / path) for path in listed
              if path.parent == Path(STATISTICS, ARRAYS)}
    frames = {path.stem: pd.read_parquet(folder / path) for path in listed
              if path.parent == Path(STATISTICS)}
    schema = _empty_requests(state["columns"])
    features = Features.restore(
        state["features"], {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("features.")},
        manifest["features"], frames["users"]["user_id"].astype(str).tolist(), catalog)
    rules = None
    if params.get("rules"):
        from suggest.rules import RulesEngine
        from suggest.rules.model import load_rules

        rules = RulesEngine(load_rules(params["rules"]))
    candidates = Candidates.restore(state["candidates"], arrays, frames, schema, catalog, rules)
    return features, candidates, _grades.restore(state["grades"]), schema


def _describe(features) -> dict:
    """Feature names, types and category encodings, as the manifest records them."""
    return {"names": features.names_, "lightgbm_names": features.lightgbm_names_,
            "categorical": features.categorical_,
            "context": {k: {"type": t, "categories": c} for k, (t, c) in features.context_.items()},
            "attributes": {k: {"type": t, "categories": c} for k, (t, c) in features.attributes_.items()},
            "items": features.items_}


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a training frame; text is written as Arrow's ``string`` whatever its storage in
    memory (``large_string`` after a trip through Arrow, as on Dask workers), so the same
    frame gives the same bytes and checksum."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)

    def plain(kind):
        if pa.types.is_large_string(kind):
            return pa.string()
        if pa.types.is_dictionary(kind) and pa.types.is_large_string(kind.value_type):
            return pa.dictionary(kind.index_type, pa.string(), kind.ordered)
        return kind

    schema = pa.schema([field.with_type(plain(field.type)) for field in table.schema],
                       metadata=table.schema.metadata)
    pq.write_table(table.cast(schema), path)


def load(directory: str | Path):
    """Load a ranker saved by :func:`save`; see the module docstring for what is checked."""
    import lightgbm

    from suggest.ranker.model import HybridEngine, RankerEngine

    folder = Path(directory)
    manifest_path = folder / "manifest.json"
    manifest = read_json(manifest_path, missing=f"no model at {folder} (manifest.json is missing)",
                         hint="make one with `suggest train`")
    if manifest.get("format") != FORMAT:
        raise SuggestError(f"{manifest_path}: model format {manifest.get('format')!r}, this "
                           f"suggest {__version__} reads format {FORMAT}",
                           hint="retrain the model with this version")
    if manifest.get("manifest_sha256") != _manifest_checksum(manifest):
        raise SuggestError(f"{manifest_path} was edited after training (it does not match its own "
                           "checksum, manifest_sha256)",
                           hint="restore the file as `suggest train` wrote it, or retrain: settings "
                                "such as cap or seed cannot be changed on a trained model")
    trained_with = str(manifest.get("versions", {}).get("lightgbm", "0"))
    if trained_with.split(".")[0] != lightgbm.__version__.split(".")[0]:
        raise SuggestError(f"{manifest_path}: trained with LightGBM {trained_with}, this "
                           f"environment has {lightgbm.__version__}",
                           hint="install the same major version of lightgbm, or retrain")
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.exists():
            raise SuggestError(f"{path} is missing from the model folder")
        if _sha256(path) != expected:
            raise SuggestError(f"{path} does not match its checksum in manifest.json",
                               hint="the file was edited or damaged; retrain or restore it")
    catalog = pd.read_parquet(folder / "catalog.parquet")
    classes = {"ranker": RankerEngine, "hybrid": HybridEngine}
    if manifest.get("engine") not in classes:
        raise SuggestError(f"{manifest_path}: engine {manifest.get('engine')!r} is not a model this "
                           f"suggest loads (it loads {one_of(classes)})")
    params = dict(manifest["params"])
    if params.get("rules"):
        params["rules"] = str(folder / "rules.yaml")
    engine = classes[manifest["engine"]](**params)
    try:
        engine.features_, engine.candidates_, engine.grades_, schema = _read_state(
            folder, manifest, params, catalog if len(catalog.columns) > 1 or len(catalog) else None)
    except KeyError as missing:  # a folder of the same format from a build before its release
        raise SuggestError(f"{folder}: state.json or statistics/ lack {missing}, which this "
                           f"suggest {__version__} reads",
                           hint="retrain the model with this version") from None
    engine._remember_context(schema)
    engine.zone_ = manifest.get("zone")  # a folder written before it kept none
    engine._one = None
    recorded = manifest["features"]["names"]
    if engine.features_.names_ != recorded:
        extra = sorted(set(engine.features_.names_) ^ set(recorded))
        raise SuggestError(f"{folder}: the model was trained on other features than this code "
                           f"builds ({', '.join(extra[:5]) or 'same names, other order'})",
                           hint="retrain the model with this version of suggest")
    engine.booster_ = lightgbm.Booster(model_file=str(folder / "model.txt"))
    if engine.booster_.num_feature() != len(recorded):
        raise SuggestError(f"{folder}/model.txt has {engine.booster_.num_feature()} features, "
                           f"the manifest {len(recorded)}")
    engine.validation_ = manifest["validation"]
    engine.candidate_recall_ = manifest["candidates"]["recall"]
    engine.manifest_ = manifest
    trained = pd.read_parquet(folder / "trained.parquet")["request_id"]
    engine.trained_on_ = set(trained.to_numpy(dtype=object).tolist())  # replay's leakage check
    return engine


def check_fits(engine, requests: pd.DataFrame, source: str) -> None:
    """Refuse a loaded model whose features need context the log ``source`` does not have.

    A model trained on another dataset fails here with the columns named,
    instead of scoring every request with missing features.
    """
    from suggest.ranker.features import context_columns

    context, has_time = context_columns(requests), "timestamp" in requests.columns
    trained = {name: kind for name, (kind, _) in engine.features_.context_.items()}
    missing = sorted(set(trained) - set(context))
    other = sorted(c for c in set(trained) & set(context) if trained[c] != context[c])
    problems = []
    if missing:
        problems.append(f"context column(s) {', '.join(missing[:8])} missing from the log")
    if other:
        problems.append(", ".join(f"'{c}' is {context[c]} in the log but {trained[c]} in the model"
                                  for c in other[:5]))
    if engine.features_.has_time_ and not has_time:
        problems.append("the model uses time of day but the log has no timestamps")
    if problems:
        name = (getattr(engine, "manifest_", {}) or {}).get("dataset", {}).get("name")
        raise SuggestError(f"the model does not fit {source}: " + "; ".join(problems),
                           hint=(f"it was trained on dataset '{name}'; " if name else "")
                           + "train a model on this dataset (suggest train) or pass the dataset "
                             "the model was trained on")
