"""Candidate generation: the union of the sources, capped, with source flags and blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suggest.data import load
from suggest.engines.baselines import ContextPopular
from suggest.ranker.candidates import Candidates, recall
from suggest.rules import RulesEngine

ROOT = Path(__file__).resolve().parents[1]

RULES = """\
version: 1
max_suggestions: 5
rules:
  - id: commute-news
    priority: 10
    when: {location: commute}
    suggest: [news, podcast]
  - id: no-video-while-driving
    when: {activity: driving}
    block: [video, game]
"""


def frames(rows):
    """rows: (request_id, user, iso time, location, activity, engaged items)."""
    requests = pd.DataFrame({
        "request_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
        "timestamp": pd.to_datetime([r[2] for r in rows], utc=True),
        "location": pd.Categorical([r[3] for r in rows], categories=["commute", "home", "work"]),
        "activity": pd.Categorical([r[4] for r in rows], categories=["driving", "still"])})
    truth = pd.DataFrame([(r[0], item, 1.0) for r in rows for item in r[5]],
                         columns=["request_id", "item_id", "relevance"])
    return requests, truth


TRAIN = [("a1", "u1", "2026-03-01T08:00Z", "home", "still", ["video"]),
         ("a2", "u1", "2026-03-01T09:00Z", "home", "still", ["music"]),
         ("a3", "u1", "2026-03-01T10:00Z", "home", "still", ["music"]),
         ("a4", "u2", "2026-03-01T08:00Z", "work", "still", ["mail"]),
         ("a5", "u2", "2026-03-01T09:00Z", "work", "still", ["mail"]),
         ("a6", "u3", "2026-03-01T10:00Z", "home", "still", ["video"]),
         ("a7", "u3", "2026-03-01T11:00Z", "work", "still", ["mail"]),
         ("a8", "u1", "2026-03-03T08:00Z", "home", "still", ["game"])]  # after the probes
PROBES = [("p1", "u1", "2026-03-02T08:00Z", "commute", "driving", ["news", "game"]),
          ("p2", "u2", "2026-03-02T08:00Z", "home", "still", ["mail"]),
          ("p3", "u9", "2026-03-02T08:00Z", "commute", "still", ["tv"])]
QUOTAS = {"history": 2, "rules": 2, "context": 2, "popular": 2}


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    requests, truth = frames(TRAIN)
    probes, probe_truth = frames(PROBES)
    rules = RulesEngine(str(path)).fit(requests, truth)
    cands = Candidates(cap=5, quotas=QUOTAS).fit(requests, truth, None, rules)
    context = ContextPopular().fit(requests, truth).suggest(probes, 2)
    return probes, probe_truth, cands.generate(probes), context


def table(cand, request):
    rows = cand[cand["row"] == request].set_index("item_id")
    return rows


def test_sources_are_merged_in_source_order_and_capped(hand):
    probes, _, cand, _ = hand
    # p1: u1's past before 03-02 (music twice, video once; not the later game), the
    # commute rule's two items, then the context and popular lists (mail first)
    assert table(cand, 0).index.tolist() == ["music", "video", "news", "podcast", "mail"]
    assert cand.groupby("row").size().max() <= 5
    assert not cand.duplicated(["row", "item_id"]).any()


def test_source_flags_rule_rank_and_blocks_on_a_hand_made_case(hand):
    probes, _, cand, context = hand
    p1 = table(cand, 0)
    assert p1["src_history"].to_dict() == {"music": 1, "video": 1, "news": 0, "podcast": 0, "mail": 0}
    assert p1["src_rules"].to_dict() == {"music": 0, "video": 0, "news": 1, "podcast": 1, "mail": 0}
    # popular: mail (3 engagements), then music and video (2 each, by id)
    assert p1["src_popular"].to_dict() == {"music": 1, "video": 0, "news": 0, "podcast": 0, "mail": 1}
    np.testing.assert_array_equal(p1["rule_rank"].to_numpy(), [np.nan, np.nan, 1, 2, np.nan])
    # driving: the block rule fired and video (proposed by history) is marked, nothing else
    assert p1["rule_blocked"].to_dict() == {"music": 0, "video": 1, "news": 0, "podcast": 0, "mail": 0}
    # commute without driving (p3): the rule proposes, no block fires, no history
    p3 = table(cand, 2)
    assert p3.loc[["news", "podcast"], "src_rules"].tolist() == [1, 1]
    assert p3["rule_blocked"].sum() == 0 and p3["src_history"].sum() == 0
    # p2: no rule fires; u2's only past item is mail
    p2 = table(cand, 1)
    assert p2["src_rules"].sum() == 0 and p2["rule_rank"].isna().all()
    assert p2.index[p2["src_history"] == 1].tolist() == ["mail"]
    # the context flag is set exactly on the context-popular source's items
    for row, rid in enumerate(probes["request_id"]):
        listed = set(context.loc[context["request_id"] == rid, "item_id"].astype(str))
        flagged = table(cand, row)
        assert set(flagged.index[flagged["src_context"] == 1]) == listed & set(flagged.index)


def test_recall_is_the_share_of_engaged_pairs_among_candidates(hand):
    probes, probe_truth, cand, _ = hand
    # engaged: (p1, news) yes, (p1, game) no, (p2, mail) yes, (p3, tv) no
    assert recall(cand, probes, probe_truth) == pytest.approx(2 / 4)
    # engagements of requests not asked about are ignored, not counted as misses
    other = pd.concat([probe_truth, pd.DataFrame({"request_id": ["zz"], "item_id": ["x"],
                                                  "relevance": [1.0]})])
    assert recall(cand, probes, other) == pytest.approx(2 / 4)
    assert np.isnan(recall(cand, probes, probe_truth.iloc[:0]))


def test_on_the_sample_world_at_most_cap_distinct_items_per_request(tmp_path):
    log = load(ROOT / "data" / "sample" / "dataset.yaml")
    requests = log.requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    train, test = requests.iloc[:4000], requests.iloc[4000:4600].reset_index(drop=True)
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    rules = RulesEngine(str(ROOT / "rules" / "phone.yaml")).fit(train, truth, log.catalog)
    cand = Candidates(cap=12).fit(train, truth, log.catalog, rules).generate(test)
    sizes = cand.groupby("row").size()
    assert sizes.max() == 12 and len(sizes) == len(test)
    assert not cand.duplicated(["row", "item_id"]).any()
    # every item a block rule removed for a request is marked, and only those
    blocked = rules.blocked(test)
    marked = cand.loc[cand["rule_blocked"] == 1]
    got = set(zip(test["request_id"].to_numpy()[marked["row"]], marked["item_id"]))
    want = set(zip(blocked["request_id"], blocked["item_id"]))
    assert got and got <= want
    shown = set(zip(test["request_id"].to_numpy()[cand["row"]], cand["item_id"]))
    assert got == want & shown


def test_training_candidates_are_marked_blocked_by_their_own_time_blocks_rules():
    """A training request's candidates come from the sources of its time block; so do its
    block marks. Marked per candidate (a lookup a block rule and pair), they are the pairs
    each block's rules list with `blocked` (which lists every (request, item) pair a block
    removes: 55M of them, 13 GiB, on a tester's 20,000-item catalog), among the candidates."""
    log = load(ROOT / "data" / "sample" / "dataset.yaml")
    requests = log.requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    train = requests.iloc[:4000]
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    rules = RulesEngine(str(ROOT / "rules" / "phone.yaml")).fit(train, truth, log.catalog)
    candidates = Candidates(cap=12).fit(train, truth, log.catalog, rules)
    asked = train.iloc[::3].reset_index(drop=True)  # requests of every block
    cand = candidates.generate(asked, training=True)
    group = candidates._groups(asked)
    assert len(set(group.tolist())) == candidates.blocks
    want = set()
    for g, sources in candidates.by_group_.items():
        mine = asked[group == g]
        listed = sources["rules"].blocked(mine)
        want |= set(zip(listed["request_id"], listed["item_id"]))
    marked = cand.loc[cand["rule_blocked"] == 1]
    got = set(zip(asked["request_id"].to_numpy()[marked["row"]], marked["item_id"]))
    shown = set(zip(asked["request_id"].to_numpy()[cand["row"]], cand["item_id"]))
    assert got and got == want & shown


def test_text_context_columns_slice_like_categorical_ones():
    """A frame built by hand has pandas' ``str`` dtype for text: same slices, same candidates."""
    requests, truth = frames(TRAIN)
    probes, _ = frames(PROBES)

    def as_text(frame):
        return frame.assign(location=frame["location"].astype(str), activity=frame["activity"].astype(str))

    want = Candidates(cap=5, quotas=QUOTAS).fit(requests, truth).generate(probes)
    got = Candidates(cap=5, quotas=QUOTAS).fit(as_text(requests), truth).generate(as_text(probes))
    pd.testing.assert_frame_equal(got, want)
    slices = ContextPopular().fit(as_text(requests), truth)
    assert "location" in slices.columns_ and "activity" in slices.columns_
