"""Every Lambda of the app imports app.py at its cold start, so what app.py imports is
paid by all of them: the code and the libraries only some handlers use are imported by
those handlers. Pure: app.py imported in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What every Lambda uses: its blueprints, and the core its handlers build on (settings,
# clients, the registry and its models, the launch types the models validate with, logs
# and metrics; steps' run_step and its table; the task event's rule pattern, beside the
# model it is parsed into).
EVERY_LAMBDA = {"chalicelib", "chalicelib.handlers", "chalicelib.core", "chalicelib.steps",
                "chalicelib.steps.table", "chalicelib.task_events"} | {
    f"chalicelib.handlers.{m}" for m in ("answers", "doctor", "events", "http", "schedules",
                                         "steps")} | {
    f"chalicelib.core.{m}" for m in ("aws", "errors", "identity", "launch_types", "models",
                                     "naming", "observability", "registry", "runtime",
                                     "settings")}
# Libraries some handlers use: TLS material, Slack, secrets, idempotency, X-Ray.
SOME_LAMBDAS = ("cryptography", "slack_sdk", "slack", "aws_xray_sdk",
                "aws_lambda_powertools.utilities.parameters",
                "aws_lambda_powertools.utilities.idempotency")
IMPORTED = "import json, sys, app; print(json.dumps(sorted(sys.modules)))"


def imported_by_app() -> set[str]:
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "DASKYARD_STAGE": "dev"}
    out = subprocess.run([sys.executable, "-c", IMPORTED], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_importing_app_loads_only_what_every_lambda_uses() -> None:
    modules = imported_by_app()
    assert {m for m in modules if m.split(".")[0] == "chalicelib"} == EVERY_LAMBDA
    assert "app" in modules
    assert sorted(m for m in modules if m.startswith(SOME_LAMBDAS)) == []


def test_app_is_wiring_of_chalicelib_only() -> None:
    """app.py in an import-linter contract of its own would need it to be a package: it
    is Chalice's module. What it imports, directly or not, is checked here instead."""
    outside = {"daskyard", "deploy", "bench", "tests", "moto", "dask", "distributed"}
    assert sorted(m for m in imported_by_app() if m.split(".")[0] in outside) == []
