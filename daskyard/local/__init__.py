"""Embedded local mode: everything that differs from AWS lives in this package."""

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_BUNDLED = Path(__file__).resolve().parents[1] / "_server"
# Where app.py, chalicelib/, stepfunctions/ and images/ are: the wheel's copy when
# installed, else this checkout. Local mode puts it on sys.path as Lambda puts its package.
SERVER_ROOT = _BUNDLED if (_BUNDLED / "app.py").is_file() else _CHECKOUT
if str(SERVER_ROOT) not in sys.path:
    sys.path.insert(0, str(SERVER_ROOT))
