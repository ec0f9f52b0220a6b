"""Custom Keras 3 layers: hexagonal group convolution (p6), EdgeConv, the GCN convolution, periodic padding and
gradient reversal.

``from dlphys.layers import HexConv2D, GroupHexConv2D, OrientationPooling, EdgeConv, GCNConv, PeriodicPadding2D,
GradientReversal``
"""

from dlphys.layers.edgeconv import EdgeConv
from dlphys.layers.gcn import GCNConv
from dlphys.layers.gradient_reversal import GradientReversal
from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D, OrientationPooling
from dlphys.layers.periodic import PeriodicPadding2D

__all__ = [
    "EdgeConv",
    "GCNConv",
    "GradientReversal",
    "GroupHexConv2D",
    "HexConv2D",
    "OrientationPooling",
    "PeriodicPadding2D",
]
