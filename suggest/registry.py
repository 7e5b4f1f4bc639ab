"""The registry of built-in engine names: one list, importable without pandas (the command
line reads it at start-up; :func:`suggest.engines.get_engine` loads the classes)."""

ENTRY_POINT_GROUP = "suggest.engines"
#: The built-in engines, in the order a replay runs and shows them: the one registry
#: (setup.cfg's ``suggest.engines`` entry points name the same; a test holds them equal).
BUILT_IN = {
    "rules": "suggest.rules.engine:RulesEngine",
    "ranker": "suggest.ranker.model:RankerEngine",
    "hybrid": "suggest.ranker.model:HybridEngine",
    "popular": "suggest.engines.baselines:Popular",
    "context-popular": "suggest.engines.baselines:ContextPopular",
    "user-history": "suggest.engines.baselines:UserHistory",
    "random": "suggest.engines.baselines:Random",
}
