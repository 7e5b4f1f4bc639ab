"""The jobs behind the commands, as functions a notebook can call.

Each ``suggest`` command parses its options, calls one function here (or one
library function) and prints what it returns; the texts it prints are in
:mod:`suggest.report.terminal`. Every function takes paths or loaded objects,
checks its arguments before any work, and raises
:class:`~suggest.errors.SuggestError` on bad input.

>>> from suggest.workflow import replay_log, train_model      # doctest: +SKIP
>>> summary = train_model("data/sample/dataset.yaml", "models/s80",
...                       rules="rules/phone.yaml", test_share=0.2)   # doctest: +SKIP
>>> replay_log("data/sample/dataset.yaml", "runs/s80", rules="rules/phone.yaml",
...            model="models/s80")["verdict"]["sentences"][0]          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

from suggest.errors import ErrorList, SuggestError
from suggest.registry import BUILT_IN

DEFAULT_ENGINES = ",".join(BUILT_IN)
N_ESTIMATORS = 400  # the ranker's most trees when none are asked for (early stopping ends sooner)


def load_log(dataset, log: str | Path | None = None):
    """The log of ``dataset`` (a description or its YAML path), or the file ``log`` read
    the way the description says; ``log``'s own format when it shows one (a folder is
    Parquet, else by extension: ``week.parquet`` for a description of a CSV log)."""
    from suggest.data import load

    return load(described(dataset, log))


GLOB_CHARS = re.compile(r"[*?\[]")


def described(dataset, log: str | Path | None = None):
    """The description :func:`load_log` reads: ``dataset``'s, with the file ``log`` in its
    own format when one is given."""
    from suggest.data import Dataset
    from suggest.data.description import format_of

    description = dataset if isinstance(dataset, Dataset) else Dataset.from_yaml(dataset)
    if not log:
        return description
    log = Path(log)
    if not log.exists() and not GLOB_CHARS.search(str(log)):
        raise SuggestError("log file not found", where=str(log),
                           hint="a LOG given on the command line is read from the folder you are "
                                f"in ({Path.cwd()})")
    fmt = format_of(log) or description.format
    if fmt != description.format and fmt in ("csv", "tsv"):  # the other text format's separator
        description = replace(description, separator="\t" if fmt == "tsv" else ",")
    return replace(description, log=log, format=fmt)


def check_data(dataset, rejects: str | Path | None = None, *, dask: str | None = None,
               jobs: int | None = None, progress: bool = False):
    """``suggest data check``: load the log of ``dataset`` and write its rejected rows to
    ``rejects`` (default ``./STEM.rejects.csv``, the description file's stem) when there are any, removing a file an
    earlier run left there when there are none (at the default path, shared by every
    `dataset.yaml`, only this log's); ``(load report, rejects file or None)``.
    When every row is refused, the rows still go to the file and the error says where.

    With ``dask`` (a scheduler address, or ``"local"`` for a local cluster of ``jobs``
    workers) the workers read and check the log's pieces (:mod:`suggest.data.distributed`)
    and ``rejects`` is a folder (default ``./STEM.rejects/``) of one CSV per piece; the
    report is the same.
    """
    from suggest.data import write_rejects
    from suggest.data.load import rejects_of

    stem = dataset.name if hasattr(dataset, "log") else Path(dataset).stem  # a Dataset, or its YAML
    if dask:
        from suggest.data import Dataset
        from suggest.data.distributed import check_on_dask
        from suggest.parallel import dask_client

        description = dataset if isinstance(dataset, Dataset) else Dataset.from_yaml(dataset)
        with dask_client(None if dask == "local" else dask, workers=jobs) as client:
            return check_on_dask(description, client, Path(rejects or f"{stem}.rejects"),
                                 progress=progress, shared=rejects is None)
    if jobs is not None:
        raise SuggestError("--jobs sets the workers of a local Dask cluster: give --dask too",
                           hint="a check on this machine reads the log in one process")
    target = Path(rejects) if rejects else Path(f"{stem}.rejects.csv")
    from suggest.data.load import check_rejects_target

    check_rejects_target(target)  # before the load: a path named by mistake is said at once
    try:
        loaded = load_log(dataset)
    except SuggestError as exc:
        if getattr(exc, "rejects", None) is not None:  # every row refused: still show which and why
            exc.hint = f"{exc.hint}; all rejected rows are in {write_rejects(exc.rejects, target)}"
        raise
    if not len(loaded.rejects) and rejects is None and target.is_file() \
            and not rejects_of(target, loaded.dataset):
        return loaded.report, None  # another log's rejects at the default path: kept
    return loaded.report, write_rejects(loaded.rejects, target)


def checked_log(dataset, log: str | Path | None = None, rules: str | Path | None = None,
                client=None, rejects: str | Path | None = None, others=()):
    """The loaded log, after checking the rule file ``rules`` (if any) and the files
    ``others`` against it: a rule set naming fields or items the log does not have stops
    here, as `rules check` would. A file that does not parse stops before the log is read.
    With a Dask ``client`` the workers read the log and keep it
    (:func:`suggest.data.dasklog.load_on_dask`, its rejects written to the folder
    ``rejects``)."""
    from suggest.rules import load_rules

    files = [f for f in (rules, *others) if f]
    rule_sets = [load_rules(f) for f in files]
    if client is None:
        loaded = load_log(dataset, log)
    else:
        from suggest.data.dasklog import load_on_dask

        loaded = load_on_dask(described(dataset, log), client, rejects)
    try:
        for path, rule_set in zip(files, rule_sets):
            check_fits_log(rule_set, path, loaded, dataset)
    except SuggestError:
        if client is not None and rejects is not None:  # the workers wrote them: not a run's
            shutil.rmtree(rejects, ignore_errors=True)
        raise
    return loaded


def check_fits_log(rule_set, path, log, dataset) -> None:
    """Stop when the rule set names fields or items the log does not have, as `rules
    check` would (every error at once)."""
    from suggest.rules.checks import check

    errors, warnings = check(rule_set, log)
    if errors:
        raise ErrorList([SuggestError(e) for e in errors],
                        summary=f"{path} does not fit {dataset}: {len(errors)} error(s) "
                                f"(`suggest rules check {path} --dataset {dataset}` "
                                f"shows them with warnings)")
    if warnings:  # said with the load's warnings: a replay had shown a rule's unknown item
        # as a suggestion without a word of it
        first = warnings[0].split(": ", 1)[-1] if ": " in warnings[0] else warnings[0]
        log.report.warnings.append(
            f"{path} draws warnings against {dataset}, e.g. {first} "
            f"(`suggest rules check {path} --dataset {dataset}` lists them all)")


def rejects_summary(log, path: str | Path) -> dict:
    """Write the log's rejected rows to ``path`` when there are any, and say so: the
    count, the file (None when nothing was rejected), the three commonest reasons and
    the load's warnings (:func:`suggest.report.terminal.rejects_line` prints it)."""
    from suggest.data import write_rejects

    if hasattr(log, "buckets"):  # the workers wrote them (a folder of one file per piece)
        written = log.rejects
    else:
        written = write_rejects(log.rejects, Path(path)) if len(log.rejects) else None
    # the log's rows and the catalog's apart: "rejected log rows: 5" counted a catalog row
    reasons = [(r, n) for r, n in log.report.reject_reasons.items() if not r.startswith("catalog: ")]
    return {"rejected_rows": log.report.rows_rejected,
            "catalog_rejected": getattr(log.report, "catalog_rejected", 0),
            "rejects_file": str(written) if written else None,
            "reject_reasons": dict(reasons[:3]), "load_warnings": log_warnings(log)}


def log_warnings(log) -> list[str]:
    """The load's warnings, and one for columns the description does not declare, which
    were read as context."""
    inferred = getattr(log.report, "inferred", None) or {}
    guessed = ([f"{len(inferred)} column(s) the description does not declare were read as "
                "context, which every engine uses: "
                + ", ".join(f"{c} ({t})" for c, t in sorted(inferred.items()))
                + "; declare each under `context:` or list it under `ignore:` (a folder key "
                  "such as date= is one)"] if inferred else [])
    return list(log.report.warnings) + guessed


def fitted_rules(rule_set, log=None):
    """A rules engine of ``rule_set`` fitted on the loaded ``log`` (catalog slices filled by
    their popularity, times read in the dataset's zone), or on nothing."""
    from suggest.rules import RulesEngine

    if log is None:
        return RulesEngine(rule_set).fit()
    from suggest.rules.mine import rules_zone

    engine = RulesEngine(rule_set, timezone=rules_zone(log))
    # every truth row of a loaded log is one of its requests': counted whole, not looked up
    return engine.fit_counts(engine.counts(None, log.truth), log.requests, log.catalog)


def rules_engine(rules: str | Path, dataset=None, log: str | Path | None = None):
    """The rule file's engine fitted on the log of ``dataset`` (:func:`fitted_rules`), and
    that log; without a dataset, fitted on nothing and ``None``."""
    from suggest.rules import load_rules

    rule_set = load_rules(rules)  # a file that does not parse stops before the log is read
    loaded = load_log(dataset, log) if dataset is not None else None
    if loaded is not None:
        check_fits_log(rule_set, rules, loaded, dataset)
    return fitted_rules(rule_set, loaded), loaded


def check_rules(rules: str | Path, dataset=None) -> dict:
    """``suggest rules check``: every error of the rule file at once (against the log of
    ``dataset`` too, when given), then the lint warnings."""
    from suggest.rules import load_rules
    from suggest.rules.checks import check

    try:
        rule_set = load_rules(rules)
    except SuggestError as problem:
        if dataset:  # the fields and items are checked against the log once the file reads
            then = f"the fields, values and items are then checked against {dataset}"
            if isinstance(problem, ErrorList):
                problem.summary = problem.summary.rstrip(": ") + f" (fix these first: {then}):"
            else:
                said = (problem.hint or "").rstrip()
                if said and said[-1] not in ".?!":
                    said += "."
                problem.hint = " ".join(filter(None, [said, f"Fix this first: {then}."]))
        raise
    log = load_log(dataset) if dataset else None
    errors, warnings = check(rule_set, log)
    if log is not None and not errors:
        warnings += _on_the_log(rule_set, log, warnings)
    return {"rules": len(rule_set.rules), "tests": len(rule_set.tests), "errors": errors,
            "warnings": warnings}


def _on_the_log(rule_set, log, said: list[str]) -> list[str]:
    """A warning for each rule that never fires on the log (the file alone may not tell: a
    log whose rows never fill two columns together), with its most frequent near miss;
    and for each that fires but changes no list where it does (a higher rule's catalog
    slice always fills the list first). What :func:`suggest.rules.coverage.coverage`
    counts; a rule the lint already says can never fire, or is always shadowed, is not said
    twice (``said``)."""
    from suggest.rules.coverage import coverage

    found = coverage(fitted_rules(rule_set, log), log.requests)
    out = []
    for rule, row in zip(rule_set.rules, found.rows):
        if not row["fired"] and not any(f"rule '{rule.id}' can never fire" in w for w in said):
            why = (f"; {row['near_misses']:,} missed by one part, most often {row['top_near_miss']}"
                   if row["near_misses"] else "")
            out.append(f"{rule.where}: rule '{rule.id}' fires on none of the log's "
                       f"{found.requests:,} requests{why} (see `suggest rules coverage`)")
        elif rule.suggest and row["fired"] and row["shadowed"] == row["fired"] and not any(
                f"rule '{rule.id}' is always shadowed" in w for w in said):  # said by the file
            out.append(f"{rule.where}: rule '{rule.id}' fires on {row['fired']:,} of the log's "
                       "requests and changes none of their lists (other rules place its items "
                       "higher, the list is full, or its items are blocked): it is shadowed "
                       "wherever it fires (see `suggest rules coverage`)")
    return out


def run_rule_tests(rules: str | Path, dataset=None) -> list[dict]:
    """``suggest rules test``: the results of the rule file's ``tests:`` section. A file
    with errors against the dataset, or without tests, is refused with the reason."""
    from suggest.rules import load_rules
    from suggest.rules.checks import check
    from suggest.rules.explain import run_tests

    rule_set = load_rules(rules)
    loaded = load_log(dataset) if dataset is not None else None
    errors = check(rule_set, loaded)[0] if loaded is not None else []
    if errors:  # a test of a file with errors says little: show the errors instead
        raise ErrorList([SuggestError(e) for e in errors],
                        summary=f"{rules}: {len(errors)} error(s) against {dataset}; "
                                "fix them before testing (see `suggest rules check`)")
    results = run_tests(fitted_rules(rule_set, loaded), loaded.context if loaded else None,
                        loaded.catalog if loaded else None)
    if not results:
        raise SuggestError(f"{rules} has no `tests:` section",
                           hint="add tests: [{context: {...}, expect: [...], blocked: [...]}]")
    return results


class FittedEngine:
    """A trained engine in a replay: ``fit`` returns it as it is, since fitting it again
    would train it on other data (``suggest replay --model``). On Dask it is the model
    loaded on a worker (:func:`suggest.daskfit.load_on_worker`)."""

    def __init__(self, engine):
        self.engine, self.name = engine, engine.name

    def fit(self, *args, **kwargs):
        return self.engine

    def get_params(self) -> dict:
        return {"model": self.engine.manifest_["training"]["fingerprint"]}


def rule_sets(rules) -> tuple[str | None, dict[str, str]]:
    """``(team, others)`` from ``--rules`` values (a path, or a list of ``[NAME=]PATH``): the
    first is the team's rule set (engine ``rules``; a name given to it only labels it), each
    other one must be ``NAME=PATH`` and becomes the engine ``NAME``."""
    if rules is None or isinstance(rules, (str, Path)):
        return (str(rules) if rules is not None else None), {}
    values = [str(v) for v in rules]
    if not values:
        return None, {}
    team, others = _named(values[0])[1], {}
    for value in values[1:]:
        name, path = _named(value)
        if name is None:
            # NAME:FILE, NAME FILE-like slips: the name the user meant, before the file
            meant, sep, rest = path.partition(":")
            if not (sep and meant and rest and Path(rest).exists() and not Path(path).exists()):
                meant, rest = "mined", path.lstrip("=")
            raise SuggestError(f"--rules {value}: a second rule set needs a name, NAME=FILE",
                               hint=f"e.g. --rules {meant}={rest}; the first --rules is the team's")
        taken = name.lower() in {n.lower() for n in BUILT_IN}
        if taken or name in others or not name.replace("-", "").replace("_", "").isalnum():
            why = ("is an engine's name" if taken else "is given twice" if name in others
                   else "is not a name (letters, digits, - and _)")
            raise SuggestError(f"--rules {value}: the name '{name}' {why}",
                               hint="name each extra rule set after what it is: mined, distilled, v2")
        others[name] = path
    return team, others


def _named(value: str) -> tuple[str | None, str]:
    name, sep, path = value.partition("=")
    if sep and name and "/" not in name and "\\" not in name:
        return name, path
    return None, value


def replay_engines(names: str | list[str] = DEFAULT_ENGINES, rules=None,
                   model: str | Path | None = None, seed: int = 0, split_by: str = "auto") -> dict:
    """Unfitted engines by name for a replay (``--engines``), checked before any work;
    with ``model``, the ranker is that trained model (a :class:`FittedEngine`); each rule
    set after the first in ``rules`` (:func:`rule_sets`) is one more engine, named after it."""
    from suggest.rules import RulesEngine

    rules, others = rule_sets(rules)
    from suggest.engines import get_engine
    from suggest.engines.base import replay_params

    chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)
              if n.strip()]
    if not chosen:
        raise SuggestError("--engines is empty", hint=f"e.g. --engines {DEFAULT_ENGINES}")
    engines, trained = {}, None
    for name in chosen:
        if name in others:  # a named rule set (--rules NAME=FILE) runs anyway: added below
            continue
        if name in ("rules", "hybrid") and rules is None:
            # both at once: leaving out one only to be stopped by the other was a tester's path
            rest = [n for n in chosen if n not in ("rules", "hybrid")]
            raise SuggestError(f"engine '{name}' needs --rules RULES.yaml",
                               hint="give the team's rule file with --rules, or replay without "
                                    "the rules and the hybrid: --engines " + ",".join(rest)
                                    if rest else "give the team's rule file with --rules")
        if name in ("ranker", "hybrid") and model is not None:
            # the ranker is the model; the hybrid is the same model with its rules' blocks
            from suggest.ranker import HybridEngine, RankerEngine

            if trained is None:
                trained = RankerEngine.load(model)
                trained.explain = False  # as a ranker trained in the replay: reasons cost most of its time
            engines[name] = FittedEngine(trained if name == "ranker" else
                                         HybridEngine.of(trained, f"--model {model}"))
            continue
        engines[name] = get_engine(name, **replay_params(name, rules, seed, split_by))
    for name, path in others.items():
        if name in engines:  # an engine of a plugin, or one --engines names
            raise SuggestError(f"--rules {name}={path}: the name '{name}' is an engine's name",
                               hint="name each extra rule set after what it is: mined, distilled, v2")
        engines[name] = RulesEngine(path, name=name)
    return engines


def replay_log(dataset, out: str | Path, *, log: str | Path | None = None,
               rules: str | Path | None = None, model: str | Path | None = None,
               engines: str | list[str] = DEFAULT_ENGINES, ks=(1, 3, 5, 10),
               test_share: float = 0.2, split_by: str = "auto", gap=None, seed: int = 0,
               chunk_size: int = 20_000, metric: str | None = None, min_segment: int | None = None,
               jobs: int | None = None, dask: str | None = None, progress: bool = False,
               latency_sample: int = 200, clip: float | None = None, force: bool = False,
               gain: str = "linear") -> dict:
    """``suggest replay``: load the log of ``dataset``, check the rules against it, replay
    the held-out part through ``engines`` into ``out`` (:func:`suggest.replay.replay`)
    and write the rejected rows beside the run; return the summary with
    :func:`rejects_summary`'s keys added.

    ``jobs`` and ``dask`` say where the chunks run (:func:`suggest.parallel.chunk_runner`);
    a scheduler that cannot be reached fails before the log is read.
    """
    from suggest.parallel import chunk_runner
    from suggest.replay import primary_metric, replay
    from suggest.segments import MIN_SEGMENT, check_min_size

    ks = sorted(set(ks))
    primary_metric(metric, ks)  # a metric the replay cannot compute fails before any work
    min_segment = MIN_SEGMENT if min_segment is None else min_segment
    check_min_size(min_segment)
    if chunk_size < 1:
        raise SuggestError(f"--chunk-size must be at least 1, not {chunk_size}")
    from suggest.counterfactual import check_clip

    check_clip(clip)  # before any work
    from suggest.evaluate import check_gain

    check_gain(gain)
    names = [e.strip() for e in engines.split(",")] if isinstance(engines, str) else list(engines)
    if model is not None and not {"ranker", "hybrid"} & set(names):
        raise SuggestError(f"--model {model} is replayed as the ranker and the hybrid, and "
                           f"--engines has neither ({', '.join(names)})",
                           hint="add ranker (or hybrid) to --engines, or drop --model")
    chosen = replay_engines(engines, rules, None if dask else model, seed, split_by)
    with chunk_runner(jobs, dask) as runner:
        # on Dask the workers read and hold the log (suggest.daskreplay), and the model
        client = getattr(runner, "client", None)
        if client is not None and model is not None and {"ranker", "hybrid"} & set(chosen):
            from suggest.daskfit import hybrid_on_worker, load_on_worker

            remote = load_on_worker(client, model, explain=False)
            if "ranker" in chosen:
                chosen["ranker"] = FittedEngine(remote)
            if "hybrid" in chosen:
                chosen["hybrid"] = FittedEngine(hybrid_on_worker(remote, f"--model {model}"))
        team, others = rule_sets(rules)
        loaded = checked_log(dataset, log, team, client=client, rejects=Path(out) / "rejects",
                             others=list(others.values()))
        try:
            _check_replay_inputs(loaded, chosen, client, dataset, clip)
        except SuggestError:
            if client is not None and not (Path(out) / "summary.json").exists():
                # the workers wrote them, and no run was begun (a finished run keeps its own)
                shutil.rmtree(Path(out) / "rejects", ignore_errors=True)
            raise
        summary = replay(loaded, chosen, out, ks=ks, test_share=test_share, seed=seed,
                         chunk_size=chunk_size, progress=progress, runner=runner,
                         latency_sample=latency_sample,
                         settings={"dataset": loaded.dataset.name, "log": str(loaded.dataset.log),
                                   "rules": str(team), **({"rule_sets": others} if others else {})},
                         metric=metric, min_segment=min_segment, split_by=split_by, gap=gap,
                         clip=clip, force=force, gain=gain,
                         cautions=[n for n in [_model_rules_differ(model, team)] if n] if model else [])
    found = rejects_summary(loaded, Path(out) / "rejects.csv")
    found["load_warnings"] = list(summary.get("warnings", found["load_warnings"]))
    return {**summary, **found}


def _check_replay_inputs(loaded, chosen: dict, client, dataset, clip) -> None:
    """Before a replay begins: ``--clip`` needs a log of what was shown, and a model given
    (the ranker or the hybrid) must fit the log."""
    if clip is not None and not loaded.dataset.position:
        raise SuggestError(f"--clip {clip:g} caps the counterfactual estimates' weights, and "
                           f"{dataset} is not a log of what was shown (no position and "
                           "propensity columns): there is nothing to clip",
                           hint="drop --clip, or describe the log's `position:` and "
                                "`propensity:` columns")
    fitted = [chosen[n] for n in ("ranker", "hybrid") if isinstance(chosen.get(n), FittedEngine)]
    if fitted:  # the model given, as the ranker or the hybrid (the same model)
        from suggest.ranker.artifact import check_fits

        trained = fitted[0].engine
        if client is None:
            check_fits(trained, loaded.requests, f"{dataset}")
        else:
            trained.ask(check_fits, loaded.empty_requests(), f"{dataset}")


def _model_rules_differ(model, rules) -> str | None:
    """A warning when the rule file a model was trained with (the copy in its folder) is not
    the one ``--rules`` gives: the rules engine replays ``rules``, the model (and its
    hybrid) its own copy."""
    import yaml

    copy = Path(model) / "rules.yaml"
    if rules is None or not copy.exists():
        return None
    try:
        same = yaml.safe_load(copy.read_text(encoding="utf-8")) == yaml.safe_load(
            Path(rules).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return None if same else (
        f"--model {model} was trained with other rules than --rules {rules}: the ranker and "
        f"the hybrid replay the copy in {copy} (their candidates, features and blocks), not "
        f"{rules}; train the model again with these rules to compare like with like")


def train_model(dataset, out: str | Path, *, log: str | Path | None = None,
                rules: str | Path | None = None, seed: int = 0, n_estimators: int | None = None,
                test_share: float = 0.0, split_by: str = "auto", gap=None,
                tune_seconds: float | None = None, ablation: bool = False, force: bool = False,
                jobs: int | None = None, dask: str | None = None,
                progress: bool = False) -> dict:
    """``suggest train``: train the ranker on the log of ``dataset`` and write the model
    folder ``out``; return the training summary (``train_text`` prints it).

    ``test_share`` leaves out what ``replay_log(..., test_share=X, seed=S)`` holds out,
    so the model can be replayed with ``model=``. ``n_estimators`` is the most trees
    (default 400; early stopping usually ends sooner); on Dask (``dask`` a scheduler
    address, or ``"local"``) exactly that many, or when ``None`` as many as a local
    validation run found best. ``tune_seconds`` and ``ablation`` train on this machine.
    """
    from suggest.ranker import RankerEngine
    from suggest.splits import split

    out = Path(out)
    if n_estimators is not None and n_estimators < 1:
        raise SuggestError(f"--n-estimators must be at least 1, not {n_estimators}")
    if not 0 <= test_share < 1:
        raise SuggestError(f"--test-share must be at least 0 and below 1, not {test_share}",
                           hint="a share of the requests, e.g. --test-share 0.2 for 20%")
    if test_share == 0 and (split_by != "auto" or gap):
        raise SuggestError("--split and --gap choose the requests --test-share leaves out",
                           hint="give --test-share 0.2 (as replay) with them")
    if not out.name or out.resolve() in (Path.cwd(), *Path.cwd().parents):
        # the folder is written beside itself (OUT.partial) and replaced whole: never the
        # folder the command runs in, nor one that holds it
        raise SuggestError(f"-o {out} is the folder you are in (or holds it): the model is a "
                           "folder of its own, replaced whole on --force",
                           hint="name one, e.g. -o models/NAME")
    if out.is_file():
        raise SuggestError(f"-o {out} is a file: a model is a folder", hint="name a folder, e.g. "
                           "-o models/NAME")
    if out.exists() and any(out.iterdir()) and not force:
        raise SuggestError(f"{out} already exists and is not empty",
                           hint="pass --force to replace it, or choose another -o folder")
    from suggest.ranker.artifact import refuse_foreign_folder

    refuse_foreign_folder(out, "-o ")  # --force replaces the folder whole: a model folder only
    if jobs is not None and not dask:
        raise SuggestError("--jobs sets the workers of a local Dask cluster: give --dask too",
                           hint="on one machine without Dask, training uses one LightGBM thread")
    if (tune_seconds is not None or ablation) and dask:
        raise SuggestError("--tune and --ablation train on this machine", hint="drop --dask")
    if tune_seconds is not None and tune_seconds <= 0:
        raise SuggestError(f"--tune takes seconds > 0, not {tune_seconds}", hint="e.g. --tune 60")
    engine = RankerEngine(rules=str(rules) if rules else None, seed=seed,
                          n_estimators=n_estimators or N_ESTIMATORS,
                          validation_by=split_by)  # validated as the test part is held out
    if dask:
        from suggest.parallel import dask_client

        cluster = dask_client(None if dask == "local" else dask, workers=jobs)
    else:
        cluster = contextlib.nullcontext()
    with cluster as client:  # a bad scheduler address fails before the log is read
        if client is not None:
            return _train_on_dask(engine, client, dataset, out, log=log, rules=rules,
                                  test_share=test_share, split_by=split_by, gap=gap, seed=seed,
                                  n_estimators=n_estimators, progress=progress)
        loaded = checked_log(dataset, log, rules)
        requests, truth, held_out = loaded.requests, loaded.truth, None
        if test_share > 0:
            part = split(loaded.requests, loaded.truth, test_share, seed, how=split_by, gap=gap)
            requests, truth, held_out = part.train, part.train_truth, part.how
        started = time.perf_counter()
        engine.fit(requests, truth, loaded.catalog, progress=progress)
        if tune_seconds is not None:
            engine.tune(requests, truth, tune_seconds, progress=progress)
        if ablation:
            engine.ablation(requests, truth)
    folder = engine.save(out, requests, truth, loaded.catalog,
                         dataset=_model_dataset(loaded, dataset, held_out,
                                                (test_share, seed, split_by, gap)))
    return {"model": str(folder), "seconds": round(time.perf_counter() - started, 1),
            "requests": len(requests), "engagements": len(truth), "held_out": held_out,
            "candidate_recall": engine.candidate_recall_, "candidate_cap": engine.cap,
            "eval_at": engine.eval_at, "validation": engine.validation_,
            "top_features": list(engine.manifest_importance(5)),
            **rejects_summary(loaded, folder / "rejects.csv")}


def _model_dataset(loaded, dataset, held_out, split=None) -> dict:
    """What a model folder records of the log it was trained on: with a held-out part, the
    replay options that hold out the same requests (``split``: test share, seed, split, gap)."""
    from suggest.rules.mine import split_options

    return {"name": loaded.dataset.name,
            "description": str(Path(dataset).absolute()) if isinstance(dataset, (str, Path))
            else str(dataset),
            "log": str(Path(loaded.dataset.log).absolute()), "held_out": held_out,
            **({"replay_options": split_options(*split)} if held_out and split else {})}


def _train_on_dask(engine, client, dataset, out: Path, *, log, rules, test_share, split_by, gap,
                   seed, n_estimators, progress) -> dict:
    """:func:`train_model` on a Dask cluster whose workers read and hold the log
    (:func:`suggest.ranker.distributed.fit_dask`); the rejected rows are written by the
    workers into the model folder's ``rejects/``."""
    from suggest.dasksplit import split_on_dask
    from suggest.ranker.distributed import fit_dask

    rejects = out.with_name(out.name + ".rejects")
    try:
        loaded = checked_log(dataset, log, rules, client=client, rejects=rejects)
        part = held_out = None
        if test_share > 0:
            part = split_on_dask(loaded, test_share, seed, how=split_by, gap=gap)
            held_out = part.how
        started = time.perf_counter()
        trained = fit_dask(engine, loaded, part, n_estimators=n_estimators, progress=progress)
        folder = trained.save(out, dataset=_model_dataset(loaded, dataset, held_out,
                                                          (test_share, seed, split_by, gap)))
    except BaseException:  # nothing is left beside the model that was not made
        shutil.rmtree(rejects, ignore_errors=True)
        raise
    if loaded.rejects is not None:  # beside the model files, as a local run's rejects.csv
        loaded.rejects = Path(shutil.move(str(loaded.rejects), str(folder / "rejects")))
    summary = trained.summary
    return {"model": str(folder), "seconds": round(time.perf_counter() - started, 1),
            "requests": summary["requests"], "engagements": summary["engagements"],
            "held_out": held_out, "candidate_recall": summary["candidate_recall"],
            "candidate_cap": summary["candidate_cap"], "eval_at": summary["eval_at"],
            "validation": summary["validation"], "top_features": summary["top_features"],
            **rejects_summary(loaded, folder / "rejects")}


def example_rules(out: str | Path, say=lambda line: None) -> Path:
    """The demo's rule set, copied from the installed package into ``out/rules.yaml`` (a
    file to read and edit; the demo works from any folder). A copy edited since is kept,
    and used: the demo run again replays the edited rules."""
    from importlib.resources import files

    target = Path(out) / "rules.yaml"
    shipped = files("suggest").joinpath("examples", "phone.yaml").read_bytes()
    if target.is_file() and target.read_bytes() != shipped:
        say(f"    keeping your edited {target} (delete it for the packaged rules)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shipped)
    return target


def demo(out: str | Path = "suggest-demo", *, users: int = 150, days: int = 28, seed: int = 0,
         say=lambda line: None) -> dict:
    """``suggest demo``: generate a synthetic world in ``out/world``, read it back, replay
    every engine into ``out/run`` with the rules in ``out/rules.yaml``, and write the
    report to ``out/report.html``; ``say`` is told each step. Returns the replay's summary."""
    from suggest import synth
    from suggest.data import load
    from suggest.files import write_atomic
    from suggest.replay import replay
    from suggest.report import render_run

    out = Path(out)
    config = synth.check_config(synth.preset_config("default", users=users, days=days, seed=seed))
    rules = example_rules(out, say)  # after the settings are known to be good: nothing left behind
    say(f"1/3 generating a synthetic world ({users} users, {days} days, seed {seed}) "
        f"in {out / 'world'}/")
    world = synth.generate(config, out / "world", progress=True)
    say(f"    {world['requests']:,} requests, {world['rows']:,} log rows")
    say("2/3 reading the log back through its dataset description")
    loaded = load(out / "world" / "dataset.yaml")
    report = loaded.report
    say(f"    {report.rows_in:,} rows read, {report.rows_ok:,} ok, {report.rows_rejected:,} rejected")
    say(f"3/3 replaying the latest 20% through rules ({rules}), the ranker, the hybrid "
        "and the baselines")
    summary = replay(loaded, replay_engines(DEFAULT_ENGINES, rules, None, seed), out / "run",
                     seed=seed, progress=True, latency_sample=50,
                     settings={"dataset": loaded.dataset.name, "log": str(loaded.dataset.log),
                               "rules": str(rules)}, force=True)
    write_atomic(out / "report.html",
                 render_run(out / "run", title="suggest demo: synthetic world", seed=seed))
    return summary


def evaluate_files(run: str | Path, truth: str | Path, ks=(1, 3, 5, 10),
                   gain: str = "linear", notes: list | None = None) -> dict:
    """``suggest evaluate``: every engine of the run file scored against the truth file
    (engine name -> :class:`~suggest.evaluate.Results`). ``notes``, when given, gets what a
    reader should know of the files (an item listed twice for a request counts once, at its
    best place, where trec_eval refuses the run)."""
    from suggest.data.runs import read_run, read_truth
    from suggest.errors import DataError
    from suggest.evaluate import evaluate, metric_names

    suggestions, relevant = read_run(run), read_truth(truth)
    if not (relevant["relevance"] > 0).any():
        raise DataError("the truth holds no relevant item (relevance above 0): every metric "
                        "would be undefined", where=str(truth),
                        hint="give the engagements with their relevance, e.g. 1 for a click")
    if notes is not None:
        from suggest.ids import isin

        repeats = int(suggestions.duplicated(["engine", "request_id", "item_id"]).sum())
        if repeats:
            notes.append(f"{repeats:,} rows of {run} list an item its request already has: each "
                         "item counts once, at its best place (trec_eval refuses such a run)")
        judged = relevant.loc[relevant["relevance"] > 0, "request_id"]
        common = isin(judged.astype(str).unique(), set(suggestions["request_id"].astype(str)))
        if not common.any():  # every request scores 0: most likely ids written two ways
            notes.append(f"no request of {truth} with a relevant item is in {run}: every figure "
                         "is 0 (ids are compared as text: '001' is not '1')")
        elif not common.all():
            notes.append(f"{int((~common).sum()):,} of the {len(common):,} requests of {truth} "
                         f"with a relevant item are not in {run}: they count as misses")
        reordered = _ranks_reordered(suggestions)
        if reordered:
            notes.append(f"{reordered:,} requests of {run} list their items in another order "
                         "than the scores give (highest first; equal scores by item id, as "
                         "DESIGN fixes): every metric reads the scores, as trec_eval does, "
                         "not the rank column; to keep your order, write scores that follow it")
        engines = suggestions.groupby("engine", sort=True)["request_id"]
        if engines.ngroups > 1:  # each engine's own gaps: one may skip what another answers
            wanted = judged.astype(str).unique()
            for engine, ids in engines:
                have = isin(wanted, set(ids.astype(str)))
                if common.any() and (have != common).any():
                    notes.append(f"engine {engine} lists nothing for {int((~have).sum()):,} of "
                                 f"the {len(wanted):,} requests of {truth} with a relevant "
                                 "item: they count as its misses")
    names = metric_names(sorted(set(ks)))
    return {engine: evaluate(part, relevant, names, gain=gain)
            for engine, part in suggestions.groupby("engine", sort=True)}


def _ranks_reordered(run) -> int:
    """Requests (of an engine) whose ``rank`` column orders their items otherwise than the
    scores do (descending, ties by item id): 0 without a rank column."""
    if "rank" not in run.columns or run["rank"].isna().any():
        return 0
    key = run["engine"] + "\x00" + run["request_id"]
    by_rank = run.assign(_key=key).sort_values(["_key", "rank"], kind="stable")
    by_score = run.assign(_key=key, _neg=-run["score"]).sort_values(["_key", "_neg", "item_id"],
                                                                    kind="stable")
    differ = by_rank["item_id"].to_numpy() != by_score["item_id"].to_numpy()
    return int(by_rank["_key"][differ].nunique())


def compare_run(run_dir: str | Path, a: str | None = None, b: str | None = None, *, by=(),
                metric: str | None = None, k: int | None = None, min_segment: int | None = None,
                seed: int = 0):
    """``suggest compare``: engine ``b`` against ``a`` on a replay folder, reading only what
    the comparison needs; the run's own primary metric unless ``metric`` (or ndcg at
    ``k``) is asked for; every context column tested when ``by`` is empty. ``b`` defaults
    to the ranker (else the hybrid, else the best baseline), ``a`` to the rules, as the
    report's (:func:`suggest.report.content.report_engines`)."""
    from suggest.compare import (COMPARED, check_distinct, check_engines, check_metric, compare,
                                 replay_tests)
    from suggest.data.runs import read_replay, read_run_truth, read_summary, run_metrics
    from suggest.evaluate import parse_metric
    from suggest.report.content import report_engines, report_metric
    from suggest.segments import run_min_size, segment_columns

    if metric is not None and k is not None:
        raise SuggestError(f"--k {k} and --metric {metric} both choose the cutoff",
                           hint=f"give one: --metric {metric}, or --k {k} for ndcg@{k}")
    summary = read_summary(run_dir)
    if len(summary["engines"]) < 2:
        raise SuggestError(f"{run_dir} replayed one engine ({', '.join(summary['engines'])}): "
                           "there is nothing to compare it with",
                           hint="replay it beside others, e.g. --engines rules,popular,user-history")
    if a is None or b is None:
        a, b, _ = report_engines(summary, a, b, report_metric(summary, metric or (
            f"ndcg@{k}" if k is not None else None)))
    check_engines([a, b], list(summary["engines"]))
    check_distinct(a, b, list(summary["engines"]))
    metric = check_metric(run_metrics(run_dir),
                          report_metric(summary, metric or (f"ndcg@{k}" if k is not None else None)))
    cutoff = parse_metric(metric)[1]
    # only what the comparison reads: a run of a million requests holds far more
    from suggest.verdict import families_text, other_rule_sets

    # a rule set replayed beside the team's, when it is one of the two: its own rules
    rule_engine = next((n for n in (a, b) if n in other_rule_sets(summary["engines"])), "rules")
    results, suggestions = read_replay(run_dir, engines=sorted({a, b, rule_engine}),
                                       max_rank=cutoff, cutoff=cutoff,
                                       suggestion_columns=COMPARED)
    found = compare(results, suggestions, a, b, k=cutoff, metric=metric,
                    by=list(by) or segment_columns(results),
                    min_segment=run_min_size(summary, min_segment), seed=seed,
                    truth=read_run_truth(run_dir), rule_engine=rule_engine)
    # the replay's own tests when it made them, so compare says what its verdict says
    stored = replay_tests(summary.get("comparisons") or [], a, b,
                          [r["metric"] for r in found.overall])
    if stored:
        found.overall = stored
        found.family = (f"the replay's own tests: {families_text(stored)}"
                        if any("headline" in r for r in stored) else  # a replay before them
                        f"the replay's {stored[0].get('family', '?')} overall tests")
    return found


def mine_rules(dataset, out: str | Path, *, log: str | Path | None = None, force: bool = False,
               **settings) -> dict:
    """``suggest rules mine``: mine a rule file from the training part of the log of
    ``dataset`` (:func:`suggest.rules.mine.mine`, ``settings`` passed on) and write it to
    ``out``, checked as `rules check --dataset` checks a file; nothing is written when no
    rule passed. An existing ``out`` (perhaps edited by hand) is kept unless ``force``."""
    from suggest.files import write_atomic
    from suggest.rules.checks import check
    from suggest.rules.mine import mine
    from suggest.rules.model import parse_rules

    out = Path(out)
    _keep_edited(out, force)
    loaded = load_log(dataset, log)
    mined = mine(loaded, source=str(loaded.dataset.log), **settings)
    written = None
    if mined.rules:
        errors, _ = check(parse_rules(mined.text, source=str(out)), loaded)
        if errors:  # the miner wrote something `rules check` refuses: a bug, not the user's
            raise RuntimeError(f"the mined rule file does not pass its own check: {errors[0]}")
        written = str(write_atomic(out, mined.text))
    return {**mined.summary, "file": written, "dataset": str(dataset),
            "rows_in": loaded.report.rows_in, "rows_rejected": loaded.report.rows_rejected,
            "rules_found": [{"id": r["id"], "when": r["label"], "suggest": r["suggest"],
                             "support": r["support"], "lift": round(r["lift"], 3),
                             "q": r["q"],
                             "held_out": r["held_out"], "priority": r["priority"]}
                            for r in mined.rules]}


def _same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` name the same file (False when either is not a path to one)."""
    try:
        return bool(a) and isinstance(b, (str, Path)) and Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, TypeError):
        return False


def _keep_edited(out: Path, force: bool) -> None:
    """Refuse to replace a rule file (perhaps edited by hand) unless ``force``; a folder is
    not a file."""
    if out.is_dir():
        raise SuggestError(f"{out} is a folder", hint=f"give a file name, e.g. -o {out / 'rules.yaml'}")
    if out.exists() and not force:
        raise SuggestError(f"{out} already exists", hint="pass --force to replace it (edits to "
                                                         "it are lost), or choose another -o file")


def distil_rules(model_dir, dataset, out: str | Path, *, force: bool = False, k: int = 5,
                 **settings) -> dict:
    """``suggest rules distil``: distil the ranker in ``model_dir`` into a rule file ``out``
    (:func:`suggest.rules.distil.distil` on the model's own training requests), checked as
    `rules check --dataset` checks a file; its fidelity is measured by running the written
    file through the rules engine. An existing ``out`` is kept unless ``force``."""
    from suggest.files import write_atomic
    from suggest.ids import isin
    from suggest.ranker import RankerEngine
    from suggest.ranker.artifact import check_fits, fingerprint
    from suggest.rules import RulesEngine
    from suggest.rules.checks import check
    from suggest.rules.distil import distil, fidelity
    from suggest.rules.mine import rules_zone
    from suggest.rules.model import parse_rules

    out, folder = Path(out), Path(model_dir)
    _keep_edited(out, force)
    model = RankerEngine.load(folder)
    # the log the model was trained on (train LOG --dataset D: not D's own), when this is
    # the description it was trained with and that log is there
    trained_for = model.manifest_.get("dataset") or {}
    said = trained_for.get("log")
    same = _same_file(trained_for.get("description"), dataset)
    there = said and (Path(said).exists() or glob.glob(said))  # a file, folder or glob
    log = said if same and there else None
    loaded = load_log(dataset, log)
    check_fits(model, loaded.requests, str(dataset))
    # the model's training requests, their contexts read from the dataset's log
    trained_on = loaded.requests[isin(loaded.requests["request_id"], model.trained_on_)]
    if trained_on.empty:
        raise SuggestError(f"none of the {len(model.trained_on_):,} requests {folder} was trained on "
                           f"is in the log of {dataset}",
                           hint="pass the dataset the model was trained on (its manifest.json "
                                "names it under dataset)")
    trained_on = trained_on.reset_index(drop=True)
    recorded = model.manifest_.get("training", {}).get("fingerprint")
    counted = fingerprint(trained_on, loaded.truth[isin(loaded.truth["request_id"],
                                                        trained_on["request_id"])])
    if recorded and counted != recorded:  # same ids, other requests: another or an edited log
        raise SuggestError(
            f"the log of {dataset} does not hold the requests {folder} was trained on: "
            f"{len(trained_on):,} of its {len(model.trained_on_):,} training request ids are "
            "there, but their users or engagements differ (fingerprint "
            f"{counted}, the model's {recorded})",
            hint="pass the dataset the model was trained on, its log unchanged (the model's "
                 "manifest.json names it under dataset), or train a model on this one")
    context = {c: kind for c, kind in loaded.context.items() if c in trained_on.columns}
    zone = rules_zone(loaded)
    found = distil(model, trained_on, context, zone=zone, k=k, source=str(folder), **settings)
    rule_set = parse_rules(found.text, source=str(out))
    errors, _ = check(rule_set, loaded)
    if errors:  # the distiller wrote something `rules check` refuses: a bug, not the user's
        raise RuntimeError(f"the distilled rule file does not pass its own check: {errors[0]}")
    measured = fidelity(RulesEngine(rule_set, timezone=zone).fit().suggest(found.requests, k),
                        found.lists, k, len(found.requests))
    if abs(measured - found.summary["fidelity"]) > 1e-9:
        raise RuntimeError(f"the distilled rules reproduce {measured:.4f} of the ranker's lists, "
                           f"not the {found.summary['fidelity']:.4f} the distiller counted")
    held_out = trained_for.get("held_out")
    warning = None if held_out else (
        "the model was trained on the whole log: a replay of these rules (or of the model) "
        "on it scores contexts they were fitted on; train with --test-share 0.2 and distil that"
        if trained_for else
        "the model folder does not say what it was trained on (saved from Python without "
        "dataset=): if it saw the requests a replay holds out, a replay of these rules scores "
        "contexts they were fitted on; `suggest train --test-share 0.2` records it")
    text = found.text if held_out else f"# Warning: {warning}.\n" + found.text
    replay_options = trained_for.get("replay_options",
                                     "--test-share X --seed S (as the model was trained)")
    team_rules = model.manifest_.get("params", {}).get("rules")  # the file it was trained with
    return {**found.summary, "file": str(write_atomic(out, text)), "model": str(folder),
            "dataset": str(dataset),
            "log": log if log and Path(log) != described(dataset).log else None,
            "held_out": held_out, "warning": warning, "replay_options": replay_options,
            "rules_file": team_rules if team_rules and Path(team_rules).is_file()
            and Path(team_rules).parent != folder else None,
            "rules_found": [{"id": r["id"], "when": r["condition"], "suggest": r["suggest"],
                             "requests": r["requests"], "agreement": r["agreement"]}
                            for r in found.rules]}
