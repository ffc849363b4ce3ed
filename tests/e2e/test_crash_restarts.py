"""A task that keeps crashing: the local ECS agent starts it again, later each time, as
ECS throttles a failing service, and each crash shows on the cluster's record with its
exit code, ECS's reason and its last lines. A real process that really fails: the
images' entrypoint given a role it does not know."""

from __future__ import annotations

from datetime import datetime

import pytest

from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode
from tests.support.clusters import spec
from tests.support.records import make
from tests.support.waiting import eventually


@pytest.mark.e2e
def test_a_crashing_task_is_restarted_with_backoff_and_shows_on_the_record(
        live: LocalMode, rt: Runtime) -> None:
    assert live.clients is not None and live.agent is not None
    ecs, names = live.clients.ecs, rt.names("crashy")
    # The agent's first delay is 1 s (FIRST_DELAY); a fifth of it shows the doubling too.
    first = live.agent.backoff.first_delay = 0.2
    make(rt, spec("crashy"))
    live.clients.logs.create_log_group(logGroupName=names.log_group())
    ecs.create_cluster(clusterName=names.base())
    definition = ecs.register_task_definition(
        family=names.task_family("worker"), networkMode="awsvpc",
        containerDefinitions=[{"name": "worker", "image": "worker", "command": ["bogus"],
                               "memoryReservation": 512,
                               "logConfiguration": {"logDriver": "awslogs", "options": {
                                   "awslogs-group": names.log_group(),
                                   "awslogs-region": "us-east-1",
                                   "awslogs-stream-prefix": "worker"}}}])
    ecs.create_service(cluster=names.base(), serviceName=names.service("worker"),
                       taskDefinition=definition["taskDefinition"]["taskDefinitionArn"],
                       desiredCount=1)
    crash = eventually(lambda: (c := rt.registry.require("crashy").crashes.get("worker"))
                       and c.count >= 3 and c, 60, interval=0.1, what="three crashes")
    assert crash.exit_code == 2 and crash.reason == "Essential container in task exited"
    assert "usage: entrypoint.py scheduler|worker|notebook (not 'bogus')" in crash.last_lines
    ecs.update_service(cluster=names.base(), service=names.service("worker"), desiredCount=0)

    # Each start after a crash waited longer: the first delay, then twice that, ...
    group = f"service:{names.service('worker')}"
    ours = [e for e in list(live.agent.events) if e["group"] == group]
    at = [(e["lastStatus"], datetime.fromisoformat(e["updatedAt"]).timestamp()) for e in ours]
    stops = [t for status, t in at if status == "STOPPED"]
    starts = [t for status, t in at if status == "PENDING"]
    waits = [start - stop for stop, start in zip(stops, starts[1:], strict=False)]
    assert len(waits) >= 2
    for i, waited in enumerate(waits):
        assert waited >= first * 2 ** i - 0.002, (i, waits)  # ms timestamps
