"""dlphys: exercises for *Deep Learning for Physics Research* on TensorFlow/Keras 3.

Subpackages: ``dlphys.datasets`` (loaders and physics simulators), ``dlphys.layers``
(custom Keras layers), ``dlphys.explain`` (relevance propagation), ``dlphys.reco``
(classical reconstruction baselines), ``dlphys.gan`` (WGAN-GP), ``dlphys.plotting``.
``dlphys.config`` holds the fast-mode switch, the data directories and the seeding helper.
"""

from dlphys.config import fast_mode, pick, seed_everything

__version__ = "0.1.0"
__all__ = ["fast_mode", "pick", "seed_everything", "__version__"]
