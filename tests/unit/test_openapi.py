"""docs/openapi.json (deploy/openapi.py): regenerating it gives the checked-in file, it
describes every route the Chalice app serves, and a route the app serves without a
description stops the generation. Pure: no emulator. The generator imports the app,
whose event rules take the stage from the environment at import, so it runs in its own
process here: this one's local mode loads the app for its own stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.core import errors
from deploy import openapi

ROOT = Path(__file__).resolve().parents[2]
# As someone adding a route to the app, and not to deploy/openapi.py's OPERATIONS.
NEW_ROUTE = """
import sys
import app
app.app.route("/clusters/{name}/diagnostics", methods=["GET"])(lambda name: {})
from deploy import openapi
sys.exit(openapi.main(["--check"]))
"""


def generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


def test_regenerating_gives_the_checked_in_document_byte_for_byte() -> None:
    """`--check` compares the freshly generated text with the file, byte for byte, after
    checking that the app's routes and OPERATIONS are the same set."""
    result = generator("-m", "deploy.openapi", "--check")
    assert result.returncode == 0, result.stderr


def test_a_route_served_without_a_description_stops_the_generation() -> None:
    result = generator("-c", NEW_ROUTE)
    assert result.returncode == 1
    assert "GET /clusters/{name}/diagnostics is served but not described in deploy/openapi.py " \
           "OPERATIONS" in result.stderr


def test_every_route_of_operations_is_in_the_document() -> None:
    doc = json.loads(openapi.DOC.read_text())
    documented = {(method.upper(), path) for path, ops in doc["paths"].items()
                  for method in ops}
    assert documented == set(openapi.OPERATIONS)
    assert ("POST", "/slack/commands") in documented and ("POST", "/webhooks") in documented


def test_iam_routes_need_sigv4_and_the_signed_integrations_do_not() -> None:
    doc = json.loads(openapi.DOC.read_text())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            iam = path.startswith(("/clusters", "/drives", "/doctor"))
            assert op["security"] == ([{"sigv4": []}] if iam else []), (method, path)
            refusal = json.dumps(op["responses"].get("403", {}))
            assert ("GatewayError" in refusal) == iam, (method, path)


def test_each_error_is_listed_under_its_own_status() -> None:
    doc = json.loads(openapi.DOC.read_text())
    responses = doc["paths"]["/clusters/{name}/workers"]["put"]["responses"]
    for cls in (errors.InvalidRequest, errors.PayloadTooLarge, errors.UnsupportedMediaType,
                errors.QuotaExceeded, errors.ClusterNotFound, errors.ClusterBusy):
        assert f"`{cls.__name__}`" in responses[str(cls.STATUS_CODE)]["description"]
    assert responses["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"}
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error", "code"] and error["additionalProperties"] is False
