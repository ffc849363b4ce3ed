"""The state machine definitions in stepfunctions/, with their ${Placeholders} filled.
Used by local mode and by the deploy template, so both run the very same ASL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Where the *.asl.json files are; read at each call, so it may be pointed elsewhere.
ASL_DIR = ROOT / "stepfunctions"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
TIME_FIELDS = ("IntervalSeconds", "MaxDelaySeconds", "TimeoutSeconds", "Seconds")


def raw(name: str) -> str:
    """The ASL as written, placeholders and all (CloudFormation substitutes them)."""
    return (ASL_DIR / f"{name}.asl.json").read_text()


def placeholders(name: str) -> set[str]:
    return set(PLACEHOLDER.findall(raw(name)))


def _walk(node: Any, values: dict[str, str], time_scale: float) -> Any:
    if isinstance(node, dict):
        return {k: (max(1, round(v * time_scale)) if k in TIME_FIELDS and isinstance(v, int)
                    else _walk(v, values, time_scale)) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, values, time_scale) for v in node]
    if isinstance(node, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
    return node


def definition(name: str, values: dict[str, str], time_scale: float = 1.0) -> str:
    """The ASL of `name` (create_cluster or destroy_cluster) with placeholders filled.
    `time_scale` shrinks waits and retry intervals for tests; deployed ASL keeps 1.0."""
    missing = placeholders(name) - values.keys()
    if missing:
        raise KeyError(f"{name}: no value for {', '.join(sorted(missing))}")
    doc = json.loads(raw(name))
    return json.dumps(_walk(doc, values, time_scale))
