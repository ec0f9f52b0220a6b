"""Custom Keras 3 layers: hexagonal group convolution (p6), EdgeConv and the GCN convolution.

``from dlphys.layers import HexConv2D, GroupHexConv2D, OrientationPooling, EdgeConv, GCNConv``
"""

from dlphys.layers.edgeconv import EdgeConv
from dlphys.layers.gcn import GCNConv
from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D, OrientationPooling

__all__ = ["EdgeConv", "GCNConv", "GroupHexConv2D", "HexConv2D", "OrientationPooling"]
