"""Every route and every refusal, through chalice.test.Client. A refused request
creates nothing: no record and no execution."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from tests.support.clusters import spec, wait_status
from tests.support.records import make

GOOD = {"name": "demo", "workers": 2, "allowed_cidrs": ["10.1.0.0/16"]}


def post(http: Any, body: Any, raw: bytes | None = None) -> Any:
    return http.post("/clusters", headers={"Content-Type": "application/json"},
                     body=raw if raw is not None else json.dumps(body))


def executions(clients: Clients, rt: Runtime) -> int:
    return len(clients.sfn.list_executions(
        stateMachineArn=rt.settings.create_state_machine_arn)["executions"])


def test_post_returns_202_with_the_record_and_creates_the_cluster(http: Any, rt: Runtime) -> None:
    response = post(http, GOOD)
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body["name"] == "demo" and body["status"] == "CREATING"
    assert "task_token" not in body
    assert wait_status(rt, "demo", {Status.READY}).status == Status.READY
    got = json.loads(http.get("/clusters/demo").body)
    assert got["status"] == "READY" and got["scheduler_address"].startswith("tls://")
    assert [c["name"] for c in json.loads(http.get("/clusters").body)["clusters"]] == ["demo"]


def test_existing_name_is_409(http: Any) -> None:
    assert post(http, GOOD).status_code == 202
    response = post(http, GOOD)
    assert response.status_code == 409
    assert "already exists" in json.loads(response.body)["error"]


@pytest.mark.reads_only
@pytest.mark.parametrize(("body", "field", "status"), [
    ({**GOOD, "name": "Bad_Name"}, "name", 400),
    ({**GOOD, "workers": -1}, "workers", 400),
    ({**GOOD, "workers": "two"}, "workers", 400),
    ({**GOOD, "workers": 10_000}, "workers", 400),
    ({**GOOD, "colour": "blue"}, "colour", 400),
    ({**GOOD, "worker_cpu": 1024, "worker_memory": 1000}, "Fargate size", 400),
    ({**GOOD, "allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs", 400),
    ({**GOOD, "allowed_cidrs": ["not-a-cidr"]}, "allowed_cidrs", 400),
    ({**GOOD, "launch_type": "EC2", "instance_type": "p5.48xlarge"}, "instance_type", 400),
    ({**GOOD, "launch_type": "LAMBDA"}, "launch_type", 400),
])
def test_bad_input_is_refused_and_nothing_is_created(http: Any, rt: Runtime, clients: Clients,
                                                     body: dict[str, Any], field: str,
                                                     status: int) -> None:
    response = post(http, body)
    assert response.status_code == status
    assert field in json.loads(response.body)["error"]
    assert rt.registry.list() == []
    assert executions(clients, rt) == 0


@pytest.mark.reads_only
@pytest.mark.parametrize(("raw", "status", "message"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"", 400, "required"),
    (json.dumps({**GOOD, "pad": "x" * 20_000}).encode(), 413, "larger than"),
])
def test_malformed_or_oversized_body_is_refused(http: Any, rt: Runtime, raw: bytes, status: int,
                                                message: str) -> None:
    response = post(http, None, raw=raw)
    assert response.status_code == status
    assert message in json.loads(response.body)["error"]
    assert rt.registry.list() == []


@pytest.mark.reads_only
def test_missing_cluster_is_404_and_bad_name_in_path_is_400(http: Any) -> None:
    assert http.get("/clusters/nothere").status_code == 404
    assert http.delete("/clusters/nothere").status_code == 404
    assert http.get("/clusters/BAD_NAME").status_code == 400


def test_scale_and_delete(http: Any, rt: Runtime, clients: Clients) -> None:
    assert post(http, GOOD).status_code == 202
    wait_status(rt, "demo", {Status.READY})
    response = http.put("/clusters/demo/workers", headers={"Content-Type": "application/json"},
                        body=json.dumps({"workers": 5}))
    assert response.status_code == 200, response.body
    service = clients.ecs.describe_services(
        cluster="daskyard-local-demo", services=["daskyard-local-demo-workers"])["services"][0]
    assert service["desiredCount"] == 5
    assert rt.registry.require("demo").spec.workers == 5
    assert http.delete("/clusters/demo").status_code == 202
    assert http.delete("/clusters/demo").status_code == 409  # already being deleted
    assert wait_status(rt, "demo", {Status.DELETED}).status == Status.DELETED


def test_scaling_a_cluster_that_is_not_ready_is_409(http: Any, rt: Runtime) -> None:
    make(rt, spec("idle"))  # CREATING, with no execution behind it
    response = http.put("/clusters/idle/workers", headers={"Content-Type": "application/json"},
                        body=json.dumps({"workers": 3}))
    assert response.status_code == 409


CUSTOM = "123456789012.dkr.ecr.us-east-1.amazonaws.com/daskyard-custom:2026.8.0"


def test_a_create_runs_the_allowed_image_with_the_owners_variables_and_tags(
        http: Any, rt: Runtime, clients: Clients, stage_config: Any) -> None:
    stage_config(allowed_images=[CUSTOM])
    body = {**GOOD, "image": CUSTOM, "environment": {"MODEL": "v2"}, "tags": {"team": "data"},
            "worker_threads": 3}
    assert post(http, body).status_code == 202
    record = wait_status(rt, "demo", {Status.READY, Status.FAILED})
    assert record.status == Status.READY, record.error
    assert set(record.resources.images.values()) == {CUSTOM}  # no build, no ECR lookup
    worker = clients.ecs.describe_task_definition(
        taskDefinition=record.resources.task_definitions["worker"])["taskDefinition"]
    env = {e["name"]: e["value"] for e in worker["containerDefinitions"][0]["environment"]}
    assert (env["MODEL"], env["DASKYARD_WORKER_THREADS"]) == ("v2", "3")
    tags = {t["key"]: t["value"] for t in clients.ecs.list_tags_for_resource(
        resourceArn=worker["taskDefinitionArn"])["tags"]}
    assert tags["team"] == "data" and tags["daskyard:cluster"] == "demo"
    assert record.cost.per_hour > 0


def test_an_image_the_stage_does_not_allow_is_refused_before_anything(
        http: Any, rt: Runtime, clients: Clients, stage_config: Any) -> None:
    stage_config(allowed_images=[CUSTOM])
    response = post(http, {**GOOD, "image": "docker.io/someone/miner:latest"})
    assert response.status_code == 400
    assert "image: not one of the stage's allowed images" in response.json_body["error"]
    assert rt.registry.get("demo") is None and executions(clients, rt) == 0
