"""5. The whole test suite's wall time, as `make test` runs it (pyproject's addopts: three
worker processes), with its test count. Target: at most 180 s."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run() -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:logging"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
    passed = re.search(r"(\d+) passed", summary)
    return {"wall_s": round(wall, 1), "passed": int(passed.group(1)) if passed else 0,
            "ok": out.returncode == 0, "summary": summary}
