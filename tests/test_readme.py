"""The README's Python API section runs as written, and says what it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from suggest.errors import SuggestError

ROOT = Path(__file__).resolve().parents[1]


def python_api_block() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- python-api -->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md has no ```python block after <!-- python-api -->"
    return found.group(1)


def test_python_api_section_runs_and_its_numbers_are_the_real_ones(tmp_path, monkeypatch):
    for folder in ("data", "rules"):  # the README's paths, read from this checkout
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    code = python_api_block()
    ns: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), ns)

    shown = dict(re.findall(r"'(\w+@\d+)': (\d\.\d+)\.\.\.", code))
    assert shown and shown.keys() == ns["scores"].means.keys()
    for metric, prefix in shown.items():
        assert f"{ns['scores'].means[metric]:.3f}".startswith(prefix), metric
    engines = ns["summary"]["engines"]
    assert engines["ranker"]["ndcg@5"] > engines["rules"]["ndcg@5"]
    assert (tmp_path / "runs" / "api" / "summary.json").exists()

    context = {"user_id": "u0001", "location": "commute", "battery": 40,
               "timestamp": "2026-03-24T08:10:00", "timezone": "America/New_York"}
    loaded = ns["model"].suggest_one(context, k=5)["item_id"].tolist()
    assert loaded == ns["ranker"].suggest_one(context, k=5)["item_id"].tolist()
    assert len(loaded) == 5
    with pytest.raises(SuggestError, match="did you mean 'location'"):
        ns["ranker"].suggest_one({**context, "locaton": context.pop("location")}, k=5)


def test_the_main_names_are_on_the_package_without_importing_pandas():
    import subprocess
    import sys

    code = ("import sys, suggest; assert 'pandas' not in sys.modules; "
            "print(suggest.__version__, suggest.RankerEngine.__name__, suggest.load.__module__, "
            "'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    version, ranker, module, pandas_loaded = done.stdout.split()
    assert (ranker, module, pandas_loaded) == ("RankerEngine", "suggest.data.load", "True")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
