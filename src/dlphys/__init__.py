"""dlphys: exercises for *Deep Learning for Physics Research* on TensorFlow/Keras 3.

Subpackages: ``dlphys.datasets`` (loaders and physics simulators), ``dlphys.layers``
(custom Keras layers), ``dlphys.explain`` (relevance propagation), ``dlphys.reco``
(classical reconstruction baselines), ``dlphys.gan`` (WGAN-GP), ``dlphys.plotting``.
``dlphys.config`` holds the fast-mode switch, the data directories and the seeding helper.
"""

from importlib import metadata as _metadata

from dlphys.config import fast_mode, pick, seed_everything

try:  # the version lives in pyproject.toml only
    __version__ = _metadata.version("dlphys")
except _metadata.PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = ["__version__", "fast_mode", "pick", "seed_everything"]
