"""docs/openapi.json (deploy/openapi.py): regenerating it gives the checked-in file, it
describes every route the Chalice app serves, and a route the app serves without a
description stops the generation. Pure: no emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import app
from chalicelib.core import errors
from deploy import openapi


def test_regenerating_gives_the_checked_in_document_byte_for_byte() -> None:
    assert openapi.DOC.read_text() == openapi.render(), (
        "docs/openapi.json is stale: run python -m deploy.openapi")


def test_the_document_has_every_route_the_app_serves_and_no_other() -> None:
    doc = json.loads(openapi.DOC.read_text())
    documented = {(method.upper(), path) for path, ops in doc["paths"].items()
                  for method in ops}
    served = {(method, path) for path, methods in app.app.routes.items()
              for method in methods}
    assert documented == served
    assert ("POST", "/slack/commands") in documented and ("POST", "/webhooks") in documented


def test_iam_routes_need_sigv4_and_the_signed_integrations_do_not() -> None:
    doc = json.loads(openapi.DOC.read_text())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            iam = path.startswith("/clusters")
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


def test_a_route_served_without_a_description_stops_the_generation(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As when someone adds a route to the app and not to OPERATIONS."""
    entry: Any = app.app.routes["/clusters/{name}"]["GET"]
    monkeypatch.setitem(app.app.routes, "/clusters/{name}/logs", {"GET": entry})
    monkeypatch.setattr(openapi, "DOC", tmp_path / "openapi.json")
    with pytest.raises(openapi.UndocumentedRoute,
                       match=r"GET /clusters/\{name\}/logs is served but not described"):
        openapi.document()
    assert openapi.main([]) == 1
    assert "/clusters/{name}/logs" in capsys.readouterr().err
    assert not (tmp_path / "openapi.json").exists()


def test_check_mode_reports_a_stale_document(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    doc = tmp_path / "openapi.json"
    monkeypatch.setattr(openapi, "DOC", doc)
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0
    doc.write_text(doc.read_text().replace('"createCluster"', '"makeCluster"'))
    assert openapi.main(["--check"]) == 1
