"""Custom Keras 3 layers: hexagonal group convolution (p6) and EdgeConv.

``from dlphys.layers import HexConv2D, GroupHexConv2D, OrientationPooling, EdgeConv``
"""

from dlphys.layers.edgeconv import EdgeConv
from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D, OrientationPooling

__all__ = ["EdgeConv", "GroupHexConv2D", "HexConv2D", "OrientationPooling"]
