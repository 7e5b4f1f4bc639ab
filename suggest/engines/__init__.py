"""Engines: the protocol and registry (:mod:`suggest.engines.base`) and the baselines."""

from suggest.engines.base import BaseEngine, Engine, engine_names, get_engine

__all__ = ["BaseEngine", "Engine", "engine_names", "get_engine"]
