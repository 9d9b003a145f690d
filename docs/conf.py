"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build/html`` from the
repository root, after ``pip install ".[docs]"``."""

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# `python -m sphinx` puts the current folder first on sys.path. From the repository root
# that is the source folder fastopt/, which has no compiled kernels unless they were built
# in place (`python setup.py build_ext --inplace`): then the installed package is the one to
# document, so the root leaves the path.
if not any((ROOT / "fastopt").glob("_kernels_baseline*")):
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT]

import fastopt  # noqa: E402

project = "fastopt"
author = "the fastopt developers"
copyright = "the fastopt developers"
version = release = fastopt.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
templates_path = ["_templates"]

# API reference: one page per public name, generated from the numpydoc docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"           # the docstrings' Parameters sections give the types
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False  # the class template lists the members instead
numpydoc_class_members_toctree = False

myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# The examples gallery: every examples/plot_*.py runs during the build (about two minutes
# on two cores). The PyTorch example runs only where torch is installed; elsewhere it is
# shown without its output.
_run = r"/plot_(?!torch)" if importlib.util.find_spec("torch") is None else r"/plot_"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": _run,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme"
html_title = f"fastopt {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
