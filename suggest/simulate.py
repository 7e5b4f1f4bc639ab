"""A simulated suggestion service over a synthetic world, for counterfactual evaluation
(issue 21): what was shown, at which position, with which probability, and what the
people engaged with. The truth is known, so every estimate can be checked.

The world (:mod:`suggest.synth`) draws the same requests and contexts as a plain world
of the same config. For each request the service shows up to ``K`` items:

* the **logging policy**'s list: ``rules`` (a rule file's top ``K``, fitted on the plain
  world's log as a replay fits it), ``popular`` (the plain world's most engaged items)
  or ``random``;
* with probability ``epsilon`` (always, for ``random``) it explores instead: ``K`` items
  of the whole catalog in a uniformly random order.

So the probability that item ``i`` is shown at position ``p`` is exactly
``propensity = (1 - epsilon) * [the policy puts i at p] + epsilon / N`` (``N`` items in
the catalog), and that number is logged on the row. A policy list shorter than ``K``
(rules that propose fewer items) shows fewer; a request where nothing was shown keeps
one row without an item.

Engagement follows a **position-based click model**: a person looks at position ``p``
with probability ``examination(p) = 1 / p`` and engages with an item looked at with
probability ``attraction(i | request) = (1 - p_none) * softmax(utility / temperature)_i``:
the chance the plain world's person would have picked ``i`` from the whole catalog.
Each shown item is engaged independently, so a request can have several. The true
expected engagements per request of any list ``L`` is ``sum_p examination(p) *
attraction(L_p)``: the ``oracle`` a replay on such a world reports beside the estimates.

Files: as a plain world (``log.csv`` now with ``position``, ``propensity`` and
``engaged`` columns, named in ``dataset.yaml``), ``truth_model.json`` with a ``service``
section, and ``truth_attraction.parquet``: every (request, item) with a positive
attraction.

>>> summary = generate(preset_config("default", users=20, days=7), "out/bandit",
...                    policy="rules", epsilon=0.1, shown=5)   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from suggest import synth
from suggest.errors import SuggestError, one_of
from suggest.ids import isin

POLICIES = ("rules", "popular", "random")
#: The columns a service log adds to a plain world's.
SHOWN_COLUMNS = ("position", "propensity", "engaged")
ATTRACTION_FILE = "truth_attraction.parquet"
#: The most (request, item) attractions a service world writes to its truth.
MAX_ATTRACTIONS = 50_000_000
CLICK_MODEL = ("engagement of a shown item = Bernoulli(examination(position) * attraction(item | request)),"
               " independently per shown item; examination(p) = 1 / p; attraction = (1 - p_none) *"
               " softmax(utility / temperature) over the catalog (the plain world's chance of"
               " picking the item); the true expected engagements per request of a list L are"
               " sum over its positions p of examination(p) * attraction(L_p)")


def examination(positions) -> np.ndarray:
    """The chance a person looks at each (1-based) position."""
    return 1.0 / np.asarray(positions, dtype=float)


def check_service(policy: str, epsilon: float | None, shown: int, n_items: int) -> float:
    """Refuse settings the service cannot honour; return the exploration share."""
    if policy not in POLICIES:
        raise SuggestError(f"unknown logging policy '{policy}'", hint=f"use {one_of(POLICIES)}")
    if policy == "random":
        if epsilon is not None and epsilon != 1:
            raise SuggestError(f"--epsilon {epsilon} with --logging-policy random",
                               hint="a random policy always explores; --epsilon applies to rules "
                                    "and popular")
        epsilon = 1.0
    epsilon = 0.1 if epsilon is None else epsilon
    if isinstance(epsilon, bool) or not 0 <= epsilon <= 1:
        raise SuggestError(f"--epsilon {epsilon!r} is not a share", hint="give a number from 0 to 1")
    if isinstance(shown, bool) or not isinstance(shown, (int, np.integer)) or not 1 <= shown <= n_items:
        raise SuggestError(f"--shown {shown!r} is not allowed",
                           hint=f"show from 1 to {n_items} items, the catalog's size")
    return float(epsilon)


def generate(config: synth.WorldConfig, out_dir: str | os.PathLike, *, policy: str,
             epsilon: float | None = None, shown: int = 5, rules: str | os.PathLike | None = None,
             progress: bool = False, name: str = "synth-service",
             chunk_users: int | None = None) -> dict:
    """Generate a world whose log is what a service showed (see the module docstring).

    Parameters
    ----------
    config : WorldConfig
        The world's knobs.
    out_dir : path
        Folder to write log.csv, catalog.csv, dataset.yaml, truth_model.json and
        truth_attraction.parquet to; created if missing.
    policy : {"rules", "popular", "random"}
        The logging policy.
    epsilon : float, optional
        Share of requests that explore (default 0.1; always 1 for ``random``).
    shown : int
        Items shown per request, ``K``.
    rules : path, optional
        The rule file of the ``rules`` policy (default: the packaged phone rules).

    Returns
    -------
    dict
        The plain world's summary keys, with ``rows`` the log's rows, and ``service``: the
        policy, epsilon, K, the share of requests that explored, the shown rows, the requests
        that showed nothing, the engagements, and the true expected engagements per request
        of what was shown (``shown_value``) and of the policy's own lists without exploring
        (``logging_value``; None for ``random``).
    """
    from importlib.resources import files

    config = synth.check_config(config)
    n_items = len(synth.ITEMS) + config.extra_items
    epsilon = check_service(policy, epsilon, shown, n_items)
    if policy == "rules":
        rules = Path(rules) if rules is not None else files("suggest").joinpath("examples", "phone.yaml")
        try:
            rule_bytes = rules.read_bytes()
        except OSError as exc:
            raise SuggestError(f"cannot read the rule file {rules}: {exc.strerror or exc}",
                               hint="give --rules PATH to a rule file") from None
    elif rules is not None:
        raise SuggestError(f"--rules with --logging-policy {policy}",
                           hint="a rule file is the logging policy only with --logging-policy rules")
    counting = SimpleNamespace(config=config)  # the request counts need only the config
    requests = sum(int(synth.user_days(counting, lo, min(lo + 10_000, config.users))[2].sum())
                   for lo in range(0, config.users, 10_000))
    if requests * n_items > MAX_ATTRACTIONS:
        raise SuggestError(f"a service world of {requests:,} requests and {n_items:,} items "
                           f"would write {requests * n_items:,} attractions to its truth",
                           hint=f"keep requests x items under {MAX_ATTRACTIONS:,}: fewer --users, "
                                "--days or --extra-items")
    world = synth.make_world(config)
    out = Path(out_dir)
    synth.refuse_foreign_log(out)
    with tempfile.TemporaryDirectory(prefix="suggest-plain-") as plain:
        # the plain world of the same config: its requests, and the log the policy is fitted on
        synth.generate(config, plain, progress=progress, name=name, chunk_users=chunk_users)
        lists, policy_name = _policy_lists(Path(plain), world, policy, rules, shown, progress)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"log": out / "log.csv", "catalog": out / "catalog.csv", "dataset": out / "dataset.yaml",
             "truth": out / "truth_model.json", "attraction": out / ATTRACTION_FILE}
    partial = {key: path.with_name(path.name + ".partial") for key, path in paths.items()}
    counts = _write_service_log(world, lists, epsilon, shown, partial["log"], partial["attraction"],
                                chunk_users, progress)
    pd.DataFrame({"item": world.items, "category": world.categories}).to_csv(
        partial["catalog"], index=False, lineterminator="\n")
    service = {"logging_policy": policy_name, "epsilon": epsilon, "shown": shown,
               "items": len(world.items), "propensity": "(1 - epsilon) * [policy puts the item at the "
               "position] + epsilon / items", "click_model": CLICK_MODEL,
               "examination": {str(p): float(v) for p, v in
                               zip(range(1, shown + 1), examination(np.arange(1, shown + 1)))},
               "attraction_file": ATTRACTION_FILE}
    if policy == "rules":
        service["rules_sha256"] = hashlib.sha256(rule_bytes).hexdigest()
    settings = "".join(f"#   {key}: {value!r}\n" for key, value in synth.settings_of(config).items())
    settings += (f"# and a service showing {shown} items a request: logging policy {policy_name}, "
                 f"epsilon {epsilon!r} (suggest.simulate)\n")
    partial["dataset"].write_text(
        f"# Generated by suggest.synth.generate from this world config:\n{settings}"
        + synth.dataset_yaml(name).replace("  timezone: tz\n", "  timezone: tz\n  relevance: engaged\n"
                                           "  position: position\n  propensity: propensity\n"),
        encoding="utf-8")
    truth = synth.truth_of(world)
    truth["service"] = service
    partial["truth"].write_text(json.dumps(truth, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    for key, path in partial.items():
        os.replace(path, paths[key])
    n = counts["requests"]
    return {"requests": n, "rows": counts["rows"], "users": config.users, "items": len(world.items),
            "engaged_share": round(counts["engaged_requests"] / n, 6),
            "service": {"logging_policy": policy_name, "epsilon": epsilon, "shown": shown,
                        "explored_share": round(counts["explored"] / n, 6),
                        "shown_rows": counts["shown_rows"], "nothing_shown": counts["nothing_shown"],
                        "engagements": counts["engagements"],
                        "shown_value": round(counts["shown_value"] / n, 6),
                        "logging_value": (round(counts["logging_value"] / n, 6)
                                          if policy != "random" else None)},
            "paths": {k: str(v) for k, v in paths.items()}}


def _policy_lists(plain: Path, world: synth.World, policy: str, rules, shown: int,
                  progress: bool) -> tuple[np.ndarray, str]:
    """The logging policy's list of every request (requests x ``shown`` item indexes, -1
    where a list is shorter), in the order of the request ids, and the policy's name."""
    from suggest.data.load import load
    from suggest.engines.baselines import Popular
    from suggest.rules import load_rules
    from suggest.workflow import fitted_rules

    log = load(plain / "dataset.yaml")
    n = len(log.requests)
    lists = np.full((n, shown), -1, dtype=np.int64)
    if policy == "random":
        return lists, "random"
    if policy == "rules":
        engine, label = fitted_rules(load_rules(rules), log), f"rules ({Path(str(rules)).name})"
    else:
        engine, label = Popular().fit(log.requests, log.truth, log.catalog), "popular"
    suggestions = engine.suggest(log.requests, shown)
    row = pd.Index(log.requests["request_id"].astype(str)).get_indexer(
        suggestions["request_id"].astype(str))
    item = pd.Index(world.items.astype(str)).get_indexer(suggestions["item_id"].astype(str))
    keep = (row >= 0) & (item >= 0)
    lists[row[keep], suggestions["rank"].to_numpy()[keep] - 1] = item[keep]
    order = np.argsort(log.requests["request_id"].astype(str).to_numpy(), kind="stable")
    return lists[order], label


def _write_service_log(world: synth.World, lists: np.ndarray, epsilon: float, shown: int,
                       log_path: Path, attraction_path: Path, chunk_users: int | None,
                       progress: bool) -> dict:
    """Write the shown rows and the attraction table, users chunk by chunk; the counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = world.config
    rng, n_items = synth.Rng(cfg.seed), len(world.items)
    if chunk_users is None:
        chunk_users = max(1, int(50_000 // max(1.0, cfg.days * cfg.requests_per_day)))
    chunks = [(lo, min(lo + chunk_users, cfg.users)) for lo in range(0, cfg.users, chunk_users)]
    width = max(7, len(str(len(lists))))
    exam = examination(np.arange(1, shown + 1))
    counts = dict.fromkeys(("requests", "rows", "shown_rows", "engagements", "engaged_requests",
                            "explored", "nothing_shown"), 0)
    counts["logging_value"] = counts["shown_value"] = 0.0
    schema = pa.schema([("request_id", pa.string()), ("item", pa.dictionary(pa.int32(), pa.string())),
                        ("attraction", pa.float64())])
    bar = tqdm(total=len(lists), unit="req", desc="showing", disable=None if progress else True,
               leave=False)
    with open(log_path, "w", newline="", encoding="utf-8") as fh, \
            pq.ParquetWriter(attraction_path, schema) as attraction_out, bar:
        fh.write(",".join((*synth.LOG_COLUMNS, *SHOWN_COLUMNS)) + "\n")
        for lo, hi in chunks:
            r = synth.requests_of(world, lo, hi)
            done = counts["requests"]
            base = synth.request_columns(world, r, done + 1, width)
            n, key = len(base), r["key"]
            attraction = _attraction(world, r)
            policy = lists[done:done + n]
            explore = rng.uniform("explore", key) < epsilon
            # a uniformly random order of the whole catalog; its first K are shown
            random_order = np.argsort(rng.uniform("explore_order", key[:, None],
                                                  np.arange(n_items)[None]), axis=1)[:, :shown]
            chosen = np.where(explore[:, None], random_order, policy)
            propensity = (1 - epsilon) * (chosen == policy) + epsilon / n_items
            looked = np.take_along_axis(attraction, np.maximum(chosen, 0), axis=1) * exam
            engaged = (rng.uniform("click", key[:, None], np.arange(shown)[None]) < looked) & (chosen >= 0)
            counts["logging_value"] += float(np.where(policy >= 0, np.take_along_axis(
                attraction, np.maximum(policy, 0), axis=1) * exam, 0.0).sum())
            counts["shown_value"] += float(np.where(chosen >= 0, looked, 0.0).sum())
            fh.write(_rows_text(world, base, chosen, propensity, engaged))
            request, item = np.nonzero(attraction > 0)
            attraction_out.write_table(pa.table({
                "request_id": base["request_id"].to_numpy()[request].astype(str),
                "item": pa.array(world.items[item].astype(str)).dictionary_encode(),
                "attraction": attraction[request, item]}, schema=schema))
            n_shown = (chosen >= 0).sum(axis=1)
            counts["requests"] += n
            counts["rows"] += int(np.maximum(n_shown, 1).sum())
            counts["shown_rows"] += int(n_shown.sum())
            counts["engagements"] += int(engaged.sum())
            counts["engaged_requests"] += int(engaged.any(axis=1).sum())
            counts["explored"] += int(explore.sum())
            counts["nothing_shown"] += int((n_shown == 0).sum())
            bar.update(n)
    return counts


def _attraction(world: synth.World, r: dict[str, np.ndarray]) -> np.ndarray:
    """Requests x items: the chance a person engages with the item when they look at it."""
    utility = synth.utility(world, r) / world.config.temperature
    top = utility.max(axis=1, keepdims=True)
    weight = np.exp(utility - np.where(np.isfinite(top), top, 0.0))  # -inf (impossible) -> 0
    total = weight.sum(axis=1, keepdims=True)
    share = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    return (1 - synth.no_engagement(world, r))[:, None] * share


def _rows_text(world: synth.World, base: pd.DataFrame, chosen: np.ndarray, propensity: np.ndarray,
               engaged: np.ndarray) -> str:
    """The CSV text of a chunk: a row per shown item in position order, or one row without
    an item for a request where nothing was shown."""
    shown_any = (chosen >= 0).any(axis=1)
    request, slot = np.nonzero(chosen >= 0)
    empty = np.flatnonzero(~shown_any)
    rows = np.concatenate([request, empty])
    order = np.lexsort((np.concatenate([slot, np.zeros(len(empty), np.int64)]), rows))
    rows, slots = rows[order], np.concatenate([slot, np.zeros(len(empty), np.int64)])[order]
    real = np.concatenate([np.ones(len(request), bool), np.zeros(len(empty), bool)])[order]
    frame = base.iloc[rows].reset_index(drop=True)
    frame["item"] = np.where(real, world.items[np.maximum(chosen[rows, slots], 0)], "")
    frame["position"] = pd.Series(slots + 1, dtype="Int64").where(real, pd.NA)
    frame["propensity"] = pd.Series(propensity[rows, slots], dtype="Float64").where(real, pd.NA)
    frame["engaged"] = np.where(engaged[rows, slots], 1, 0)
    return frame.to_csv(header=False, index=False, lineterminator="\n", na_rep="")


@dataclass
class ServiceTruth:
    """What a replay needs of a simulated service's truth: the examination by position and
    every (request, item)'s attraction."""

    examination: dict[int, float]
    attraction: pd.Series  # indexed by (request_id, item_id)

    def value(self, suggestions: pd.DataFrame, requests, k: int) -> float:
        """The true expected engagements per request of ``suggestions``' top-``k`` lists over
        ``requests`` (a request without a list counts as 0)."""
        requests = pd.Index(pd.unique(pd.Series(requests, dtype=object).astype(str)))
        top = suggestions[(suggestions["rank"].to_numpy() <= k)
                          & isin(suggestions["request_id"].astype(str), requests)]
        at = self.attraction.index.get_indexer(pd.MultiIndex.from_arrays(
            [top["request_id"].astype(str).to_numpy(), top["item_id"].astype(str).to_numpy()]))
        attraction = np.where(at >= 0, self.attraction.to_numpy()[np.maximum(at, 0)], 0.0)
        exam = pd.Series(top["rank"].to_numpy()).map(self.examination).fillna(0.0).to_numpy()
        return float((exam * attraction).sum() / len(requests)) if len(requests) else float("nan")


def service_truth(dataset_path: str | os.PathLike, requests=None) -> ServiceTruth | None:
    """The simulated service's truth beside a dataset description (``truth_model.json``
    with a ``service`` section), or None for any other log; only the attractions of
    ``requests`` when given (the held-out ones: the rest is not read)."""
    folder = Path(dataset_path).parent
    try:
        truth = json.loads((folder / "truth_model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    service = truth.get("service") if isinstance(truth, dict) else None
    if not isinstance(service, dict):
        return None
    wanted = None if requests is None else [("request_id", "in", [str(r) for r in requests])]
    table = pd.read_parquet(folder / service["attraction_file"], filters=wanted)
    index = pd.MultiIndex.from_arrays([table["request_id"].astype(str).to_numpy(),
                                       table["item"].astype(str).to_numpy()])
    return ServiceTruth({int(p): float(v) for p, v in service["examination"].items()},
                        pd.Series(table["attraction"].to_numpy(), index=index))
