"""Hostile requests to the HTTP API: each gets a 4xx naming the problem, and nothing is
created (no record, no execution)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode

GOOD = {"name": "demo", "workers": 2, "allowed_cidrs": ["10.1.0.0/16"]}
JSON = {"Content-Type": "application/json"}


def nothing_made(clients: Clients, rt: Runtime) -> bool:
    runs = clients.sfn.list_executions(stateMachineArn=rt.settings.create_state_machine_arn)
    return rt.registry.list() == [] and runs["executions"] == []


def refused(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.body
    assert words in json.loads(response.body)["error"], response.body


def many_cidrs(count: int) -> list[str]:
    return [f"10.{i}.0.0/16" for i in range(count)]


@pytest.mark.reads_only
@pytest.mark.parametrize(("body", "status", "words"), [
    ("[" * 1000 + "]" * 1000, 400, "nested too deeply"),
    ('{"a":' * 1000 + "1" + "}" * 1000, 400, "nested too deeply"),
    ('{"name": "demo", "name": "prod", "allowed_cidrs": ["10.1.0.0/16"]}', 400,
     "'name' appears more than once"),
    (json.dumps({**GOOD, "workers": 10**40}), 400, "workers"),
    (json.dumps({**GOOD, "worker_cpu": 10**40}), 400, "worker_cpu"),
    (json.dumps({**GOOD, "ttl_hours": -(10**30)}), 400, "ttl_hours"),
    (json.dumps({**GOOD, "launch_type": "EC2", "worker_cpu": -1024}), 400, "worker_cpu"),
    (json.dumps({**GOOD, "launch_type": "EC2", "worker_memory": -1}), 400, "worker_memory"),
    (json.dumps({**GOOD, "launch_type": "EC2", "worker_cpu": 4096, "worker_memory": 8192}),
     400, "does not fit a t3.medium"),
    (json.dumps({**GOOD, "launch_type": "EC2", "instance_type": "t3.nano"}), 400,
     "instance_type"),
    (json.dumps({**GOOD, "allowed_cidrs": many_cidrs(30)}), 400, "at most 29"),
    (json.dumps({**GOOD, "launch_type": "EC2", "allowed_cidrs": many_cidrs(20)}), 400,
     "at most 19"),
])
def test_hostile_bodies_are_refused_and_nothing_is_created(
        http: Any, rt: Runtime, clients: Clients, body: str, status: int, words: str) -> None:
    refused(http.post("/clusters", headers=JSON, body=body), status, words)
    assert nothing_made(clients, rt)


@pytest.mark.reads_only
@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"},
                                     {"Content-Type": "application/x-www-form-urlencoded"}])
def test_a_body_that_is_not_declared_json_is_refused(
        http: Any, rt: Runtime, clients: Clients, headers: dict[str, str]) -> None:
    response = http.post("/clusters", headers=headers, body=json.dumps(GOOD))
    assert response.status_code in (400, 415), response.body
    assert nothing_made(clients, rt)


def test_the_most_cidrs_a_group_holds_are_accepted(http: Any, rt: Runtime) -> None:
    """The bound is the group's, not lower: 29 CIDRs on Fargate make a cluster."""
    response = http.post("/clusters", headers=JSON,
                         body=json.dumps({**GOOD, "allowed_cidrs": many_cidrs(29)}))
    assert response.status_code == 202, response.body
    assert [r.name for r in rt.registry.list()] == ["demo"]


@pytest.mark.reads_only
def test_a_method_no_route_has_is_answered_as_api_gateway_does(stack: LocalMode) -> None:
    """JSON, 403 "Missing Authentication Token", not http.server's HTML 501 page."""
    url = urllib.parse.urlsplit(stack.api_url or stack.serve_api())
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("PROPFIND", "/clusters")
        answer = connection.getresponse()
        assert answer.status == 403
        assert answer.getheader("Content-Type") == "application/json"
        assert json.loads(answer.read()) == {"message": "Missing Authentication Token"}
    finally:
        connection.close()
