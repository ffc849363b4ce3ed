"""The ECS task event, parsed once (chalicelib.task_events): the real event's fields,
STOPPED events with their exit and stop codes, and what is refused before any reaction
sees it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern
from pydantic import ValidationError

from chalicelib.core import naming
from chalicelib.task_events import MalformedEvent, NotOurs, TaskEvent, parse, pattern
from tests.support.data import fixture_json

TASK = ("arn:aws:ecs:us-east-1:111122223333:task/daskyard-local-demo/"
        "b99d40b3-5176-4f71-9a52-9dbd6f1cebef")


def envelope(detail: Any, source: str = "aws.ecs",
             detail_type: str = "ECS Task State Change") -> dict[str, Any]:
    """EventBridge's event around a detail, as the rule delivers it to the Lambda."""
    return {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type, "source": source, "account": "111122223333",
            "time": "2026-11-26T10:13:04Z", "region": "us-east-1", "resources": [TASK],
            "detail": detail}


def stopped(service: str, exit_code: int | None, stop_code: str,
            reason: str = "Essential container in task exited") -> dict[str, Any]:
    """A STOPPED detail as ECS sends it: stop code, reason, time and the container's exit
    code (absent when the container never ran)."""
    detail = fixture_json("fargate_task_running.json")
    detail.update(group=f"service:daskyard-local-demo-{service}", lastStatus="STOPPED",
                  desiredStatus="STOPPED", version=5, stopCode=stop_code,
                  stoppedReason=reason, stoppedAt="2026-11-26T11:00:00.000Z",
                  updatedAt="2026-11-26T11:00:00.100Z")
    detail["containers"][0]["lastStatus"] = "STOPPED"
    if exit_code is not None:
        detail["containers"][0]["exitCode"] = exit_code
    return detail


def test_the_real_fargate_event_is_read_into_its_typed_fields() -> None:
    event = parse(envelope(fixture_json("fargate_task_running.json")), "local")
    assert (event.cluster, event.role, event.status) == ("demo", "scheduler", "RUNNING")
    assert event.task_arn == TASK and event.task_id == "b99d40b3-5176-4f71-9a52-9dbd6f1cebef"
    assert event.cluster_arn == "arn:aws:ecs:us-east-1:111122223333:cluster/daskyard-local-demo"
    assert (event.version, event.created_at) == (3, "2026-11-26T10:12:54.334Z")
    assert event.updated_at == "2026-11-26T10:13:04.812Z"
    assert (event.exit_code, event.stop_code, event.stopped_reason) == (None, "", "")
    assert event.health == "UNKNOWN" and event.container_instance_arn is None
    assert event.eni_detail("privateIPv4Address") == "10.0.0.139"
    assert event.eni_detail("networkInterfaceId") == "eni-abcd1234"
    assert event.host_port(8786) is None  # awsvpc: no host port bindings
    assert not event.idle_exit
    assert event.order() == "2026-11-26T10:12:54.334Z#000000000003"


@pytest.mark.parametrize(("service", "role", "exit_code", "stop_code", "idle"), [
    ("scheduler", "scheduler", naming.EXIT_IDLE, "EssentialContainerExited", True),
    ("scheduler", "scheduler", 1, "EssentialContainerExited", False),
    ("workers", "worker", 2, "EssentialContainerExited", False),
    ("workers", "worker", 137, "SpotInterruption", False),
    ("notebook", "notebook", None, "TaskFailedToStart", False),
])
def test_a_stopped_event_carries_its_exit_and_stop_codes(
        service: str, role: str, exit_code: int | None, stop_code: str, idle: bool) -> None:
    event = parse(envelope(stopped(service, exit_code, stop_code)), "local")
    assert (event.role, event.status, event.exit_code, event.stop_code) == (
        role, "STOPPED", exit_code, stop_code)
    assert event.stopped_reason == "Essential container in task exited"
    assert event.stopped_at == "2026-11-26T11:00:00.000Z"
    assert event.idle_exit is idle


def test_the_idle_exit_code_of_a_worker_is_no_idle_exit() -> None:
    event = parse(envelope(stopped("workers", naming.EXIT_IDLE, "EssentialContainerExited")),
                  "local")
    assert event.exit_code == naming.EXIT_IDLE and not event.idle_exit


def test_the_event_is_frozen_so_no_reaction_changes_what_the_next_one_reads() -> None:
    event = parse(envelope(fixture_json("fargate_task_running.json")), "local")
    with pytest.raises(ValidationError):
        event.status = "STOPPED"
    assert isinstance(event, TaskEvent) and event.status == "RUNNING"


@pytest.mark.parametrize(("source", "detail_type"), [
    ("aws.ssm", "ECS Task State Change"), ("aws.ecs", "ECS Container Instance State Change"),
    ("custom.attacker", "ECS Task State Change")])
def test_another_source_or_detail_type_is_not_ours(source: str, detail_type: str) -> None:
    with pytest.raises(NotOurs):
        parse(envelope(fixture_json("fargate_task_running.json"), source, detail_type),
              "local")


@pytest.mark.parametrize("group", ["service:daskyard-prod-demo-scheduler",
                                   "service:someone-elses-app", "family:daskyard-local-demo",
                                   ""])
def test_another_stages_or_a_foreign_group_is_not_ours(group: str) -> None:
    detail = fixture_json("fargate_task_running.json")
    detail["group"] = group
    with pytest.raises(NotOurs):
        parse(envelope(detail), "local")


@pytest.mark.parametrize("breakage", ["no_version", "attachments_not_a_list",
                                      "version_not_a_number", "no_task_arn",
                                      "detail_not_an_object"])
def test_a_malformed_detail_is_refused_with_its_errors_and_without_its_values(
        breakage: str) -> None:
    detail: Any = fixture_json("fargate_task_running.json")
    if breakage == "no_version":
        del detail["version"]
    elif breakage == "attachments_not_a_list":
        detail["attachments"] = "not a list"
    elif breakage == "version_not_a_number":
        detail["version"] = "secret-looking-value"
    elif breakage == "no_task_arn":
        del detail["taskArn"]
    else:
        detail = ["not", "an", "object"]
    with pytest.raises(MalformedEvent) as refused:
        parse(envelope(detail), "local")
    assert refused.value.errors
    assert "secret-looking-value" not in repr(refused.value.errors)  # errors, not inputs


@pytest.mark.parametrize("group", ["service:daskyard-local-demo-scheduler",
                                   "service:daskyard-local-my-etl-workers",
                                   "service:daskyard-local-demo-notebook",
                                   "service:daskyard-prod-demo-scheduler",
                                   "service:daskyard-localx-demo-scheduler",
                                   "service:someone-elses-app"])
def test_the_rule_delivers_no_event_of_another_stage_that_parse_would_take(group: str) -> None:
    """EventBridge's match of the rule's pattern (moto's implementation of it) agrees
    with what parse takes: this stage's services' events, no other stage's."""
    detail = fixture_json("fargate_task_running.json")
    detail["group"] = group
    event = envelope(detail)
    matched = EventPattern.load(json.dumps(pattern("local"))).matches_event(event)  # type: ignore[arg-type]
    try:
        parse(event, "local")
        taken = True
    except NotOurs:
        taken = False
    assert (matched, taken) == (group.startswith("service:daskyard-local-"),) * 2
