"""``python -m suggest.bench.launch PEAK_FILE ARGS...``: run ``suggest ARGS...`` as a whole
process and write its peak memory (MiB) to PEAK_FILE at exit.

This is how :mod:`suggest.bench.replay_speed` measures whole commands: the
process reports its own peak, because the rusage a parent gets back for a
child also counts the parent's size at the fork.
"""

from __future__ import annotations

import atexit
import sys


def _report_peak(path: str) -> None:
    from suggest.bench.machine import peak_rss_mib

    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{peak_rss_mib()}\n")


if __name__ == "__main__":
    from suggest.cli import main

    atexit.register(_report_peak, sys.argv[1])
    main(sys.argv[2:], prog_name="suggest")
