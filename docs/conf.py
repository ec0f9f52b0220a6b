"""Sphinx configuration of the course site (``make site``; staged by ``python -m dlphys.course.site``).

The staged source mirrors the repository (``index.md``, ``notebooks/``, ``solutions/``) so that the theme's
Colab button of a page opens the same file on GitHub. Nothing is executed here: the student versions have no
outputs, the solutions come already executed from ``make run``.
"""

import os

from dlphys.course.install import REPOSITORY  # the one address of the repository (Colab install cell, site)

# The site works on a hub without internet: MathJax 3 is served from the site itself (the PyPI package
# sphinx-mathjax-offline, a Sphinx extension, copies it into _static/mathjax), and so is the Colab badge
# (_static/colab-badge.svg, put in by `python -m dlphys.course.site`).
HUB = os.environ.get("DLPHYS_HUB", "")  # `make site HUB=https://hub.example.org`: a JupyterHub launch button

project = "dlphys — exercises for Deep Learning for Physics Research"
author = "dlphys contributors"
copyright = "dlphys contributors, MIT licence"

extensions = ["myst_nb", "sphinx-mathjax-offline"]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "dlphys"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com", **({"jupyterhub_url": HUB} if HUB else {})},
    "show_toc_level": 2,
}

html_static_path = ["_static"]
