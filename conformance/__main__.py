"""``python -m conformance``: see the package docstring (``conformance/__init__.py``)."""

from __future__ import annotations

import sys

from ._runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
