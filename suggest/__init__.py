"""suggest: a contextual suggestion lab.

Replay logged user contexts through a YAML rule set, a LightGBM ranker,
hybrids and baselines side by side, and benchmark suggestion precision.

``import suggest`` stays light: heavy libraries (LightGBM, matplotlib, Dask)
are imported by the modules that use them. The main names are here too, and
are imported on first use::

    import suggest
    log = suggest.load("data/sample/dataset.yaml")
    engine = suggest.get_engine("popular").fit(log.requests, log.truth)

(``suggest.evaluate`` and ``suggest.replay`` are modules: the functions are
``suggest.evaluate.evaluate`` and ``suggest.replay.replay``.)
"""

__version__ = "0.1.0"

from suggest.errors import SuggestError  # noqa: E402

#: Names imported on first use (``module:attribute``), so that ``import suggest`` stays fast.
_LAZY = {
    "load": "suggest.data:load",
    "Dataset": "suggest.data:Dataset",
    "get_engine": "suggest.engines:get_engine",
    "engine_names": "suggest.engines:engine_names",
    "RankerEngine": "suggest.ranker:RankerEngine",
    "HybridEngine": "suggest.ranker:HybridEngine",
    "RulesEngine": "suggest.rules:RulesEngine",
}

__all__ = ["SuggestError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'suggest' has no attribute {name!r}")
    import importlib

    module, _, attr = _LAZY[name].partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
