"""What the generators (deploy.asl, deploy.diagrams, deploy.openapi) share: `python -m
deploy.X` writes its files from the source, `--check` (in `make lint`) writes nothing and
exits 1, naming each file that writing would change."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

USAGE = 2


def check_flag(argv: Sequence[str], module: str) -> bool | None:
    """True for `--check`, False for no argument, None (usage printed) otherwise."""
    if argv and list(argv) != ["--check"]:
        print(f"usage: python -m {module} [--check]", file=sys.stderr)
        return None
    return bool(argv)


def sync(files: Mapping[Path, str], check: bool, module: str, what: str = "") -> int:
    """Write each file whose text differs; with `check`, report them instead (exit 1)."""
    stale = [path for path, text in files.items()
             if not (path.exists() and path.read_text() == text)]
    for path in stale:
        if check:
            print(f"{path} {what or 'differs from what ' + module + ' generates'}; run "
                  f"python -m {module}", file=sys.stderr)
        else:
            path.write_text(files[path])
            print(f"wrote {path}")
    return 1 if check and stale else 0
