"""YAML rule sets: model and loader, vectorised evaluation, the rules engine, explanations."""

from suggest.rules.engine import RulesEngine
from suggest.rules.model import RuleError, RuleSet, load_rules, parse_rules

__all__ = ["RuleError", "RuleSet", "RulesEngine", "load_rules", "parse_rules"]
