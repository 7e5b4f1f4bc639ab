"""Replay: every engine on the same logged requests, side by side (DESIGN section 6).

:func:`split` holds out the latest ``test_share`` of requests by time (a
seeded share of requests without time). :func:`replay` fits every engine on
the training part only, then streams the test part in chunks through all
engines, writing per chunk the Suggestions and the Results (per request and
engine: every metric, ``latency_us`` and the request's context columns)
as Parquet under ``RUN/chunks/``. A ``state.json`` records the completed
chunks and a fingerprint of the settings; a replay started again with the
same settings resumes after the last completed chunk, with identical final
results. Only when every chunk is done are ``suggestions.parquet``,
``results.parquet`` and ``summary.json`` written (each beside its name, then
moved in place), so an interrupted run never looks complete.

``latency_us`` is the engine's time for its chunk divided by the chunk's
requests (amortised batch latency); ``summary.json`` also gives
single-context latency percentiles measured with ``suggest_one`` on a sample,
and ``seconds``: where the run's time went (split and fit, chunks, final
files, summary).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data.timefields import TIME_FIELDS
from suggest.engines.base import adopt_fitted, check_suggestions
from suggest.errors import SuggestError, percent
from suggest.files import RETRY, json_text, write_atomic
from suggest.ids import as_text, isin
from suggest.splits import Split, split  # noqa: F401  (split is this module's API too)
from suggest.evaluate import check_gain, evaluate, metric_names
from suggest.segments import MIN_SEGMENT, MISSING, RETURNING, TIME_SEGMENTS, check_min_size
from suggest.stats import compare_by_place
from suggest.verdict import headline_tests, headline_words, same_kinds, tests_text, verdict_pairs


def _write(path: Path, content) -> None:
    """A replay's file, whole or absent (:func:`suggest.files.write_atomic`)."""
    write_atomic(path, content, hint=RETRY + ": finished chunks are kept")


def _recorded(params: dict) -> dict:
    """An engine's parameters as summary.json records them: a rule set parsed in memory as
    its source and a digest of its rules (so an edited one is another replay)."""
    from suggest.rules.model import RuleSet

    return {key: (f"{value.source} (parsed in memory, "
                  f"{hashlib.sha256(repr(value).encode()).hexdigest()[:12]})"
                  if isinstance(value, RuleSet) else value) for key, value in params.items()}


def _fingerprint(settings: dict, data: str) -> str:
    """What a replay's chunks depend on, as one digest: the settings with every file named
    by its content instead of its path (a rule file edited since is another replay, and the
    same files named from another folder the same one) and ``data``, the log's content
    (:func:`data_digest`), for the log's path (an edited log is another replay)."""
    canonical = {key: _by_content(value) for key, value in settings.items() if key != "log"}
    canonical["data"] = data
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _by_content(value):
    """``value`` with each text naming a file replaced by a digest of its bytes (rule files:
    small), and each naming a folder by its absolute path."""
    if isinstance(value, dict):
        return {key: _by_content(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_by_content(v) for v in value]
    if isinstance(value, str) and value and len(value) < 4096:
        try:
            path = Path(value)
            if path.is_file():
                return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
            if path.is_dir():
                return "folder:" + str(path.resolve())
        except (OSError, ValueError):
            pass
    return value


def data_digest(requests: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Two wrapping sums of row hashes (every column of the requests; request, item and
    relevance of the truth), whatever the order: the sums of a log's pieces add up to the
    whole log's, so a log the workers hold gives the digest one process gives."""
    truth = truth[["request_id", "item_id"]].assign(
        relevance=truth["relevance"].to_numpy(dtype=float))
    return np.array([_row_hashes(frame).sum(dtype=np.uint64) for frame in (requests, truth)],
                    dtype=np.uint64)


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A uint64 per row from every column's values (ids and text by their bytes)."""
    from suggest.data.timefields import arrow_text
    from suggest.hashing import mix64, text_hashes

    row = np.zeros(len(frame), np.uint64)
    for column in frame.columns:
        values = frame[column]
        text = arrow_text(values) or column in ("request_id", "user_id", "item_id")
        cells = (text_hashes(values if arrow_text(values) else values.astype(str)) if text
                 else pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64))
        row = mix64(row * np.uint64(0x100000001B3) + cells)
    return row


def digest_text(sums: np.ndarray, catalog: pd.DataFrame | None) -> str:
    """The log's digest as text, with its catalog's (every engine is fitted with it)."""
    items = _row_hashes(catalog).sum(dtype=np.uint64) if catalog is not None and len(catalog) else 0
    return "-".join(f"{int(v):016x}" for v in (*sums, items))


class _FolderLock:
    """``out/.lock`` while a replay writes into ``out``: a second replay into the same folder
    is refused at once (a lock left by a process that is gone is taken over)."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self.path.read_text(errors="replace").strip() if self.path.exists() else ""
                if owner.isdigit() and _alive(int(owner)):
                    raise SuggestError(f"another replay (process {owner}) is writing to "
                                       f"{self.path.parent}", where=str(self.path),
                                       hint="wait for it to finish, or replay into another folder "
                                            "(-o)") from None
                self.path.unlink(missing_ok=True)  # left by a process that is gone
                continue
            with os.fdopen(handle, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise SuggestError(f"cannot lock {self.path.parent} for the replay", where=str(self.path))

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _usable_chunks(done: list[int], chunks_dir: Path, rows: dict[int, int]) -> list[int]:
    """The finished chunks whose two files read and hold the rows expected (``rows[c]`` in
    the results); a damaged or truncated one is redone, not trusted."""
    import pyarrow.parquet as pq

    usable = []
    for c in done:
        try:
            results = pq.read_metadata(chunks_dir / f"results-{c:05d}.parquet").num_rows
            pq.read_metadata(chunks_dir / f"suggestions-{c:05d}.parquet")
        except Exception:  # missing, truncated, not Parquet: pyarrow raises several kinds
            continue
        if results == rows.get(c):
            usable.append(c)
    return usable


def _trained_where(model, log: str | None) -> str:
    """What to do about a trained model that saw held-out requests, from what its manifest
    says it was trained on (``log``: the log this replay reads)."""
    said = (getattr(model, "manifest_", None) or {}).get("dataset") or {}
    elsewhere = said.get("log") and log and Path(said["log"]).resolve() != Path(log).resolve()
    if elsewhere:
        return (f"it was trained on another log ({said['log']}; this replay reads {log}), whose "
                "request ids these share: replay it on its own log, or train a model on this one")
    if not said:  # saved from Python without dataset=: its manifest names no log or split
        return ("its manifest does not say which log or split it was trained on (saved without "
                "dataset=): train it with `suggest train --test-share 0.2` on this log, or drop "
                "--model to let replay train it")
    if said.get("held_out"):
        options = said.get("replay_options", "--test-share and --seed as in training")
        if said.get("replay_options") and "--split" not in options:  # trained with the default
            options += ", without --split"
        return (f"it held out {said['held_out']}: replay with the options it was trained with "
                f"({options}), or drop --model to let replay train it")
    return ("it was trained on every request of its log: train it with `suggest train "
            "--test-share 0.2` (replay holds out the same requests with the same --test-share "
            "and --seed), or drop --model to let replay train it")


def replay(log, engines: dict, out: str | Path, *, ks=(1, 3, 5, 10), test_share: float = 0.2,
           seed: int = 0, chunk_size: int = 20_000, progress: bool = False,
           latency_sample: int = 200, compare: list[tuple[str, str]] | None = None,
           settings: dict | None = None, runner=None, metric: str | None = None,
           min_segment: int = MIN_SEGMENT, split_by: str = "auto", gap=None,
           clip: float | None = None, force: bool = False, notes: list[str] = (),
           gain: str = "linear", cautions: list[str] = ()) -> dict:
    """Fit ``engines`` (name -> unfitted engine) on the training part of ``log`` (a loaded
    log, or the path of its dataset description) and replay the test part through all of
    them into the folder ``out``; return the summary.
    ``notes``: warnings of the caller's, kept in the summary's ``warnings`` with the log's
    (:func:`suggest.workflow.log_warnings`) and a model's trained on another split;
    ``cautions``: the caller's words on what the comparison itself is (a model trained with
    other rules), said in the verdict before its details.

    ``metric`` is the primary metric of the verdict (default ``ndcg@5``, or ndcg at
    the largest cutoff when 5 is not one of ``ks``); ``min_segment`` the smallest
    segment tested on its own (:mod:`suggest.segments`); ``gain`` NDCG's gain, ``linear``
    (the relevance) or ``exp`` (2^relevance - 1: a purchase graded 3 weighs 7 clicks).

    ``runner`` says where the chunks run (:mod:`suggest.parallel`: in this
    process by default, joblib workers, or a Dask cluster); the results are
    the same whichever runs them. ``split_by`` and ``gap`` choose the held-out
    requests (:mod:`suggest.splits`); the summary's ``leakage`` says how much of
    them the training part has already seen.

    An interrupted replay resumes from its finished chunks (a chunk file that is
    damaged or short is redone); a second replay into a folder another one is
    writing is refused at once (``out/.lock``). A folder holding a finished replay of
    other settings is replaced only with ``force``.
    """
    if isinstance(log, (str, Path)):  # a dataset description's path, as suggest.load takes
        from suggest.data import load

        log = load(log)
    if not isinstance(engines, dict):
        raise SuggestError(f"engines must map a name to an engine, not a {type(engines).__name__}",
                           hint='e.g. {"rules": get_engine("rules", rules="rules.yaml"), '
                                '"popular": get_engine("popular")}')
    out = Path(out)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with _FolderLock(out):
            return _replay(log, engines, out, ks=ks, test_share=test_share, seed=seed,
                           chunk_size=chunk_size, progress=progress, latency_sample=latency_sample,
                           compare=compare, settings=settings, runner=runner, metric=metric,
                           min_segment=min_segment, split_by=split_by, gap=gap, clip=clip,
                           force=force, notes=notes, gain=gain, cautions=cautions)
    except SuggestError:
        if made and not any(p.is_file() for p in out.rglob("*")):
            shutil.rmtree(out, ignore_errors=True)  # refused before any work: no empty folder left
        raise


def _replay(log, engines: dict, out: str | Path, *, ks=(1, 3, 5, 10), test_share: float = 0.2,
           seed: int = 0, chunk_size: int = 20_000, progress: bool = False,
           latency_sample: int = 200, compare: list[tuple[str, str]] | None = None,
           settings: dict | None = None, runner=None, metric: str | None = None,
           min_segment: int = MIN_SEGMENT, split_by: str = "auto", gap=None,
           clip: float | None = None, force: bool = False, notes: list[str] = (),
           gain: str = "linear", cautions: list[str] = ()) -> dict:
    """The replay itself (see :func:`replay`), in a locked folder."""
    from functools import partial

    from tqdm.auto import tqdm

    from suggest.parallel import LocalRunner

    out = Path(out)
    names = metric_names(ks)
    k = max(ks)
    replaced = metric_note(metric, ks)
    metric = primary_metric(metric, ks)
    check_min_size(min_segment)
    check_gain(gain)
    chunks_dir = out / "chunks"
    clock = [("start", time.perf_counter())]
    held = held_out(log, test_share, seed, split_by, gap, chunk_size)
    settings = {"engines": {n: _recorded(e.get_params()) for n, e in engines.items()}, "ks": list(ks),
                "test_share": test_share, "seed": seed, "chunk_size": chunk_size,
                "split": split_by, "gap": None if gap is None else str(gap),
                "requests": held.requests, "truth": held.truth, **(settings or {}),
                **({"clip": clip} if clip is not None else {}),
                **({"gain": gain} if gain != "linear" else {})}  # runs before it keep their digest
    # a trained model (--model) by its manifest's checksum: retrained into the same folder,
    # it is another replay (its settings name only its training data)
    models = {n: e.engine.manifest_.get("manifest_sha256") for n, e in engines.items()
              if hasattr(getattr(e, "engine", None), "manifest_")}
    fingerprint = _fingerprint({**settings, "models": models}, held.data_digest())
    state_path = out / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("fingerprint") != fingerprint and (out / "summary.json").exists() and not force:
        raise SuggestError(f"{out} holds a finished replay with other settings",
                           hint="pass --force to replace it, or choose another -o folder (the "
                                "same command as before resumes or keeps it)")
    for name, engine in engines.items():  # before anything in the folder is replaced
        model = getattr(engine, "engine", engine)
        seen = getattr(model, "trained_on_", None)
        overlap = held.overlap(seen) if seen else 0
        if overlap:
            raise SuggestError(f"engine '{name}' was trained on requests with the ids of "
                               f"{overlap:,} of the {held.test_requests:,} held-out requests: its "
                               "scores would include its own training data",
                               hint=_trained_where(model, (settings or {}).get("log")))
    chunks_dir.mkdir(parents=True, exist_ok=True)
    if state.get("fingerprint") != fingerprint:
        for stale in chunks_dir.glob("*.parquet"):
            stale.unlink()
        for stale in ("summary.json", "suggestions.parquet", "results.parquet", "truth.parquet",
                      "explanations.parquet"):
            (out / stale).unlink(missing_ok=True)
        state = {"fingerprint": fingerprint, "done": []}
    expected = {c: len(engines) * (min((c + 1) * chunk_size, held.test_requests) - c * chunk_size)
                for c in state["done"]}
    state["done"] = _usable_chunks(state["done"], chunks_dir, expected)
    n_chunks = max(1, -(-held.test_requests // chunk_size))
    done = len(state["done"])
    if done and progress:
        print(f"resuming: {done} of {n_chunks} chunks already done", file=__import__("sys").stderr)
    fitted, fit_seconds = {}, {}
    for name, engine in tqdm(engines.items(), desc="fitting", disable=None if progress else True,
                             leave=False):
        twin = next((other for other in fitted if _same_model(fitted[other], engine)), None)
        if twin is not None:  # the hybrid trains the ranker's very model: train it once
            if hasattr(fitted[twin], "twin"):  # held by a worker (suggest.daskfit)
                fitted[name] = fitted[twin].twin(engine)
            else:
                fitted[name] = adopt_fitted(engine, fitted[twin])
            if twin in fit_seconds:
                fit_seconds[name] = fit_seconds[twin]
            continue
        started = time.perf_counter()
        fitted[name] = held.fit(engine, log.catalog)
        if getattr(engine, "engine", None) is None:  # not a model trained elsewhere
            fit_seconds[name] = round(time.perf_counter() - started, 3)
    clock.append(("split_and_fit", time.perf_counter()))
    # the request's local hour and weekday are segments too (suggest.segments)
    context = list(log.context) + [c for c in TIME_SEGMENTS if c in held.columns
                                   and c not in log.context]
    bar = tqdm(total=n_chunks, initial=len(state["done"]), desc="replaying", unit="chunk",
               disable=None if progress else True, leave=False)
    todo = [c for c in range(n_chunks) if c not in state["done"]]
    score = partial(_score_chunk, names=names, k=k, context=context, gain=gain)
    for c, (suggestions, results) in held.chunks(runner or LocalRunner(), score, fitted, todo):
        _write(chunks_dir / f"suggestions-{c:05d}.parquet", suggestions)
        _write(chunks_dir / f"results-{c:05d}.parquet", results)
        state["done"].append(c)
        _write(state_path, json.dumps(state))
        bar.update(1)
    bar.close()
    clock.append(("chunks", time.perf_counter()))
    # The final files are streamed chunk by chunk and the summary is kept as running
    # totals on the way, so no step holds the whole run (only the per-request values
    # the paired tests need).
    totals = _ChunkTotals(list(fitted), names, metric, held.item_counts())
    for kind in ("suggestions", "results"):
        _concatenate([chunks_dir / f"{kind}-{c:05d}.parquet" for c in range(n_chunks)],
                     out / f"{kind}.parquet.partial", getattr(totals, f"add_{kind}"))
    clock.append(("final_files", time.perf_counter()))
    # every final file is written under a .partial name and they all take their names
    # at the end, summary.json last: a replay stopped on the way leaves none that looks done
    for stale in ("truth.parquet", "explanations.parquet", "summary.json"):  # a stopped run's
        (out / f"{stale}.partial").unlink(missing_ok=True)
    held.write_test_truth(out / "truth.parquet.partial")
    summary = _summary(totals, held, fitted, names, k, compare, latency_sample, seed,
                       out / "results.parquet.partial")
    for name, seconds in fit_seconds.items():
        summary["engines"][name]["fit_seconds"] = seconds
    summary["ranker"] = _ranker_cards(fitted, held, out / "truth.parquet.partial")
    from suggest.data.load import many_rejected
    from suggest.workflow import log_warnings

    said_first = many_rejected(log.report.rows_in, log.report.rows_rejected,
                               log.report.reject_reasons)  # the verdict's caution says it
    summary["warnings"] = [*(w for w in log_warnings(log) if w != said_first), *notes,
                           *_other_splits(summary["ranker"]),
                           *_one_tree(summary["ranker"], out / "suggestions.parquet.partial",
                                      int(metric.split("@")[1])),
                           *_ties_at_cut(summary["ranker"], out / "suggestions.parquet.partial",
                                         int(metric.split("@")[1]))]
    summary["data"] = data_card(log, held)
    summary["cautions"] = list(cautions)
    summary["ranker_below_baseline"] = below_baseline(summary, metric)
    _add_verdict(summary, out / "results.parquet.partial", metric, min_segment, seed)
    if replaced:
        summary["verdict"]["metric_note"] = replaced
    _explain_sample(fitted, held, out / "results.parquet.partial", summary, metric, k, seed,
                    out / "explanations.parquet.partial")
    summary.update(_counterfactual(log, held, out, list(fitted), k, seed, clip))
    if summary.get("counterfactual"):
        from suggest.counterfactual import from_summary, verdict_caution

        caution = verdict_caution(from_summary(summary))
        verdict = summary.get("verdict")
        if caution and verdict:
            said = verdict["sentences"]
            if verdict.get("headline") in said:  # the answer is the plain metrics'
                said[said.index(verdict["headline"])] = verdict["headline"] = (
                    verdict["headline"].rstrip(".") + ", by the plain metrics (which favour the "
                    "engine that chose what was shown).")
            said.insert(0, caution)
    clock.append(("summary", time.perf_counter()))
    summary["settings"] = settings
    summary["gain"] = gain
    # where the time went (the chunks of this call only, when it resumed a replay)
    summary["seconds"] = {step: round(t - clock[i][1], 2) for i, (step, t) in enumerate(clock[1:])}
    _write(out / "summary.json.partial", json_text(summary) + "\n")  # NaN: null
    for kind in ("suggestions", "results", "truth", "explanations"):
        if (out / f"{kind}.parquet.partial").exists():  # no explanations without a sample
            os.replace(out / f"{kind}.parquet.partial", out / f"{kind}.parquet")
    os.replace(out / "summary.json.partial", out / "summary.json")
    return summary


def _counterfactual(log, held, out: Path, engines: list[str], k: int, seed: int,
                    clip: float | None) -> dict:
    """``counterfactual`` (and ``oracle`` on a simulated service) of a replay on a log of what
    was shown, from the run's files and the held-out shown rows; nothing on any other log."""
    parts = held.shown_parts()
    if parts is None:
        return {}
    from suggest.counterfactual import for_replay
    from suggest.simulate import service_truth

    train_sums, test_shown = parts
    table = pd.read_parquet(out / "suggestions.parquet.partial",
                            columns=["request_id", "engine", "rank", "item_id"],
                            filters=[("rank", "<=", k)])
    test_ids = pd.unique(pd.read_parquet(out / "results.parquet.partial",
                                         columns=["request_id"])["request_id"].astype(str))
    oracle = service_truth(log.dataset.source, test_ids)
    found = for_replay(test_shown, train_sums, test_ids, table, engines, k,
                       truth=pd.read_parquet(out / "truth.parquet.partial"), seed=seed, clip=clip,
                       oracle=oracle,
                       contexts=_held_out_contexts(out / "results.parquet.partial", engines))
    # as the summary has it: an entry per engine; what to read from them beside it
    result = {"counterfactual": found["engines"],
              "counterfactual_verdict": {k: v for k, v in found.items() if k != "engines"}}
    if oracle is not None:
        result["oracle"] = {name: entry["oracle"] for name, entry in found["engines"].items()}
    return result


def _held_out_contexts(results: Path, engines: list[str]) -> pd.DataFrame:
    """The held-out requests' context values (and hour and weekday), by request id, from
    one engine's rows of the results file: what support reads per context."""
    import pyarrow.parquet as pq

    from suggest.segments import segment_columns

    names = [c for c in pq.read_schema(results).names if c != RETURNING]
    columns = segment_columns(pd.DataFrame(columns=names))
    frame = pd.read_parquet(results, columns=["request_id", *columns],
                            filters=[("engine", "==", engines[0])])
    return frame.set_index(frame["request_id"].astype(str)).drop(columns="request_id")


def held_out(log, test_share: float, seed: int, split_by: str, gap, chunk_size: int):
    """The held-out part of ``log`` a replay scores: :class:`LocalHeldOut` of a loaded log,
    or the workers' (:class:`suggest.daskreplay.DaskHeldOut`) of a log they hold."""
    if hasattr(log, "buckets"):
        from suggest.daskreplay import DaskHeldOut

        return DaskHeldOut(log, test_share, seed, split_by, gap, chunk_size)
    return LocalHeldOut(log, split(log.requests, log.truth, test_share, seed, how=split_by,
                                   gap=gap), chunk_size)


class LocalHeldOut:
    """What a replay asks of its split, from the frames this process holds: counts, the
    engines fitted on the training part, the test part in chunks of ``chunk_size``
    requests (each with its truth), and a few rows of it. :class:`suggest.daskreplay.DaskHeldOut`
    answers the same from the workers."""

    def __init__(self, log, parts: Split, chunk_size: int):
        self.log, self.parts, self.size = log, parts, chunk_size
        self.how, self.kind, self.left_out, self.leakage = (parts.how, parts.kind, parts.left_out,
                                                            parts.leakage)
        self.train_requests, self.test_requests = len(parts.train), len(parts.test)
        self.requests, self.truth = len(log.requests), len(log.truth)
        self.columns = list(parts.test.columns)
        self.catalog_items = log.catalog["item_id"]
        # each truth row's chunk, found once (a string isin per chunk costs more than the chunk)
        self._truth_chunk = pd.Index(parts.test["request_id"]).get_indexer(
            parts.test_truth["request_id"]) // chunk_size
        # each held-out request's user has a request in the training part (a segment)
        self._returning = isin(parts.test["user_id"], parts.train["user_id"])

    def data_digest(self) -> str:
        """The log's content (:func:`data_digest`), for the replay's fingerprint."""
        return digest_text(data_digest(self.log.requests, self.log.truth), self.log.catalog)

    def overlap(self, ids: set) -> int:
        """How many held-out requests are among ``ids``."""
        return len(set(self.parts.test["request_id"].astype(str)) & ids)

    def fit(self, engine, catalog):
        return engine.fit(self.parts.train, self.parts.train_truth, catalog)

    def chunks(self, runner, fn, shared, todo: list[int]):
        """``(c, fn(shared, chunk c, its truth, whether each of its users is returning))``
        for every chunk number in ``todo``."""
        truth, size = self.parts.test_truth, self.size
        return runner.run(fn, shared, self.parts.test, size, todo,
                          lambda c: (truth[self._truth_chunk == c],
                                     self._returning[c * size:(c + 1) * size]))

    def write_test_truth(self, path: Path) -> None:
        """The held-out truth, chunk after chunk (each in the log's order)."""
        truth = self.parts.test_truth.iloc[np.argsort(self._truth_chunk, kind="stable")]
        _write(path, truth.astype({"request_id": str, "item_id": str}))

    def item_counts(self) -> pd.Series:
        from suggest.engines.baselines import item_counts

        return item_counts(self.parts.train_truth)

    def test_rows(self, at: np.ndarray) -> pd.DataFrame:
        """The held-out requests at these places of the test part."""
        return self.parts.test.iloc[at]

    def with_ids(self, ids) -> pd.DataFrame:
        test = self.parts.test
        return test[isin(test["request_id"].astype(str), ids)]

    def fired(self, engine) -> np.ndarray:
        """How many held-out requests each rule of a rules engine fired on."""
        return engine.fired(self.parts.test).sum(axis=0)

    def shown_parts(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """On a log of what was shown: the training part's reward sums by item and position
        (:func:`suggest.counterfactual.reward_sums`) and the held-out part's shown rows;
        else None."""
        from suggest.counterfactual import reward_sums, shown_rows

        events = self.log.events
        if "position" not in events.columns:
            return None
        ids = events["request_id"]
        train = shown_rows(events[isin(ids, self.parts.train["request_id"])])
        return reward_sums(train), shown_rows(events[isin(ids, self.parts.test["request_id"])])

    def train_window(self) -> tuple[int, list[str] | None]:
        """The training requests and their first and last time (None without time)."""
        train = self.parts.train
        if "timestamp" not in train.columns or not len(train):
            return len(train), None
        return len(train), [str(train["timestamp"].min()), str(train["timestamp"].max())]


def _score_chunk(engines: dict, chunk: pd.DataFrame, truth: pd.DataFrame, returning: np.ndarray,
                 *, names: list[str], k: int, context: list[str],
                 gain: str = "linear") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One chunk through every engine: its Suggestions and its Results (what a worker runs);
    ``returning``: whether each request's user has a request in the training part (the
    :data:`RETURNING` segment)."""
    suggestions, results = [], []
    rules = engines.get("rules")  # its block rules: does another engine show what they remove?
    blocks = rules if hasattr(rules, "blocked_shown") else None
    fired = blocks.block_fired(chunk) if blocks is not None else None  # once, for every engine
    for name, engine in engines.items():
        started = time.perf_counter()
        out_frame = engine.suggest(chunk, k)
        per_request_us = (time.perf_counter() - started) * 1e6 / max(len(chunk), 1)
        check_suggestions(out_frame, name)
        out_frame = out_frame.assign(engine=name)
        suggestions.append(out_frame)
        if blocks is not None:
            shown = blocks.blocked_shown(chunk, out_frame, fired)
            first = (out_frame.loc[shown, ["request_id", "rank"]].groupby("request_id")["rank"]
                     .min())  # the best place a removed item holds in the list
            blocked_rank = first.reindex(chunk["request_id"]).to_numpy(dtype=float)
        scored = evaluate(out_frame, truth, names, gain=gain).per_request
        rows = chunk[["request_id", *context]].merge(scored, on="request_id", how="left")
        rows.insert(1, "engine", name)
        rows[RETURNING] = returning  # the left merge keeps the chunk's order
        rows["has_positive"] = isin(rows["request_id"], scored["request_id"])
        rows["answered"] = isin(rows["request_id"], out_frame["request_id"])
        rows["latency_us"] = per_request_us
        if blocks is not None:
            rows["block_fired"], rows["blocked_rank"] = fired.any(axis=0), blocked_rank
        results.append(rows)
    # categoricals as text before concatenating: pandas turns those whose categories
    # differ into text row by row
    return (pd.concat([_plain(s) for s in suggestions], ignore_index=True),
            pd.concat([_plain(r) for r in results], ignore_index=True))


def _concatenate(paths: list[Path], target: Path, visit=None) -> None:
    """Append Parquet files into one, one file at a time (same columns, unified types);
    ``visit(table)`` sees each file's table on the way."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    with pq.ParquetWriter(target, schema) as writer:
        for path in paths:
            table = pq.read_table(path).select(schema.names).cast(schema)
            writer.write_table(table)
            if visit is not None:
                visit(table)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text so chunks concatenate with the same columns and types."""
    text = {c: as_text(frame[c]) for c in frame.columns
            if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.assign(**text) if text else frame


class _ChunkTotals:
    """What the summary needs from the chunk files, gathered one chunk at a time.

    Sums and counts for the means, the items shown at each cutoff for coverage,
    popularity ranks for the bias figure, every request's latency (a figure per
    chunk, repeated) for the percentiles, and per request only the metrics the
    paired tests compare.
    """

    def __init__(self, engines: list[str], names: list[str], metric: str, item_counts: pd.Series):
        from suggest.engines.baselines import ranked_items

        self.names = names
        self.precision = [m for m in names if m.startswith("precision@")]
        self.primary = metric
        self.focus = [m for m in names if m.endswith("@" + metric.split("@")[1])]
        self.cuts = sorted({int(m.split("@")[1]) for m in names})
        popular, _ = ranked_items(item_counts)  # training engagements, then item id
        self.pop_rank = pd.Series(np.arange(1, len(popular) + 1), index=popular)
        zero = {m: 0.0 for m in names}
        self.engines = {e: {"sums": dict(zero), "scored": 0, "rows": 0, "answered": 0,
                            "answered_sums": {m: 0.0 for m in self.precision}, "answered_scored": 0,
                            "latency": [], "shown": {c: set() for c in self.cuts},
                            "pop_sum": 0.0, "pop_n": 0} for e in engines}
        self.placed: dict[str, int] = {}

    def add_results(self, table) -> None:
        blocks = [c for c in ("block_fired", "blocked_rank") if c in table.column_names]
        frame = table.select(["request_id", "engine", "has_positive", "answered", "latency_us",
                              *self.names, *blocks]).to_pandas()
        cut = int(self.primary.split("@")[1])
        for name, rows in frame.groupby("engine", sort=False):
            t = self.engines[name]
            if blocks:  # requests where a block fired; of them, those showing a removed item
                t["block_fired"] = t.get("block_fired", 0) + int(rows["block_fired"].sum())
                t["blocked_shown"] = t.get("blocked_shown", 0) + int(
                    (rows["blocked_rank"].to_numpy(dtype=float) <= cut).sum())
            scored = rows[rows["has_positive"].to_numpy()]
            answered = scored[scored["answered"].to_numpy()]
            for m in self.names:
                t["sums"][m] += float(scored[m].sum())
            for m in self.precision:
                t["answered_sums"][m] += float(answered[m].sum())
            t["scored"] += len(scored)
            t["answered_scored"] += len(answered)
            t["rows"] += len(rows)
            t["answered"] += int(rows["answered"].sum())
            # a chunk's latency is one figure, repeated on its rows: kept once with its count
            latency = rows["latency_us"].to_numpy()
            values, counts = np.unique(latency, return_counts=True)
            t["latency"].append((values, counts))

    def add_suggestions(self, table) -> None:
        frame = table.select(["request_id", "engine", "rank", "item_id", "reason"]).to_pandas()
        self._placed(frame[frame["engine"] == "rules"])
        for name, rows in frame.groupby("engine", sort=False):
            t = self.engines[name]
            codes, items = pd.factorize(rows["item_id"].astype(str), use_na_sentinel=False)
            ranks = self.pop_rank.reindex(items).fillna(len(self.pop_rank) + 1).to_numpy()
            t["pop_sum"] += float(ranks[codes].sum())
            t["pop_n"] += len(rows)
            rank = rows["rank"].to_numpy()
            for cut in self.cuts:
                t["shown"][cut].update(items[np.unique(codes[rank <= cut])])

    def _placed(self, rows: pd.DataFrame) -> None:
        """Per rule, the requests where it placed at least one shown item (its id is in the
        item's reason): a rule that fires but never places one is shadowed."""
        if rows.empty:
            return
        codes, reasons = pd.factorize(rows["reason"].astype(str))
        ids = [text.split(",") for text in reasons]  # once per distinct reason, not per row
        rules = pd.Index(sorted({i for group in ids for i in group}))
        width = np.array([len(group) for group in ids])
        members = rules.get_indexer([i for group in ids for i in group])
        start = np.concatenate(([0], np.cumsum(width)[:-1]))
        # every (row, rule of its reason) pair, then distinct (request, rule)
        row_of = np.repeat(np.arange(len(codes)), width[codes])
        offset = np.arange(len(row_of)) - np.repeat(np.cumsum(width[codes]) - width[codes],
                                                     width[codes])
        rule_of = members[start[codes[row_of]] + offset]
        request = pd.factorize(rows["request_id"].to_numpy())[0][row_of]
        pairs = np.unique(request.astype(np.int64) * len(rules) + rule_of)
        counts = np.bincount(pairs % len(rules), minlength=len(rules))
        for rule, n in zip(rules, counts):
            self.placed[rule] = self.placed.get(rule, 0) + int(n)

    def entry(self, name: str, catalog: set[str]) -> dict:
        """Means, answered rate, coverage (of ``catalog``'s items: one a rule names that the
        catalog and the log lack is not counted, which read 180% on a 5-item catalog),
        popularity and latency of one engine."""
        t = self.engines[name]
        nan = float("nan")
        entry = {m: t["sums"][m] / t["scored"] if t["scored"] else nan for m in self.names}
        entry["answered_rate"] = t["answered"] / t["rows"] if t["rows"] else nan
        for m in self.precision:
            entry[f"{m}_answered"] = (t["answered_sums"][m] / t["answered_scored"]
                                      if t["answered_scored"] else nan)
        for cut in self.cuts:
            entry[f"catalog_coverage@{cut}"] = float(len(t["shown"][cut] & catalog)
                                                     / max(len(catalog), 1))
        entry["popularity_rank_mean"] = t["pop_sum"] / t["pop_n"] if t["pop_n"] else None
        if t.get("block_fired"):  # of the requests where a block rule fired: showing what it removes
            entry["block_requests"] = t["block_fired"]
            entry["blocked_shown_rate"] = t["blocked_shown"] / t["block_fired"]
        latency = np.concatenate([np.repeat(v, n) for v, n in t["latency"]]) if t["latency"] \
            else np.zeros(0)
        # a chunk's time over its requests: a mean per request, one value a chunk; its
        # percentiles are over chunks, and the name says so
        entry.update({f"latency_us_per_chunk_p{q}": float(np.percentile(latency, q))
                      for q in (50, 95, 99)})
        return entry



def _scored_values(path: Path):
    """``values(engine, metric)``: an engine's ``metric`` on the requests with a positive,
    read from the results file when asked. Every engine scores the same requests, chunk by
    chunk in the same order, so the paired tests join two engines' values by their place."""
    def values(engine: str, metric: str) -> np.ndarray:
        rows = pd.read_parquet(path, columns=["has_positive", metric],
                               filters=[("engine", "==", engine)])
        return rows[metric].to_numpy(dtype=float)[rows["has_positive"].to_numpy(dtype=bool)]
    return values


def _summary(totals: _ChunkTotals, held, fitted, names, k, compare, latency_sample, seed,
             results_path: Path):
    catalog = set(held.catalog_items.astype(str))  # once: coverage counts what it holds
    engines = {}
    warm, sample = _latency_samples(held, latency_sample)
    here = {n: e for n, e in fitted.items() if not hasattr(e, "ask")}
    timed = _one_context_latency(here, warm, sample, k)  # this process's engines, interleaved
    for name in fitted:
        engines[name] = totals.entry(name, catalog)
        engine = fitted[name]
        rule_set = getattr(engine, "rule_set_", None)
        source = getattr(rule_set, "source", None)
        if source is not None and name != "rules":  # another rule set beside the team's
            engines[name]["rule_set"] = str(source)
        if rule_set is not None:  # a list no longer than this, at any cutoff
            engines[name]["max_suggestions"] = int(rule_set.max_suggestions)
        engines[name].update(timed.get(name) or (  # an engine a worker holds: timed there
            engine.ask(_one_engine_latency, warm, sample, k) if name not in here else {}))
    pairs = compare if compare is not None else verdict_pairs(list(fitted), totals.primary, engines)
    headline = headline_tests(pairs, totals.primary, engines)
    comparisons = [c.to_dict() for c in compare_by_place(_scored_values(results_path), totals.focus,
                                                         pairs, seed=seed, headline=headline)]
    asked = {f: [c for c in comparisons if c["headline"] == (f == "headline")]
             for f in ("headline", "other")}
    distinct = {f: sum(1 for c in held if c["same_as"] is None) for f, held in asked.items()}
    tests = {**distinct, "alpha": 0.05, "headline_tests": headline_words(engines),
             # tests the same as another (the same difference on every request): counted once
             "asked": {f: len(held) for f, held in asked.items()},
             "same": {f: len(held) - distinct[f] for f, held in asked.items()},
             "same_kinds": same_kinds(comparisons)}
    tests["note"] = ("differences with a 95% paired t interval (not corrected); p from the paired "
                     "sign-flip test (exact; its normal approximation for many requests; "
                     "Hoeffding's bound below 1e-4; else seeded sign flips), "
                     + tests_text(tests) + "; each segment column is its own family; MDE: the "
                     "difference found with 80% power at the family's level")
    scored = max((t["scored"] for t in totals.engines.values()), default=0)
    return {"engines": engines, "comparisons": comparisons, "split": held.how,
            "leakage": held.leakage, "latency": LATENCY_NOTES,
            "rules": _rule_counts(fitted, held, totals.placed),
            "requests": int(held.test_requests),
            "requests_without_positive": int(held.test_requests - scored),
            "requests_scored": int(scored), "catalog_items": len(catalog), "tests": tests,
            "train_requests": held.train_requests, "metrics": names}


def _rule_counts(fitted: dict, held, placed: dict[str, int]) -> dict:
    """How often each rule fired, each block rule blocked, and each suggest rule placed a
    shown item, on the test requests; ``shadowed``: suggest rules that fired but never placed
    one (other rules always filled the list first)."""
    engine = fitted.get("rules")
    if engine is None or not hasattr(engine, "fired"):
        return {}
    fired = held.fired(engine)
    rules = engine.rule_set_.rules
    blocks = {r.id: int(n) for r, n in zip(rules, fired) if r.block}
    # a rule may both suggest and block: it places items as a suggest rule does
    suggesting = {r.id: int(n) for r, n in zip(rules, fired) if r.suggest}
    shown = {i: int(placed.get(i, 0)) for i in suggesting}
    return {"fired": {r.id: int(n) for r, n in zip(rules, fired)}, "blocked": blocks,
            "placed": shown, "shadowed": [i for i, n in suggesting.items() if n and not shown[i]],
            "requests": held.test_requests}


def primary_metric(metric: str | None, ks) -> str:
    """The verdict's metric: ``metric`` checked against the cutoffs, or ``ndcg@5`` (ndcg at
    the largest cutoff when 5 is not one)."""
    from suggest.evaluate import parse_metric

    if metric is None:
        return f"ndcg@{5 if 5 in ks else max(ks)}"
    base, k = parse_metric(metric)
    metric = f"{base}@{k}"
    if k not in ks:
        raise SuggestError(f"the primary metric {metric} is at a cutoff the replay does not compute",
                           hint=f"add {k} to --k (now {','.join(map(str, ks))})")
    return metric


def metric_note(metric: str | None, ks) -> str | None:
    """The line that says the verdict is not on the documented ndcg@5 when ``ks`` leaves 5
    out and no metric was asked for; None otherwise.

    >>> metric_note(None, [3, 10])
    'primary metric ndcg@10 (ndcg@5 is not computed with --k 3,10; --metric picks another)'
    >>> metric_note(None, [1, 5]) is None and metric_note("ndcg@3", [3, 10]) is None
    True
    """
    if metric is not None or 5 in ks:
        return None
    return (f"primary metric {primary_metric(None, ks)} (ndcg@5 is not computed with --k "
            f"{','.join(map(str, ks))}; --metric picks another)")


def below_baseline(summary: dict, metric: str) -> dict | None:
    """Whether the ranker's mean ``metric`` on the held-out requests is below the best
    simple baseline's (``ranker_below_baseline``), with both figures and, when training
    kept them, the same comparison on the ranker's own validation requests; None without
    a ranker or a baseline."""
    from suggest.verdict import best_baseline

    engines = summary["engines"]
    best = best_baseline(engines, metric, summary.get("comparisons"))
    if "ranker" not in engines or best is None:
        return None
    out = {"value": bool(engines["ranker"][metric] < engines[best][metric]), "metric": metric,
           "ranker": engines["ranker"][metric], "baseline": best,
           "baseline_score": engines[best][metric], "on": "the held-out requests"}
    v = ((summary.get("ranker") or {}).get("ranker") or {}).get("validation") or {}
    if "ranker_below_baseline" in v:
        name = next(k for k in v if "@" in k and not k.endswith("_candidates"))
        out["validation"] = {"value": bool(v["ranker_below_baseline"]), "metric": name,
                             "ranker": v[name], "baseline": v.get("best_baseline"),
                             "baseline_score": (v.get("baselines") or {}).get(
                                 v.get("best_baseline"))}
    return out


#: Held-out requests whose candidates give a ranker card's held-out recall: spread evenly
#: over the test part (all of them when it is smaller).
RECALL_SAMPLE = 20_000


def _ranker_cards(fitted: dict, held, truth_path: Path) -> dict:
    """:func:`ranker_card` of each engine with a booster (asked of its worker when a worker
    holds it), with its candidates' recall on held-out requests (:data:`RECALL_SAMPLE`)."""
    requests, window = held.train_window()
    cards, sample, recalls = {}, None, {}
    for name, engine in fitted.items():
        card = (engine.ask(ranker_card, requests, window) if hasattr(engine, "ask")
                else ranker_card(engine, requests, window))
        if card is None:
            continue
        if sample is None:
            sample = _recall_sample(held, truth_path)
        rows, truth = sample
        same = json_text(card)  # the hybrid of a ranker: the same card, the same candidates
        if same not in recalls:
            recalls[same] = (engine.ask(candidate_recall_on, rows, truth) if hasattr(engine, "ask")
                             else candidate_recall_on(engine, rows, truth))
        card["candidate_recall"] = {**(card.get("candidate_recall") or {}), "test": recalls[same]}
        card["candidate_recall_test_requests"] = len(rows)
        if card.get("model") and (card["train_requests"], card.get("training_window")) != (
                requests, window):
            theirs = _requests_in(card["train_requests"], card.get("training_window"))
            card["other_split"] = (
                f"was trained on {theirs}, not on this replay's training part "
                f"({_requests_in(requests, window)}), which the other engines learn from: "
                "they are not compared on equal terms; replay with the split the model was "
                "trained with (train's --test-share, --split, --gap and --seed), or, for a "
                "model trained on another log, train one on this log")
        cards[name] = card
    return cards


def _other_splits(cards: dict) -> list[str]:
    """One warning for each model trained on another split, naming the engines that replay
    it (the ranker and its hybrid share one)."""
    said: dict[str, list[str]] = {}
    for name, card in cards.items():
        if card.get("other_split"):
            said.setdefault(card["other_split"], []).append(name)
    return [f"the model of the {' and the '.join(names)} {text}" for text, names in said.items()]


def _one_tree(cards: dict, suggestions: Path, k: int) -> list[str]:
    """A warning for each model early stopping left with one tree (the ranker and its hybrid
    share one): its scores take a few values, so ties order many of its lists; how many of
    the first engine's top-``k`` lists hold a tie, and how many are one tie throughout,
    measured on its ``suggestions`` (a file of the run)."""
    names = [n for n, card in cards.items() if card.get("trees") == 1]
    if not names:
        return []
    table = pd.read_parquet(suggestions, columns=["request_id", "score"],
                            filters=[("engine", "==", names[0]), ("rank", "<=", k)])
    lists = table.groupby("request_id", sort=False)["score"].agg(["size", "nunique"])
    lists = lists[lists["size"] > 1]
    measured = ("" if not len(lists) else
                f"; here two items or more tie in "
                f"{percent(float((lists['nunique'] < lists['size']).mean()))} of its "
                f"{len(lists):,} top-{k} lists, and "
                f"{percent(float((lists['nunique'] == 1).mean()))} are one tie throughout")
    return [f"the model of the {' and the '.join(names)} {ONE_TREE}{measured}"]


#: From this share of a model's top-k lists whose k-th and next scores tie, the replay says
#: that item ids, not the model, pick what is shown at the cut.
TIES_AT_CUT = 0.2


def _ties_at_cut(cards: dict, suggestions: Path, k: int) -> list[str]:
    """A warning when a model of more than one tree (one tree: :func:`_one_tree`) ties its
    k-th and (k+1)-th scores in at least :data:`TIES_AT_CUT` of its lists: ties are ordered
    by item id, so which tied item makes the top k is the ids' order, not the model's (a
    tester's DePaulMovie ranker of 11 trees tied at rank 5 in 41% of its lists; the item ids
    the other way round nearly doubled its lead over user history)."""
    names = [n for n, card in cards.items() if (card.get("trees") or 0) > 1]
    if not names:
        return []
    table = pd.read_parquet(suggestions, columns=["request_id", "rank", "score"],
                            filters=[("engine", "==", names[0]), ("rank", "in", [k - 1, k, k + 1])])
    at = table.pivot_table(index="request_id", columns="rank", values="score", aggfunc="first")
    # the (k+1)-th when the lists hold it; at the replay's largest k they end at k, and a tie
    # of the (k-1)-th and k-th is what can be seen (the order within the top k)
    pair = (k, k + 1) if k + 1 in at.columns else (k - 1, k)
    if not set(pair) <= set(at.columns):
        return []
    both = at.dropna(subset=list(pair))
    share = float((both[pair[0]] == both[pair[1]]).mean()) if len(both) else 0.0
    if share < TIES_AT_CUT:
        return []
    where = "at the cut" if pair[0] == k else "just inside the cut"
    shared = f" (the {' and the '.join(names[1:])} shares its model)" if len(names) > 1 else ""
    return [f"the {names[0]}'s scores{shared} tie {where} (rank {pair[0]} and {pair[1]}) in "
            f"{percent(share)} of its {len(both):,} lists: there, the item ids' order (ties go "
            f"to the smaller id) picks the order of the tied items, not the model, and its "
            f"top-{k} figures lean on that order; a model of more trees or more features "
            "separates them"]


#: What a model of one tree is, said by ``replay`` and ``train``.
ONE_TREE = ("has one tree (early stopping found no validation gain past the first, or "
            "--n-estimators asked for one): its scores take a few values and ties, ordered by "
            "item id, decide many of its lists; read its figures as those of a coarse model, "
            "and check the validation split")


def _requests_in(requests: int, window: list[str] | None) -> str:
    return f"{requests:,} requests" + (f" to {window[1]}" if window else "")


def _recall_sample(held, truth_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held-out requests with an engagement, spread over the test part, and their
    engagements (from the run's truth file): recall counts those alone, so a sample of
    every request would spend most of itself on a sparse log's requests without a click
    (a tester's 20,000 held 2,000 that counted)."""
    truth = pd.read_parquet(truth_path)  # the held-out engagements, in the test part's order
    ids = truth["request_id"].astype(str)
    engaged = pd.unique(ids.to_numpy())
    n = len(engaged)
    chosen = set(engaged[np.unique(np.linspace(0, n - 1, min(RECALL_SAMPLE, n)).astype(int))]
                 if n else [])
    return held.with_ids(chosen), truth[ids.isin(chosen).to_numpy()]


def candidate_recall_on(engine, requests: pd.DataFrame, truth: pd.DataFrame) -> float | None:
    """The share of ``truth``'s engaged (request, item) pairs among ``engine``'s candidates
    for ``requests``, served as replay serves them (None without candidates or engagements)."""
    from suggest.ranker.candidates import recall

    engine = getattr(engine, "engine", engine)  # a loaded model in a replay
    if getattr(engine, "candidates_", None) is None or not len(requests):
        return None
    value = recall(engine.candidates_.generate(requests), requests, truth)
    return None if np.isnan(value) else value


def ranker_card(engine, train_requests: int, window: list[str] | None,
                features: int = 8) -> dict | None:
    """What a reader needs to judge a trained ranker: its training window and sizes, its
    candidates' recall (its ceiling), the best iteration and validation score, and the
    features with the most gain (None for an engine without a booster)."""
    engine = getattr(engine, "engine", engine)  # a loaded model in a replay
    booster = getattr(engine, "booster_", None)
    if booster is None:
        return None
    trained = (getattr(engine, "manifest_", None) or {}).get("training")
    if trained:  # a model folder (--model): what it was trained on, not the replay's part
        train_requests, window = int(trained["requests"]), trained.get("window")
    validation = dict(getattr(engine, "validation_", {}) or {})
    card = {"validation": validation, "candidate_recall": getattr(engine, "candidate_recall_", None),
            "candidates_cap": getattr(engine, "cap", None), "train_requests": train_requests,
            "model": bool(trained)}
    if window is not None:
        card["training_window"] = window
    if booster is not None:
        gain = booster.feature_importance("gain")
        total = float(gain.sum()) or 1.0
        order = np.argsort(-gain, kind="stable")[:features]
        card["top_features"] = [{"feature": engine.features_.names_[i], "gain_share":
                                 round(float(gain[i]) / total, 4)} for i in order]
        card["trees"] = int(booster.num_trees())
    return card


def data_card(log, held) -> dict:
    """Rows read, kept and rejected (with reasons), requests without a positive, the split."""
    report = log.report
    return {"source": str(report.source), "rows_in": report.rows_in, "rows_ok": report.rows_ok,
            "rows_rejected": report.rows_rejected, "reject_reasons": dict(report.reject_reasons),
            "requests": report.requests, "requests_without_positive": report.requests_without_positive,
            "partial_requests": getattr(report, "partial_requests", 0),
            "time_range": report.time_range, "time_zone": getattr(report, "time_zone", None),
            "split": held.how, "train_requests": held.train_requests,
            "test_requests": held.test_requests, "left_out_by_gap": held.left_out,
            "leakage": held.leakage}


def _add_verdict(summary: dict, results_path: Path, metric: str, min_segment: int, seed: int) -> None:
    """``summary["verdict"]`` and ``summary["segments"]``: each learned engine against the rules
    and the best baseline, segment by segment on the primary metric, from the results file."""
    import pyarrow.parquet as pq

    from suggest.segments import segment_columns, segment_tests, significant
    from suggest.verdict import LEARNED, best_baseline, judge

    engines = summary["engines"]
    baseline = best_baseline(engines, metric, summary.get("comparisons"))
    pairs = [(other, name) for name in LEARNED if name in engines
             for other in dict.fromkeys(("rules", baseline)) if other in engines]
    segments, losses, tested = {}, {}, {}
    if pairs:
        schema = pq.read_schema(results_path)
        columns = segment_columns(pd.DataFrame(columns=schema.names))
        for a, b in pairs:
            values = _scored_values(results_path)
            families = segment_tests(values(a, metric), values(b, metric),
                                     _ScoredColumns(results_path, schema, a), columns,
                                     min_size=min_segment, seed=seed)
            key = f"{b} - {a}"
            segments[key] = families
            losses[key] = significant(families, losses=True, across=True)
            tested[key] = {"segments": sum(f["tests"] for f in families.values()),
                           "columns": len(families),
                           # tested segments of values (one, or small ones pooled as
                           # "other"), not of the requests missing one
                           "values": sum(1 for f in families.values() for r in f["rows"]
                                         if r["p_holm"] == r["p_holm"] and r["value"] != MISSING),
                           "small": untested_parts(families)}
    summary["segments"] = {"metric": metric, "min_segment": min_segment, "pairs": segments}
    summary["newcomers"] = _newcomers(summary, results_path, metric)
    summary["verdict"] = judge(summary, metric, losses, tested)


def untested_parts(families: dict[str, dict]) -> int:
    """The segments of ``families`` (:func:`suggest.segments.segment_tests`) too small to test,
    and the values pooled into 'other': none when no column splits the requests at all (a
    column of one value), which the verdict says apart from "too small" (a column whose four
    values of 17-24 requests pooled into one 'other' had read "no context column splits")."""
    return (sum(1 for f in families.values() for r in f["rows"] if r.get("small"))
            + sum(f.get("pooled_into_other", 0) for f in families.values()))


def _newcomers(summary: dict, results_path: Path, metric: str) -> dict:
    """Per learned engine, on the held-out requests with a positive whose user has no request
    in the training part: the engine against the best baseline overall among those that
    answer most of them (the best overall may need a user's past, silent for newcomers),
    with a 95% paired t interval (no test: the segment tests hold the p-values). The choice
    reads whether a baseline answers newcomers, not how it scores on them: the best on the
    very requests compared would be picked for its luck there, against the learned engine.
    Empty when the held-out part does not have both kinds of user."""
    import pyarrow.parquet as pq

    from suggest.stats import paired_test
    from suggest.verdict import LEARNED, baseline_names

    engines = summary["engines"]
    learned = [n for n in LEARNED if n in engines]
    simple = sorted(baseline_names(engines))
    schema = pq.read_schema(results_path)
    if not learned or not simple or RETURNING not in schema.names:
        return {}
    new = ~_ScoredColumns(results_path, schema, learned[0])[RETURNING].to_numpy(dtype=bool)
    if not new.any() or new.all():
        return {}
    values = _scored_values(results_path)
    answers = {n: values(n, "answered")[new].mean() for n in simple}
    serving = [n for n in simple if answers[n] >= 0.5] or simple
    best = max(serving, key=lambda n: (engines[n].get(metric, float("-inf")), -simple.index(n)))
    base = {best: values(best, metric)[new]}
    out = {}
    for name in learned:
        mine = values(name, metric)[new]
        t = paired_test(base[best], mine, with_p=False)
        out[name] = {"baseline": best, "requests": int(new.sum()), "mean": float(mine.mean()),
                     "baseline_mean": float(base[best].mean()), "diff": t.diff,
                     "ci_low": t.ci_low, "ci_high": t.ci_high}
    return out


class _ScoredColumns:
    """An engine's context columns on the requests with a positive, each read from the
    results file when asked (the segment tests take one column at a time), its text as a
    dictionary (a value once, not once a row); in the order of :func:`_scored_values`."""

    def __init__(self, path: Path, schema, engine: str):
        self.path, self.schema, self.engine = path, schema, engine

    def __getitem__(self, column: str) -> pd.Series:
        import pyarrow as pa

        kind = self.schema.field(column).type
        text = [column] if pa.types.is_string(kind) or pa.types.is_large_string(kind) else []
        rows = pd.read_parquet(self.path, columns=["has_positive", column], read_dictionary=text,
                               filters=[("engine", "==", self.engine)])
        return rows[column][rows["has_positive"].to_numpy(dtype=bool)].reset_index(drop=True)


#: Requests a replay explains per kind of disagreement (only one engine hit), engine and pair.
EXPLAINED = 50


def _explain_sample(fitted: dict, held, results_path: Path, summary: dict,
                    metric: str, k: int, seed: int, target: Path) -> None:
    """Explain the learned engines' lists on a seeded sample of the requests where they and the
    rules (or the best baseline) disagree: only one of the two hit at the primary cutoff.

    A replay stores the learned engines' suggestions without explanations (a
    ``pred_contrib`` per shown item costs as much as the scoring); the failure examples
    of ``compare`` and the report are drawn from these requests, so both lists say why.
    """
    from suggest.verdict import LEARNED, best_baseline

    learned = [n for n in LEARNED if n in fitted and getattr(fitted[n], "explain", True) is False]
    others = [n for n in dict.fromkeys(("rules", best_baseline(summary["engines"], metric,
                                                                      summary.get("comparisons"))))
              if n in fitted]
    if not learned or not others:
        return
    hit = f"hit_rate@{metric.split('@')[1]}"
    results = pd.read_parquet(results_path, columns=["request_id", "engine", hit],
                              filters=[("engine", "in", learned + others)])
    # every engine's column, even one whose hit rates are all missing (no held-out request
    # with a positive: the pivot dropped it, and a replay of such a log crashed here)
    table = results.pivot_table(index="request_id", columns="engine", values=hit, aggfunc="first",
                                observed=True).reindex(columns=learned + others) > 0
    rng = np.random.default_rng(seed)
    frames = []
    for name in learned:
        ids = set()
        for other in others:
            for only in (table[name] & ~table[other], table[other] & ~table[name]):
                pool = np.sort(table.index[only.to_numpy()].astype(str))
                ids.update(rng.choice(pool, min(EXPLAINED, len(pool)), replace=False))
        engine = fitted[name]
        engine.explain = True
        try:
            lists = engine.suggest(held.with_ids(ids), k)
        finally:
            engine.explain = False
        frames.append(lists.assign(engine=name)[["request_id", "engine", "rank", "item_id",
                                                 "reason"]])
    _write(target, _plain(pd.concat(frames, ignore_index=True)))


def _same_model(fitted, engine) -> bool:
    """Whether ``engine`` (not yet fitted) would train exactly the model ``fitted`` holds:
    both rankers (the hybrid is the ranker plus blocking at suggestion time) with the same
    settings, the explanations and threads aside (they change no tree)."""
    from suggest.ranker.model import RankerEngine

    remote = getattr(fitted, "template", None)  # an engine a worker holds: its settings
    settled = remote if remote is not None else fitted
    if not (isinstance(settled, RankerEngine) and isinstance(engine, RankerEngine)):
        return False
    settings = lambda e: {k: v for k, v in vars(e).items()  # noqa: E731
                          if not k.endswith("_") and not k.startswith("_")
                          and k not in ("explain", "n_jobs")}
    return (remote is not None or hasattr(fitted, "booster_")) and \
        settings(settled) == settings(engine)


#: What the latency figures of a summary measure (stored beside them).
LATENCY_NOTES = {
    "latency_us_per_chunk": "batch scoring: each chunk's time divided by its requests (a mean "
                            "per request), percentiles over the chunks; one chunk gives one value",
    "one_context_us": "suggest_one on a sample of held-out contexts (200 by default, or half the "
                      "test part when it holds fewer than 400: p99 of a few dozen calls is "
                      "near their maximum) spread over the "
                      "test part, one at a time in this process (on a cluster whose workers hold the log, in "
                      "the process of the worker that holds the engine), after an untimed pass over "
                      "another such sample; each context goes through every engine in turn, in an "
                      "order drawn afresh for each context (engines that share lookups, the hybrid "
                      "and its ranker, each follow the other as often), with Python's garbage "
                      "collector paused, as timeit does; percentiles over the timed calls "
                      "(one_context_calls): p99 of 200 calls is their second slowest, so it moves "
                      "with whatever else the machine does",
}


def _latency_samples(held, size: int) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Two samples of ``size`` held-out requests spread over the test part, neither holding
    the other's (when the part is large enough): one to warm the engines up, one to time."""
    n = held.test_requests
    if size <= 0 or n == 0:
        return None, None
    if n < 2:
        rows = held.test_rows(np.arange(n))
        return rows, rows
    at = np.linspace(0, n - 1, min(2 * size, n)).astype(int)
    return held.test_rows(at[0::2]), held.test_rows(at[1::2])


def _contexts(rows: pd.DataFrame) -> list[dict]:
    """The sampled requests as ``suggest_one`` takes them."""
    return [{key: (value.isoformat() if key == "timestamp" else value)
             for key, value in record.items() if not _missing(value) and key not in TIME_FIELDS}
            for record in rows.to_dict("records")]


def _one_context_latency(engines: dict, warm: pd.DataFrame | None, rows: pd.DataFrame | None,
                         k: int) -> dict:
    """p50/p95/p99 of ``suggest_one`` per engine, in microseconds: after an untimed pass over
    the ``warm`` contexts (the lookups an engine builds as it goes, warm as in service), each
    context of ``rows`` through every engine in turn, in an order drawn afresh for each
    context (seeded). An engine that follows another sharing its lookups or its model (the
    hybrid and its ranker) found them warm: timed one after the other, or always in the same
    order, the second read up to 2x cheaper; in a drawn order each follows the other as often."""
    if not engines or rows is None or len(rows) == 0:
        return {}
    for context in _contexts(warm):
        for engine in engines.values():
            engine.suggest_one(context, k)
    names, times = list(engines), {name: [] for name in engines}
    draw = np.random.default_rng(0)
    contexts = _contexts(rows)
    paused = gc.isenabled()
    gc.disable()  # as timeit does: a collection is the process's pause, not the engine's call
    try:
        for context in contexts:
            for name in draw.permutation(names):
                started = time.perf_counter()
                engines[name].suggest_one(context, k)
                times[name].append((time.perf_counter() - started) * 1e6)
    finally:
        if paused:
            gc.enable()
    return {name: {**{f"one_context_us_p{q}": float(np.percentile(t, q)) for q in (50, 95, 99)},
                   "one_context_calls": len(t)} for name, t in times.items()}


def _one_engine_latency(engine, warm, rows, k: int) -> dict:
    """:func:`_one_context_latency` of one engine (on the worker that holds it)."""
    return _one_context_latency({"one": engine}, warm, rows, k).get("one", {})


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
