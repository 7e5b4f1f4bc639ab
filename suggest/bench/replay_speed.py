"""End-to-end replay as a user runs it: whole processes, at two sizes.

For each size :func:`measure` writes a synthetic world
(``suggest generate --users N --days 28``, preset default), then runs two
commands as separate processes and records each one's wall time and peak
resident memory (``os.wait4``, so the figure is that process's own):

* ``suggest data check`` (read and validate the log alone: the reference);
* ``suggest replay`` with the rules and the popularity baselines
  (``--engines rules,popular,context-popular --chunk-size 20000``): read,
  split, fit on the first 80% by time, stream the latest 20% through every
  engine, write the run and its summary.

Both include Python start-up and imports. With two sizes ten times apart
the growth of time (ideally about 10x) and of memory (ideally flat) shows
whether replay scales.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suggest.errors import SuggestError

ENGINES = "rules,popular,context-popular"
CHUNK = 20_000


class MeasurementFailed(SuggestError):
    """A measured command failed: a runtime failure, not bad input."""

    exit_code = 1


def run_process(args: list[str]) -> dict:
    """Run ``suggest ARGS`` as its own process: wall seconds, peak RSS (MiB), stdout.

    The process reports its own peak memory at exit (:mod:`suggest.bench.launch`).
    """
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "suggest.bench.launch", str(peak), *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            tail = " ".join(done.stderr.strip().splitlines()[-3:])
            raise MeasurementFailed(f"`suggest {' '.join(args[:2])}` exited {done.returncode}: {tail}")
        rss = float(peak.read_text())
    return {"seconds": seconds, "peak_rss_mib": rss, "stdout": done.stdout}


def measure_size(users: int, rules: str, days: int = 28, seed: int = 1, log=None) -> dict:
    """Generate a world of ``users`` users, then time ``data check`` and ``replay`` on it."""
    say = log or (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="suggest_replay_speed_") as tmp:
        world = Path(tmp) / "world"
        made = run_process(["generate", "--users", str(users), "--days", str(days), "--seed", str(seed),
                            "-o", str(world), "--json"])
        requests = json.loads(made["stdout"])["requests"]
        say(f"replay: {requests:,} requests generated in {made['seconds']:.1f} s; reading them alone")
        check = run_process(["data", "check", str(world / "dataset.yaml"), "--json",
                             "--rejects", str(Path(tmp) / "rejects.csv")])
        say(f"replay: read in {check['seconds']:.1f} s; now replaying them")
        replay = run_process(["replay", "--dataset", str(world / "dataset.yaml"), "--rules", rules,
                              "--engines", ENGINES, "--chunk-size", str(CHUNK), "-o", str(Path(tmp) / "run"),
                              "--json"])
        summary = json.loads(replay["stdout"])
    return {"users": users, "days": days, "requests": requests, "test_requests": summary["requests"],
            "generate_seconds": made["seconds"],
            "data_check": {k: check[k] for k in ("seconds", "peak_rss_mib")},
            "replay": {"seconds": replay["seconds"], "peak_rss_mib": replay["peak_rss_mib"],
                       "requests_per_s": requests / replay["seconds"],
                       "ratio_to_data_check": replay["seconds"] / check["seconds"]}}


def measure(rules: str, users: tuple[int, ...] = (600, 6000), days: int = 28, seed: int = 1,
            log=None) -> dict:
    """:func:`measure_size` for each size, and the growth from the first size to the last."""
    sizes = [measure_size(n, rules, days, seed, log) for n in users]
    small, large = sizes[0], sizes[-1]
    growth = None if len(sizes) < 2 else {
        "requests": large["requests"] / small["requests"],
        "seconds": large["replay"]["seconds"] / small["replay"]["seconds"],
        "peak_rss": large["replay"]["peak_rss_mib"] / small["replay"]["peak_rss_mib"]}
    return {"config": {"engines": ENGINES, "chunk_size": CHUNK, "days": days, "seed": seed, "rules": rules},
            "sizes": sizes, "growth": growth}


def markdown(r: dict) -> str:
    """The figures of :func:`measure` as a Markdown table."""
    rows = ["| world | `data check` s | peak MiB | `replay` s | log requests/s | peak MiB | replay / check time |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for s in r["sizes"]:
        c, p = s["data_check"], s["replay"]
        rows.append(f"| {s['requests']:,} requests ({s['test_requests']:,} replayed) | {c['seconds']:.1f} | "
                    f"{c['peak_rss_mib']:,.0f} | {p['seconds']:.1f} | {p['requests_per_s']:,.0f} | "
                    f"{p['peak_rss_mib']:,.0f} | {p['ratio_to_data_check']:.1f}x |")
    g = r["growth"]
    growth = "" if g is None else (
        f"From the smaller world to the larger ({g['requests']:.1f}x the requests), replay time grew "
        f"{g['seconds']:.1f}x (linear would be {g['requests']:.1f}x) and peak memory {g['peak_rss']:.1f}x "
        "(flat would be 1.0x). ")
    rows += ["", growth + "Whole processes (start-up and imports included), engines "
             f"{r['config']['engines']}, chunks of {r['config']['chunk_size']:,}."]
    return "\n".join(rows)
