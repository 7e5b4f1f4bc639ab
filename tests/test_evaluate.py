"""Metrics against ranx and trec_eval (through ir-measures), and the choices DESIGN fixes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from suggest.errors import SuggestError
from suggest.evaluate import evaluate, metric_names


KS = (1, 3, 5, 10)
OURS_TO_IRM = {"precision": "P", "recall": "R", "hit_rate": "Success", "mrr": "RR", "map": "AP",
               "ndcg": "nDCG"}


def random_case(seed: int, graded: bool):
    """Runs with ties, short and empty lists, and requests without any relevant item."""
    rng = np.random.default_rng(seed)
    items = [f"i{j:02d}" for j in range(30)]
    run_rows, truth_rows = [], []
    for q in range(60):
        qid = f"q{q:02d}"
        n = int(rng.choice([0, 1, 2, 4, 8, 15]))
        chosen = rng.choice(items, size=n, replace=False)
        scores = rng.integers(0, 4, size=n).astype(float)  # few values: many ties
        run_rows += [(qid, it, s) for it, s in zip(chosen, scores)]
        n_rel = int(rng.choice([0, 1, 2, 3, 6]))
        relevant = rng.choice(items, size=n_rel, replace=False)
        truth_rows += [(qid, it, float(rng.integers(1, 4)) if graded else 1.0) for it in relevant]
    run = pd.DataFrame(run_rows, columns=["request_id", "item_id", "score"])
    truth = pd.DataFrame(truth_rows, columns=["request_id", "item_id", "relevance"])
    return run, truth


def tie_free(run: pd.DataFrame) -> pd.DataFrame:
    """Scores rewritten so every library sees our order: score desc, then item id asc."""
    ordered = run.sort_values(["request_id", "score", "item_id"], ascending=[True, False, True])
    position = ordered.groupby("request_id").cumcount()
    return ordered.assign(score=1000.0 - position)


def reference_ir_measures(run, truth, name):
    ir_measures = pytest.importorskip("ir_measures")  # only the cross-checks need the libraries
    base, k = name.split("@")
    measure = ir_measures.parse_measure(f"{OURS_TO_IRM[base]}@{k}")
    qrels = [ir_measures.Qrel(r.request_id, r.item_id, int(r.relevance)) for r in truth.itertuples()]
    docs = [ir_measures.ScoredDoc(r.request_id, r.item_id, float(r.score)) for r in run.itertuples()]
    return {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, docs)}


def reference_ranx(run, truth, name):
    ranx = pytest.importorskip("ranx")
    as_object = {"request_id": object, "item_id": object}  # ranx wants object, pandas 3 gives str
    truth, run = truth.astype(as_object), run.astype(as_object)
    qrels = ranx.Qrels.from_df(truth.assign(relevance=truth["relevance"].astype(int)),
                               q_id_col="request_id", doc_id_col="item_id", score_col="relevance")
    queries = sorted(set(truth["request_id"]))
    present = run[run["request_id"].isin(queries)]
    runs = ranx.Run.from_df(present, q_id_col="request_id", doc_id_col="item_id", score_col="score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = ranx.evaluate(qrels, runs, name, return_mean=False, make_comparable=True)
    return dict(zip(sorted(set(qrels.keys())), np.atleast_1d(values)))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("graded", [False, True])
def test_every_metric_matches_trec_eval_and_ranx(seed, graded):
    run, truth = random_case(seed, graded)
    names = metric_names(KS)
    ours = evaluate(run, truth, names).per_request.set_index("request_id")
    clean = tie_free(run)
    for name in names:
        irm = reference_ir_measures(clean, truth, name)
        for qid, value in ours[name].items():
            # trec_eval leaves out queries with no returned item; ours scores them 0
            assert value == pytest.approx(irm.get(qid, 0.0), abs=1e-9), (name, qid)
        rx = reference_ranx(clean, truth, name)
        for qid, value in ours[name].items():
            assert value == pytest.approx(rx[qid], abs=1e-9), (name, qid, "ranx")


def test_requests_without_a_relevant_item_are_left_out_and_counted():
    run = pd.DataFrame({"request_id": ["a", "b", "c"], "item_id": ["x", "x", "x"], "score": 1.0})
    truth = pd.DataFrame({"request_id": ["a", "d"], "item_id": ["x", "y"], "relevance": [1.0, 1.0]})
    result = evaluate(run, truth, ["hit_rate@1"])
    assert result.requests == 2  # a (hit) and d (nothing returned: 0)
    assert result.requests_without_positive == 2  # b and c
    assert result.means["hit_rate@1"] == 0.5


def test_ties_are_broken_by_item_id_and_rank_column_is_ignored():
    run = pd.DataFrame({"request_id": "q", "item_id": ["b", "a", "c"], "score": [1.0, 1.0, 2.0],
                        "rank": [1, 2, 3]})
    truth = pd.DataFrame({"request_id": ["q"], "item_id": ["a"], "relevance": [1.0]})
    assert evaluate(run, truth, ["mrr@3"]).means["mrr@3"] == pytest.approx(1 / 2)


def test_precision_divides_by_k_and_map_by_all_relevant():
    run = pd.DataFrame({"request_id": "q", "item_id": ["a"], "score": [1.0]})
    truth = pd.DataFrame({"request_id": "q", "item_id": ["a", "b", "c", "d"], "relevance": 1.0})
    means = evaluate(run, truth, ["precision@5", "map@2", "recall@5"]).means
    assert means == {"precision@5": pytest.approx(0.2), "map@2": pytest.approx(0.25),
                     "recall@5": pytest.approx(0.25)}


def test_ndcg_ideal_counts_relevant_items_never_returned_and_exp_gain():
    run = pd.DataFrame({"request_id": "q", "item_id": ["a"], "score": [1.0]})
    truth = pd.DataFrame({"request_id": "q", "item_id": ["a", "b"], "relevance": [1.0, 2.0]})
    linear = evaluate(run, truth, ["ndcg@5"]).means["ndcg@5"]
    assert linear == pytest.approx(1.0 / (2.0 + 1.0 / np.log2(3)))
    exp = evaluate(run, truth, ["ndcg@5"], gain="exp").means["ndcg@5"]
    assert exp == pytest.approx(1.0 / (3.0 + 1.0 / np.log2(3)))


def test_exp_gain_keeps_grades_past_1023_finite_and_leaves_small_ones_bit_for_bit():
    """2^1100 - 1 overflows float64: such a request's NDCG was NaN, and the mean skipped it
    (a tester's ndcg@2 read 0.0000 for about 0.315). Its gains are now divided by 2^(its
    largest grade), which leaves the ratio as it is; a request of small grades is as before."""
    run = pd.DataFrame({"request_id": ["big", "big", "small", "small"],
                        "item_id": ["a", "b", "a", "b"], "score": [2.0, 1.0, 2.0, 1.0]})
    truth = pd.DataFrame({"request_id": ["big", "big", "small", "small"],
                          "item_id": ["a", "b", "a", "b"], "relevance": [1099.0, 1100.0, 3.0, 4.0]})
    got = evaluate(run, truth, ["ndcg@2"], gain="exp").per_request.set_index("request_id")["ndcg@2"]
    # in units of 2^1099: a's gain is 1, b's 2 (the 1s subtracted are 2^-1099: nothing)
    assert got["big"] == pytest.approx((1 + 2 / np.log2(3)) / (2 + 1 / np.log2(3)), rel=1e-12)
    assert got["small"] == (7.0 + 15.0 / np.log2(3)) / (15.0 + 7.0 / np.log2(3))


@pytest.mark.parametrize("bad, words", [("ndgc@5", "did you mean 'ndcg'"), ("ndcg", "cutoff"),
                                        ("ndcg@0", "cutoff")])
def test_bad_metric_names_are_clear(bad, words):
    with pytest.raises(SuggestError, match=words):
        evaluate(pd.DataFrame(columns=["request_id", "item_id", "score"]),
                 pd.DataFrame(columns=["request_id", "item_id", "relevance"]), [bad])


def test_a_run_in_list_order_and_the_same_run_shuffled_score_the_same():
    """Lists written in order skip the sort; duplicates, ties, ids as numbers and text and
    truth-only requests must come out as from a shuffled copy that takes the sort."""
    rng = np.random.default_rng(3)
    rows = []
    for q in range(300):
        scores = np.round(rng.random(12), 1)  # ties within lists
        for item, score in zip(rng.choice(40, 12), sorted(scores, reverse=True)):
            rows.append((q if q % 2 else str(q), f"i{item}", score))  # repeats of an item, too
    run = pd.DataFrame(rows, columns=["request_id", "item_id", "score"])
    run = run.sort_values(["request_id", "score", "item_id"], ascending=[True, False, True],
                          key=lambda c: c.astype(str) if c.name == "request_id" else c, kind="stable")
    truth = pd.DataFrame({"request_id": [str(q) for q in rng.integers(0, 320, 500)],
                          "item_id": [f"i{i}" for i in rng.integers(0, 40, 500)],
                          "relevance": rng.integers(0, 3, 500).astype(float)})
    ordered = evaluate(run, truth)
    shuffled = evaluate(run.sample(frac=1, random_state=1), truth)
    assert ordered.means == pytest.approx(shuffled.means, abs=1e-12)
    assert ordered.requests_without_positive == shuffled.requests_without_positive > 0
    pd.testing.assert_frame_equal(ordered.per_request, shuffled.per_request)


@pytest.mark.parametrize("where, ks", [("below the cut-off", (1, 3)), ("anywhere", (1, 3)),
                                       ("anywhere", (5, 10_000))])
def test_a_repeated_item_counts_once_at_its_best_place(where, ks):
    """Whether the copies sit inside the top k, only below it, or the cut-off is longer than
    every list: the run scores as the same run without the later copies."""
    rng = np.random.default_rng(5)
    rows = []
    for q in range(200):
        top = rng.choice(30, 3, replace=False)
        rest = rng.choice(top, 4) if where == "below the cut-off" else rng.choice(30, 4)
        items = np.r_[top if where == "below the cut-off" else rng.choice(30, 3), rest]
        rows += [(f"q{q}", f"i{item}", 10.0 - place) for place, item in enumerate(items)]
    run = pd.DataFrame(rows, columns=["request_id", "item_id", "score"])
    truth = pd.DataFrame({"request_id": [f"q{q}" for q in rng.integers(0, 200, 400)],
                          "item_id": [f"i{i}" for i in rng.integers(0, 30, 400)],
                          "relevance": rng.integers(1, 3, 400).astype(float)})
    once = run.drop_duplicates(["request_id", "item_id"])  # in list order: keeps the best place
    assert len(once) < len(run)
    names = metric_names(ks)
    repeated, single = evaluate(run, truth, names), evaluate(once, truth, names)
    pd.testing.assert_frame_equal(repeated.per_request, single.per_request)
    # copies counted as hits would take recall past 1 where a relevant item repeats
    assert repeated.per_request[f"recall@{ks[-1]}"].max() <= 1


def test_one_metric_name_and_a_missing_column_are_read_as_a_caller_means_them():
    from suggest.errors import SuggestError

    run = pd.DataFrame({"request_id": ["q1", "q1"], "item_id": ["a", "b"], "score": [2.0, 1.0]})
    truth = pd.DataFrame({"request_id": ["q1"], "item_id": ["b"], "relevance": [1.0]})
    one = evaluate(run, truth, "mrr@5")  # a string is one name, not five letters
    assert one.means == {"mrr@5": 0.5}
    with pytest.raises(SuggestError, match="the run frame has no column 'score'"):
        evaluate(run.drop(columns="score"), truth, ["mrr@5"])
    with pytest.raises(SuggestError, match="the truth frame has no column 'relevance'"):
        evaluate(run, truth.rename(columns={"relevance": "rel"}), ["mrr@5"])
