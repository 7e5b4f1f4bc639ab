"""suggest: a contextual suggestion lab.

Replay logged user contexts through a YAML rule set, a LightGBM ranker,
hybrids and baselines side by side, and benchmark suggestion precision.

``import suggest`` stays light: heavy libraries (LightGBM, matplotlib, Dask)
are imported by the modules that use them.
"""

__version__ = "0.1.0"

from suggest.errors import SuggestError  # noqa: E402

__all__ = ["SuggestError", "__version__"]
