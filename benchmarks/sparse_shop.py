"""A sparse shop log with a large long-tail catalog, where block rules over catalog slices
meet thousands of items: the world behind the "block rules over a large catalog" figures in
RESULTS.md.

About 150,000 requests (256,000 rows) from 20,000 users over 8 weeks in Europe/Berlin
(across the 2026-03-29 clock change), a 20,000-item catalog with Zipf popularity and three
attributes, about 90% of requests without a click (impressions of relevance 0), and a rule
file of six suggesting rules and two block rules ("at night, block premium": about 4,000
items; "without a cart, block auto": about 880).

Usage::

    python benchmarks/sparse_shop.py --out /tmp/shop            # ~1 min: log, catalog, rules
    /usr/bin/time -v suggest train --dataset /tmp/shop/dataset.yaml --rules /tmp/shop/rules.yaml -o /tmp/shop-model
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd

DATASET = """\
name: shop
log: events.csv
timezone: Europe/Berlin
columns:
  request: request_id
  user: user
  item: sku
  relevance: event      # 0 impression, 1 click, 2 add-to-cart, 3 purchase
  time: ts
context:
  device: {type: categorical, values: [mobile, desktop, tablet]}
  page_type: {type: categorical, values: [home, search, product, cart, category]}
  daypart: {type: categorical, values: [night, morning, afternoon, evening]}
  cart_value: numeric
catalog:
  path: catalog.csv
  item: sku
  attributes:
    category: categorical
    brand: categorical
    price_band: categorical
"""

RULES = """\
version: 1
conflict: priority
max_suggestions: 5
rules:
  - id: big-cart-electronics
    description: a big cart on the cart page, offer electronics add-ons
    priority: 30
    when:
      all:
        - page_type: cart
        - cart_value: {gt: 80}
    suggest:
      - {category: electronics, top: 5}
  - id: small-cart-home
    priority: 25
    when:
      all:
        - page_type: cart
        - cart_value: {lte: 80}
    suggest:
      - {category: home, top: 5}
  - id: weekday-morning-grocery
    priority: 20
    when:
      all:
        - time: {between: ["06:00", "12:00"], days: [mon, tue, wed, thu, fri]}
    suggest:
      - {category: grocery, top: 3}
  - id: mobile-evening-fashion
    priority: 20
    when:
      all:
        - device: mobile
        - daypart: evening
    suggest:
      - {category: fashion, top: 4}
  - id: weekend-sports
    priority: 10
    when:
      all:
        - time: {between: ["00:00", "24:00"], days: [sat, sun]}
    suggest:
      - {category: sports, top: 3}
  - id: desktop-premium
    priority: 5
    when: {device: desktop}
    suggest:
      - {price_band: premium, top: 3}
  - id: night-no-premium
    when: {daypart: night}
    block:
      - {price_band: premium}
  - id: no-cart-no-auto
    when: {cart_value: {missing: true}}
    block:
      - {category: auto}
tests:
  - name: big cart gets electronics
    context: {page_type: cart, device: desktop, daypart: afternoon, timestamp: "2026-03-03T15:00:00+01:00"}
    blocked: [sku00080]
"""


def write(out: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/dataset.yaml", "w", encoding="utf-8") as f:
        f.write(DATASET)
    with open(f"{out}/rules.yaml", "w", encoding="utf-8") as f:
        f.write(RULES)
    N_ITEMS, N_USERS, N_REQ = 20_000, 20_000, 150_000
    CATS = ["electronics", "fashion", "home", "beauty", "sports", "toys", "books", "grocery",
            "garden", "auto", "pets", "office", "jewelry", "shoes", "music"]
    # catalog
    items = np.array([f"sku{i:05d}" for i in range(N_ITEMS)])
    cat = rng.choice(CATS, N_ITEMS, p=np.r_[[0.15, 0.15, 0.1, 0.08, 0.08], np.full(10, 0.044)])
    brand = np.array([f"brand{b:03d}" for b in rng.integers(0, 400, N_ITEMS)])
    price_band = rng.choice(["budget", "mid", "premium"], N_ITEMS, p=[0.4, 0.4, 0.2])
    # Zipf popularity over a random permutation of items
    pop_rank = rng.permutation(N_ITEMS)
    pop = 1.0 / (pop_rank + 1) ** 1.05
    pop /= pop.sum()
    catalog = pd.DataFrame({"sku": items, "category": cat, "brand": brand, "price_band": price_band})
    catalog.to_csv(f"{out}/catalog.csv", index=False)

    # users: activity Zipf-ish, favourite category
    uact = rng.pareto(1.5, N_USERS) + 1
    uact /= uact.sum()
    users = np.array([f"c{u:05d}" for u in range(N_USERS)])
    ufav = rng.choice(CATS, N_USERS)
    udevice = rng.choice(["mobile", "desktop", "tablet"], N_USERS, p=[0.6, 0.32, 0.08])

    req_user = rng.choice(N_USERS, N_REQ, p=uact)
    day = rng.integers(0, 56, N_REQ)
    # hour profile: evenings busier
    hp = np.array([1, .5, .3, .2, .2, .3, .8, 1.5, 2, 2.2, 2.4, 2.6, 3, 2.6, 2.4, 2.4, 2.6, 3, 3.6, 4.2, 4.6, 4, 3, 1.8])
    hour = rng.choice(24, N_REQ, p=hp / hp.sum())
    minute = rng.integers(0, 60, N_REQ)
    second = rng.integers(0, 60, N_REQ)
    naive = (pd.Timestamp("2026-02-16") + pd.to_timedelta(day, "D") + pd.to_timedelta(hour, "h")
             + pd.to_timedelta(minute, "m") + pd.to_timedelta(second, "s"))
    loc = pd.DatetimeIndex(naive).tz_localize("Europe/Berlin", nonexistent="shift_forward", ambiguous=False)
    ts_text = loc.strftime("%Y-%m-%dT%H:%M:%S%z")
    ts_text = [t[:-2] + ":" + t[-2:] for t in ts_text]
    lhour = loc.hour.to_numpy()
    daypart = np.select([lhour < 6, lhour < 12, lhour < 18], ["night", "morning", "afternoon"], "evening")
    device = np.where(rng.random(N_REQ) < 0.8, udevice[req_user], rng.choice(["mobile", "desktop", "tablet"], N_REQ))
    page = rng.choice(["home", "search", "product", "cart", "category"], N_REQ, p=[0.35, 0.2, 0.25, 0.08, 0.12])
    cart_value = np.round(rng.lognormal(3.5, 1.0, N_REQ), 2)
    cart_value[rng.random(N_REQ) < 0.3] = np.nan  # unknown (no cart)

    # click probability: base 9%, higher on cart page and evenings on mobile
    p_click = 0.09 + 0.08 * (page == "cart") + 0.04 * ((device == "mobile") & (daypart == "evening")) \
        - 0.04 * (daypart == "night")
    clicked = rng.random(N_REQ) < p_click
    cat_index = {c: np.where(cat == c)[0] for c in CATS}
    cat_pop = {c: pop[idx] / pop[idx].sum() for c, idx in cat_index.items()}

    def draw_item(r):
        u = req_user[r]
        x = rng.random()
        if page[r] == "cart" and x < 0.5:
            c = "electronics" if cart_value[r] == cart_value[r] and cart_value[r] > 80 else "home"
        elif daypart[r] == "morning" and x < 0.35:
            c = "grocery"
        elif daypart[r] == "evening" and device[r] == "mobile" and x < 0.35:
            c = "fashion"
        elif x < 0.75:
            c = ufav[u]
        else:
            return rng.choice(N_ITEMS, p=pop)
        idx = cat_index[c]
        return idx[rng.choice(len(idx), p=cat_pop[c])]

    rows = []
    for r in range(N_REQ):
        n_imp = rng.choice([0, 1, 2, 3], p=[0.3, 0.25, 0.25, 0.2])
        base = dict(request_id=f"q{r:06d}", user=users[req_user[r]], ts=ts_text[r], device=device[r],
                    page_type=page[r], daypart=daypart[r],
                    cart_value="" if np.isnan(cart_value[r]) else cart_value[r])
        shown = set()
        if clicked[r]:
            it = draw_item(r)
            shown.add(it)
            grade = rng.choice([1, 2, 3], p=[0.75, 0.15, 0.10])  # click, add-to-cart, purchase
            rows.append({**base, "sku": items[it], "event": grade})
            if rng.random() < 0.1:  # a second click
                it2 = draw_item(r)
                if it2 not in shown:
                    shown.add(it2)
                    rows.append({**base, "sku": items[it2], "event": 1})
        if n_imp == 0 and not clicked[r]:
            rows.append({**base, "sku": "", "event": ""})
        for _ in range(n_imp):
            it = rng.choice(N_ITEMS, p=pop)
            if it in shown:
                continue
            shown.add(it)
            rows.append({**base, "sku": items[it], "event": 0})
    log = pd.DataFrame(rows)
    log.to_csv(f"{out}/events.csv", index=False)
    print(len(log), "rows", log.request_id.nunique(), "requests",
          log.groupby("request_id")["event"].apply(lambda s: (pd.to_numeric(s, errors="coerce") > 0).any()).mean(),
          "share with positive; items in log", log.sku.replace("", np.nan).nunique())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.seed)
