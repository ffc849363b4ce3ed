"""Named errors are plain exceptions (the core and the steps do not depend on Chalice);
the HTTP edge, app.py, answers one raised by any route's view with its STATUS_CODE. Pure:
app.py imported, no emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.core import errors
from chalicelib.handlers import answers

ROOT = Path(__file__).resolve().parents[2]


def test_the_named_errors_need_no_chalice() -> None:
    code = "import sys, chalicelib.core.errors; print('chalice' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"
    assert {c.__module__ for c in errors.DaskyardError.__mro__} == {errors.__name__, "builtins"}


def test_every_route_answers_its_named_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASKYARD_STAGE", "dev")
    import app

    routes = [entry for methods in app.app.routes.values() for entry in methods.values()]
    assert routes
    for entry in routes:
        assert entry.view_function.__wrapped__ is not None, entry.view_name

    def busy() -> None:
        raise errors.ClusterBusy("cluster 'demo' is DELETING")

    response = answers.answering_errors(busy)()
    assert response.status_code == 409
    assert json.loads(json.dumps(response.body)) == {
        "error": "cluster 'demo' is DELETING", "code": "ClusterBusy"}


def test_an_aws_failure_in_a_view_answers_502_with_its_code_only() -> None:
    """As docs/openapi.json says: 502 AwsError naming the AWS error code, not the
    details (which can name resources)."""
    from botocore.exceptions import ClientError

    def denied() -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException",
                                     "Message": "User arn:aws:iam::1:user/x is not ..."}},
                          "GetItem")

    response = answers.answering_errors(denied)()
    assert response.status_code == 502
    assert response.body == {"error": "AWS error AccessDeniedException", "code": "AwsError"}
