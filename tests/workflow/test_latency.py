"""The whole workflow while local mode acts out AWS's delays (daskyard.local.latency, the
`aws` profile) at a fortieth of real time: mount targets `creating` until their time,
tasks PENDING while their image is pulled, Lambda cold starts. Create, a fault and its
rollback, and destroy pass; and the delays were really waited for (lower bounds: a wait
cannot end before its delay, however fast the machine)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from chalicelib import timeline
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.inventory import leftovers
from daskyard.local.latency import AWS, NONE
from daskyard.local.stack import LocalMode
from tests.support.clusters import create, destroy, fail_after, wait_status

SCALE = 0.025  # 2.25 s for a mount target, 1.5 s for a task start: still past a poll or two


@pytest.fixture
def slow(stack: LocalMode) -> Iterator[LocalMode]:
    stack.act_out(AWS.scaled(SCALE), stack.time_scale)  # the tests' ASL scale: no redeploy
    yield stack
    stack.act_out(NONE, stack.time_scale)


def at(steps: list[dict[str, str]], name: str, edge: str) -> datetime:
    return datetime.fromisoformat(next(s[edge] for s in steps if s["name"] == name))


def test_create_fault_rollback_and_destroy_under_aws_latencies(rt: Runtime,
                                                                slow: LocalMode) -> None:
    assert slow.clients is not None and slow.agent is not None
    out = create(rt, slow)
    assert out["status"] == "SUCCEEDED", out
    steps, _ = timeline.read(slow.clients.sfn, out["executionArn"])
    # The mount targets became available no sooner than AWS makes them (they are made
    # within EstablishSharedDrive: its start is before their creation).
    waited = at(steps, "WaitForSharedDrive", "end") - at(steps, "EstablishSharedDrive", "start")
    assert waited.total_seconds() >= AWS.of("efs_mount_target") * SCALE
    # The scheduler's task was PENDING (its image pulled) before it ran.
    scheduler = [e for e in slow.agent.events if e["group"].endswith("-demo-scheduler")]
    pending, running = (datetime.fromisoformat(next(
        e["updatedAt"].replace("Z", "+00:00") for e in scheduler if e["lastStatus"] == s))
        for s in ("PENDING", "RUNNING"))
    assert (running - pending).total_seconds() >= AWS.of("fargate_task_start") * SCALE
    assert destroy(rt, slow)["status"] == "SUCCEEDED"
    assert leftovers(slow.clients, "demo") == []

    slow.router.interceptor = fail_after("StartWorkers")  # a fault, then the rollback
    create(rt, slow, "doomed")
    assert wait_status(rt, "doomed", {Status.FAILED, Status.DELETE_FAILED}).status \
        == Status.FAILED
    assert leftovers(slow.clients, "doomed") == []
