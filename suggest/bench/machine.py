"""What a benchmark ran on, and running one measurement in a fresh process.

Figures are only comparable with the machine beside them: :func:`describe`
records CPU count and model, memory, the operating system, Python and the
versions of every package a figure depends on, and the date.
:func:`in_child` runs a measurement in a new Python process, so its peak
resident memory is its own and not what earlier measurements left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import sys
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

from suggest import __version__

PACKAGES = ("suggest", "numpy", "pandas", "pyarrow", "lightgbm", "scikit-learn", "ranx",
            "ir-measures", "rule-engine")


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    On Linux this is ``VmHWM``, the peak of the process's own memory since it
    started its program: ``ru_maxrss`` would also count the parent's size at
    the fork, which inflates a small child started by a large benchmark.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def package_version(name: str) -> str:
    """The installed version of ``name``, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict:
    """The machine and software a run measured, as a JSON-ready dict."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "cpus_usable": usable, "cpu": cpu, "memory_gib": memory,
            "system": f"{platform.system()} {platform.release()}", "machine": platform.machine(),
            "python": platform.python_version(),
            "packages": {"suggest": __version__,  # the code running (its distribution is
                         **{name: package_version(name)  # suggest-replay, or none from a checkout)
                            for name in PACKAGES if name != "suggest"}}}


def in_child(func, /, **kwargs) -> dict:
    """``func(**kwargs)`` (a dict) in a fresh Python process, plus its ``peak_rss_mib``.

    ``func`` must be importable at module level. An exception in the child is
    raised here.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, func, kwargs).result()


def _measured(func, kwargs: dict) -> dict:
    result = func(**kwargs)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def say(line: str) -> None:
    """Progress on stderr (module level, so a child process can be handed it)."""
    print(line, file=sys.stderr, flush=True)


def write_json(result, out: Path, name: str) -> Path:
    """Write a benchmark's figures as JSON to ``out`` (a file, or ``out/name`` for a folder)."""
    path = out / name if out.is_dir() else out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return path
