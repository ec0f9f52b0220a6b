"""Custom Keras 3 layers: hexagonal group convolution (p6), EdgeConv, the GCN convolution and periodic padding.

``from dlphys.layers import HexConv2D, GroupHexConv2D, OrientationPooling, EdgeConv, GCNConv, PeriodicPadding2D``
"""

from dlphys.layers.edgeconv import EdgeConv
from dlphys.layers.gcn import GCNConv
from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D, OrientationPooling
from dlphys.layers.periodic import PeriodicPadding2D

__all__ = ["EdgeConv", "GCNConv", "GroupHexConv2D", "HexConv2D", "OrientationPooling", "PeriodicPadding2D"]
