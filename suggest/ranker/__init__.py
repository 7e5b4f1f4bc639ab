"""The learned ranker: candidates, point-in-time features, LightGBM LambdaRank."""

from suggest.ranker.model import RankerEngine

__all__ = ["RankerEngine"]
