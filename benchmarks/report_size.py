"""The report of a 1M-request replay: its size (target: under 2 MB) and the time to write it.

A synthetic world (``suggest generate``) is replayed with the real command,
``suggest replay``, holding out ``--test-share`` of its requests (the default
0.95 of a ~1.05M-request world gives a replay of about 1M requests, with the
ranker trained on the rest), through every built-in engine. Then ``suggest
report`` writes the HTML page and the Markdown file. Each command's whole-process
wall time and peak resident memory and each file's size are printed and written to ``--out``.

Usage::

    python benchmarks/report_size.py --out report_size.json              # ~1M requests
    python benchmarks/report_size.py --users 600 --out quick.json        # a quick look

The world and the run go to ``--work`` (an existing world of the same size is reused).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 2 * 1024 * 1024


# runs one command and prints the peak resident memory of its process (KiB, Linux)
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], "
        "stdout=subprocess.DEVNULL).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def timed(command: list[str]) -> tuple[float, float]:
    """Whole-process wall seconds and peak resident MiB of ``python -m suggest COMMAND``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "suggest", *command],
                          check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(done.stdout.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: python benchmarks/report_size.py --users 600")
    parser.add_argument("--users", type=int, default=6250, help="users in the world (~168 requests each)")
    parser.add_argument("--test-share", type=float, default=0.95, help="share of requests replayed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("bench-report"), help="folder for the world and run")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    if args.users < 1 or not 0 < args.test_share < 1:
        parser.error("--users must be at least 1 and --test-share between 0 and 1")
    world = args.work / f"world-{args.users}u-s{args.seed}"
    if (args.work / f"run-{args.users}u").exists():
        import shutil

        shutil.rmtree(args.work / f"run-{args.users}u")  # a replay from scratch, not a resumed one
    if not (world / "dataset.yaml").exists():
        timed(["generate", "--users", str(args.users), "--days", "28", "--seed", str(args.seed),
               "-o", str(world), "--json"])
    run = args.work / f"run-{args.users}u"
    figures = {"users": args.users, "test_share": args.test_share}
    seconds, peak = timed(
        ["replay", "--dataset", str(world / "dataset.yaml"), "--rules", str(ROOT / "rules" / "phone.yaml"),
         "--test-share", str(args.test_share), "--seed", str(args.seed), "-o", str(run), "--json"])
    figures["replay_seconds"], figures["replay_peak_mib"] = round(seconds, 1), round(peak)
    summary = json.loads((run / "summary.json").read_text())
    figures["replayed_requests"] = summary["requests"]
    for fmt, name in (("html", "report.html"), ("md", "report.md")):
        seconds, peak = timed(["report", str(run), "--format", fmt, "-o", str(run / name)])
        figures[f"{fmt}_seconds"], figures[f"{fmt}_peak_mib"] = round(seconds, 1), round(peak)
        figures[f"{fmt}_bytes"] = (run / name).stat().st_size
    figures["html_under_2_mb"] = figures["html_bytes"] < LIMIT
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if figures["html_under_2_mb"] else 1


if __name__ == "__main__":
    sys.exit(main())
