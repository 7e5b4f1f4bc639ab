"""Model artifacts: a folder with LightGBM's own text model, a manifest and Parquet state.

``models/<name>/``:

* ``model.txt``      LightGBM's text model (``Booster.save_model``);
* ``manifest.json``  settings, feature names and types, category encodings,
  candidate settings, training window, data fingerprint, package versions,
  validation metrics, candidate recall, feature importance, the dataset it
  came from, a SHA-256 of every other file and one of the manifest itself
  (so an edited setting is caught like an edited model);
* ``rules.yaml``     a copy of the rule file the model was trained with, if any;
* ``requests.parquet``, ``truth.parquet``, ``catalog.parquet``: the training
  data the ranker's history statistics and candidate sources are rebuilt
  from when it is loaded (deterministically: the rebuilt feature names and
  encodings must equal the manifest's, or loading fails).

Nothing is ever unpickled: Parquet, JSON and LightGBM text only. A file
whose checksum differs from the manifest, a manifest from another format
version, or a rebuilt feature set that differs from the one recorded, stops
the load with an error naming the mismatch.
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

FORMAT = 2  # 2: the manifest carries its own checksum and the dataset
FILES = ("model.txt", "requests.parquet", "truth.parquet", "catalog.parquet")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(requests: pd.DataFrame, truth: pd.DataFrame) -> str:
    """A short hash of the training data (request ids, users, items, relevance)."""
    parts = [pd.util.hash_pandas_object(requests[["request_id", "user_id"]].astype(str), index=False),
             pd.util.hash_pandas_object(truth[["request_id", "item_id"]].astype(str), index=False),
             pd.util.hash_pandas_object(truth["relevance"].astype(float), index=False)]
    digest = hashlib.sha256(b"".join(p.to_numpy().tobytes() for p in parts))
    return digest.hexdigest()[:16]


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

    engine.check_fitted()
    final = Path(directory)
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    engine.booster_.save_model(str(work / "model.txt"))
    files = list(FILES)
    if engine.rules:  # the rule file shapes candidates and features: it travels with the model
        shutil.copyfile(engine.rules, work / "rules.yaml")
        files.append("rules.yaml")
    _parquet(requests, work / "requests.parquet")
    _parquet(truth[["request_id", "item_id", "relevance"]], work / "truth.parquet")
    _parquet(catalog if catalog is not None else pd.DataFrame({"item_id": pd.Series(dtype=str)}),
             work / "catalog.parquet")
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
    requests = pd.read_parquet(folder / "requests.parquet")
    truth = pd.read_parquet(folder / "truth.parquet")
    catalog = pd.read_parquet(folder / "catalog.parquet")
    if fingerprint(requests, truth) != manifest["training"]["fingerprint"]:
        raise SuggestError(f"{folder}: training data does not match the manifest's fingerprint")
    classes = {"ranker": RankerEngine, "hybrid": HybridEngine}
    if manifest.get("engine") not in classes:
        raise SuggestError(f"{manifest_path}: engine {manifest.get('engine')!r} is not a model this "
                           f"suggest loads (it loads {one_of(classes)})")
    params = dict(manifest["params"])
    if params.get("rules"):
        params["rules"] = str(folder / "rules.yaml")
    engine = classes[manifest["engine"]](**params)
    engine.prepare(requests, truth, catalog if len(catalog.columns) > 1 or len(catalog) else None)
    recorded = manifest["features"]["names"]
    if engine.features_.names_ != recorded:
        extra = sorted(set(engine.features_.names_) ^ set(recorded))
        raise SuggestError(f"{folder}: the model was trained on other features than this code "
                           f"builds ({', '.join(extra[:5]) or 'same names, other order'})",
                           hint="retrain the model with this version of suggest")
    # same names but other codes would silently change what the booster's splits mean
    built, saved = _describe(engine.features_), manifest["features"]
    changed = [f"{part} '{name}'" for part in ("context", "attributes")
               for name in sorted(set(built[part]) | set(saved.get(part, {})))
               if built[part].get(name) != saved.get(part, {}).get(name)]
    changed += [part for part in ("categorical", "items") if built[part] != saved.get(part)]
    if changed:
        raise SuggestError(f"{folder}: the category encodings this code builds differ from the "
                           f"model's ({', '.join(changed[:5])})",
                           hint="retrain the model with this version of suggest")
    engine.booster_ = lightgbm.Booster(model_file=str(folder / "model.txt"))
    if engine.booster_.num_feature() != len(recorded):
        raise SuggestError(f"{folder}/model.txt has {engine.booster_.num_feature()} features, "
                           f"the manifest {len(recorded)}")
    engine.validation_ = manifest["validation"]
    engine.candidate_recall_ = manifest["candidates"]["recall"]
    engine.manifest_ = manifest
    engine.trained_on_ = set(requests["request_id"].astype(str))  # for replay's leakage check
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
