"""The control side of adaptive scaling and idle shutdown, through the real routes and
the real task event handler (control-plane tasks: the scheduler's own side is proven
with real dask in tests/e2e/test_adapt_and_idle.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from tests.support.clusters import scheduler_stopped, wait_status
from tests.support.signed import SignedHttp
from tests.support.task_events import deliver

JSON = {"Content-Type": "application/json"}


def adapt_parameter(clients: Clients, rt: Runtime, name: str) -> Any:
    try:
        return json.loads(clients.ssm.get_parameter(Name=rt.names(name).adapt_parameter())[
            "Parameter"]["Value"])
    except clients.ssm.exceptions.ParameterNotFound:
        return None


def ready(http: SignedHttp, rt: Runtime, name: str, workers: int = 1) -> None:
    body = {"name": name, "workers": workers, "allowed_cidrs": ["10.1.0.0/16"]}
    assert http.post("/clusters", headers=JSON, body=json.dumps(body)).status_code == 202
    wait_status(rt, name, {Status.READY})


def test_adapt_is_checked_recorded_and_turned_off_by_scale_or_delete(
        http: SignedHttp, rt: Runtime, clients: Clients, stage_config: Any) -> None:
    stage_config(quota_workers=5)
    alice, bob = http.as_user("alice"), http.as_user("bob")
    ready(alice, rt, "elastic")

    def adapt(who: SignedHttp, body: Any) -> tuple[int, Any]:
        out = who.put("/clusters/elastic/adapt", headers=JSON, body=json.dumps(body))
        return out.status_code, json.loads(out.body)

    refused = [
        (bob, {"minimum": 1, "maximum": 3}, 404, "no cluster named 'elastic'"),
        (alice, {"minimum": 3, "maximum": 1}, 400, "minimum (3) is above maximum (1)"),
        (alice, {"minimum": -1, "maximum": 2}, 400, "minimum: Input should be greater"),
        (alice, {"minimum": 1, "maximum": 17}, 400, "maximum: at most 16 workers"),
        (alice, {"minimum": 1, "maximum": 6}, 403, "at most 5 workers per owner"),
    ]
    for who, body, status, message in refused:
        code, answer = adapt(who, body)
        assert (code, message in str(answer)) == (status, True), (body, answer)
    assert rt.registry.require("elastic").adapt is None
    assert adapt_parameter(clients, rt, "elastic") is None  # nothing written when refused

    # No maximum: the stage's 16, as far as alice's quota of 5 allows.
    code, answer = adapt(alice, {"minimum": 1})
    assert (code, answer["adapt"]) == (200, {"minimum": 1, "maximum": 5})
    assert adapt(alice, {"minimum": None, "maximum": None})[0] == 200

    code, answer = adapt(alice, {"minimum": 1, "maximum": 3})
    assert (code, answer["adapt"]) == (200, {"minimum": 1, "maximum": 3})
    assert json.loads(alice.get("/clusters/elastic").body)["adapt"] == answer["adapt"]
    assert adapt_parameter(clients, rt, "elastic") == {"minimum": 1, "maximum": 3}
    # The quota counts the maximum: 3 of alice's 5 workers are spoken for.
    too_many = {"name": "other", "workers": 3, "allowed_cidrs": ["10.1.0.0/16"]}
    assert alice.post("/clusters", headers=JSON, body=json.dumps(too_many)).status_code == 403

    # A fixed size turns adaptive scaling off (as dask-gateway's scale does).
    out = alice.put("/clusters/elastic/workers", headers=JSON, body=json.dumps({"workers": 2}))
    assert out.status_code == 200 and json.loads(out.body)["adapt"] is None
    assert adapt_parameter(clients, rt, "elastic") is None

    # Off by DELETE, or by null bounds (DaskyardApi.adapt(name, None, None)).
    assert adapt(alice, {"minimum": 0, "maximum": 2})[0] == 200
    out = alice.delete("/clusters/elastic/adapt")
    assert out.status_code == 200 and json.loads(out.body)["adapt"] is None
    assert adapt_parameter(clients, rt, "elastic") is None
    assert adapt(alice, {"minimum": 0, "maximum": 2})[0] == 200
    code, answer = adapt(alice, {"minimum": None, "maximum": 2})
    assert (code, "minimum: Input should be a valid integer" in str(answer)) == (400, True)
    code, answer = adapt(alice, {"minimum": None, "maximum": None})
    assert (code, answer["adapt"]) == (200, None)
    assert adapt_parameter(clients, rt, "elastic") is None

    assert alice.delete("/clusters/elastic").status_code == 202
    assert adapt(alice, {"minimum": 1, "maximum": 2})[0] == 409  # READY only, as scale


@pytest.fixture
def lambdas(stack: LocalMode) -> Iterator[Client]:
    with Client(stack.app.app, stage_name=STAGE) as c:
        yield c


def test_an_idle_exit_destroys_the_cluster_once_and_any_other_exit_does_not(
        http: SignedHttp, rt: Runtime, stack: LocalMode, lambdas: Client) -> None:
    ready(http, rt, "sleepy")
    crashed = scheduler_stopped(stack, rt, "sleepy", 1)
    assert deliver(lambdas, crashed) == "marked stale"  # restarted by its service, kept
    assert rt.registry.require("sleepy").status == Status.READY

    idle = scheduler_stopped(stack, rt, "sleepy", 75)
    assert deliver(lambdas, idle).endswith(
        "destroying: idle for 60 minutes (no tasks, no client)")  # the stage's default
    assert deliver(lambdas, idle).endswith("idle exit ignored: not the current scheduler "
                                           "of a READY cluster")  # ECS delivered it twice
    record = wait_status(rt, "sleepy", {Status.DELETED})
    assert record.destroy_reason == "idle for 60 minutes (no tasks, no client)"
    assert stack.leftovers("sleepy", settle=10) == []
