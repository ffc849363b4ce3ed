"""The notebook end to end in local mode: real Jupyter Lab started by the local ECS agent
from the images' entrypoint, as the machine's user (root included). The cluster is
READY only once Jupyter answers; the token reaches its owner only; a notebook that
cannot start fails the create with its reason in the record."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from typer.testing import CliRunner

from chalicelib.steps import register_task_definitions
from daskyard.cli import app
from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode

SPEC = {"workers": 1, "notebook": True, "allowed_cidrs": ["10.1.0.0/16"]}


@pytest.mark.e2e
def test_a_notebook_cluster_is_ready_only_once_jupyter_answers(live: LocalMode) -> None:
    api = DaskyardApi(live.api_url)
    api.create({"name": "nb", **SPEC})
    record = api.wait("nb", {"READY", "FAILED"}, timeout=180)
    assert record["status"] == "READY", record
    # Jupyter answers the moment the cluster is READY: WaitForNotebook held it back
    # until the notebook's health check passed.
    assert record["notebook_status"] == "SERVING"
    assert requests.get(record["notebook_url"].replace("/lab", "/api"), timeout=5).ok
    # `daskyard notebook` gives the owner the URL with the token; the token opens the
    # notebook's files, and nothing else does. It is in no record.
    out = CliRunner().invoke(app, ["notebook", "nb", "--api", live.api_url])
    assert out.exit_code == 0, out.output
    url = out.output.strip()
    assert url.startswith(record["notebook_url"] + "?token=")
    token = parse_qs(urlparse(url).query)["token"][0]
    contents = record["notebook_url"].replace("/lab", "/api/contents")
    assert requests.get(contents, params={"token": token}, timeout=5).status_code == 200
    assert requests.get(contents, timeout=5).status_code == 403
    assert requests.get(contents, params={"token": "x" + token}, timeout=5).status_code == 403
    assert token not in json.dumps(api.get("nb")) + json.dumps(api.list())


@pytest.mark.e2e
def test_a_notebook_that_cannot_start_fails_the_create_with_its_reason(
        live: LocalMode, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook task without its token (a broken secret reference) exits at once, and
    ECS would start it again and again: the create fails, saying so."""
    real = register_task_definitions.task_secrets

    def without_token(arn: str, role: str) -> list[dict[str, str]]:
        return [s for s in real(arn, role) if s["name"] != "JUPYTER_TOKEN"]

    monkeypatch.setattr(register_task_definitions, "task_secrets", without_token)
    api = DaskyardApi(live.api_url)
    api.create({"name": "nb-broken", **SPEC})
    record: dict[str, Any] = api.wait("nb-broken", {"READY", "FAILED", "DELETE_FAILED"},
                                      timeout=180)
    assert record["status"] == "FAILED", record
    assert "NotebookFailed: the notebook did not start" in record["error"]
    assert "Essential container in task exited (exit code 2)" in record["error"]
    assert "/daskyard/local/nb-broken" in record["error"]  # where its output is
    steps = {s["name"]: s for s in api.events("nb-broken")["steps"]}
    assert steps["WaitForNotebook"]["outcome"] == "FAILED"
