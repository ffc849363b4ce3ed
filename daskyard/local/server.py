"""Where the server side local mode runs is: app.py, chalicelib/, stepfunctions/ and
images/. In a checkout it is the checkout; in a wheel, `daskyard/_server/` (the wheel
carries it there, never as a top-level `chalicelib`: a user install has no server).

Local mode imports `app` and `chalicelib` as Lambda does, from the package's root on
the import path. In a checkout the root is there already (pytest's `pythonpath`, and
`python -m` run from it); the `daskyard` command, the entry point of an installed local
mode, puts it there with `importable()` before it imports local mode, as Lambda's
runtime puts its task root there before the handler. Importing daskyard.local changes
nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_BUNDLED = Path(__file__).resolve().parents[1] / "_server"
ROOT = _BUNDLED if (_BUNDLED / "app.py").is_file() else _CHECKOUT


def importable() -> None:
    """`app` and `chalicelib` importable from ROOT, unless they already are."""
    if importlib.util.find_spec("chalicelib") is None:
        sys.path.insert(0, str(ROOT))
