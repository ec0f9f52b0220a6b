"""Explaining network decisions: layer-wise relevance propagation (LRP).

``from dlphys.explain import lrp``
"""

from dlphys.explain.lrp import lrp

__all__ = ["lrp"]
