"""The step timeline: `GET /clusters/{name}/events` reads the execution's history, and
`daskyard up` and `daskyard status` show every step of it, none skipped, in order."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from chalicelib.core.runtime import Runtime
from daskyard.cli import app
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.clusters import fail_after, history


def printed_steps(output: str) -> list[str]:
    """The step names of the CLI's timeline lines (`  +0.12s  Name  0.34s  OUTCOME`)."""
    return [line.split()[1] for line in timeline_lines(output)]


def timeline_lines(output: str) -> list[str]:
    return [line for line in output.splitlines()
            if line.split()[:1] and line.split()[0].startswith("+") and len(line.split()) >= 4]


def test_up_lists_every_state_the_execution_entered_in_order(stack: LocalMode,
                                                             rt: Runtime) -> None:
    url = stack.api_url or stack.serve_api()
    out = CliRunner().invoke(app, ["up", "timeline", "--workers", "1",
                                   "--allowed-cidr", "10.1.0.0/16", "--api", url])
    assert out.exit_code == 0, out.output
    assert stack.clients is not None
    arn = rt.registry.require("timeline").execution_arn
    wait_execution(stack.clients, arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history(stack.clients, arn)
               if e["type"].endswith("StateEntered")]
    assert "WaitForNotebook" in entered and entered[-1] == "PublishEndpoints"
    assert printed_steps(out.output) == entered
    assert all(line.split()[3] == "SUCCEEDED" for line in timeline_lines(out.output))
    # `status` shows the same steps, each with its duration.
    status = CliRunner().invoke(app, ["status", "timeline", "--api", url])
    assert status.exit_code == 0, status.output
    assert printed_steps(status.output) == entered


def test_events_of_a_failed_create_name_the_failed_step_and_its_error(
        http: Any, stack: LocalMode) -> None:
    stack.router.interceptor = fail_after("StartWorkers")
    made = json.loads(http.post("/clusters", headers={"Content-Type": "application/json"},
                                body=json.dumps({"name": "doomed", "workers": 1,
                                                 "allowed_cidrs": ["10.1.0.0/16"]})).body)
    assert stack.clients is not None
    wait_execution(stack.clients, made["execution_arn"])
    body = json.loads(http.get("/clusters/doomed/events").body)
    steps = {s["name"]: s for s in body["steps"]}
    assert steps["StartWorkers"]["outcome"] == "FAILED"
    assert "injected at StartWorkers" in steps["StartWorkers"]["error"]
    assert steps["GenerateSecurityKey"]["outcome"] == "SUCCEEDED"
    assert all(s["start"] <= s["end"] for s in body["steps"])
    assert body["steps"][-1]["name"] == "CreateFailed"
    # Someone else's cluster's steps answer as a missing cluster's.
    assert http.as_user("mallory").get("/clusters/doomed/events").status_code == 404
