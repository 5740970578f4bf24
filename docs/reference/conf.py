"""Sphinx configuration of the thredo reference (docs/reference/).

Built by ``.ci/run`` with ``sphinx-build -W --keep-going -b html docs/reference
OUT`` (warnings are errors); install the tools with ``pip install -e '.[docs]'``.
The pages are written by hand (what a section is for, what cancel and timeout
do, how it differs from the stdlib) and pull every public name's signature and
docstring from the code with autodoc; Google-style ``Args:``/``Returns:``/
``Raises:`` sections are read by napoleon.  ``tests/test_reference.py``
checks that every name of every public module's ``__all__`` is on a page.
"""

import os
import sys

# The repository root, so autodoc imports this checkout's thredo even
# without an install (CI installs it editable anyway).
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

project = "thredo"
author = "the thredo authors"
copyright = "thredo authors"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]

# Google style only (STYLE.md: Args/Returns/Raises).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
# Signatures show the annotations; descriptions stay as the docstrings say.
autodoc_typehints = "signature"
# The lazily imported names (PEP 562 __getattr__) are real objects once
# touched; nothing is mocked: the reference documents the code as it runs.
autodoc_mock_imports: list[str] = []

master_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = "thredo reference"
# No source links or search index to keep the build small and quick.
html_copy_source = False
html_show_sourcelink = False
