"""The learned ranker: candidates, point-in-time features, LightGBM LambdaRank."""

from suggest.ranker.model import HybridEngine, RankerEngine

__all__ = ["HybridEngine", "RankerEngine"]
