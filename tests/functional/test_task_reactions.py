"""The OnEcsTaskStateChange handler, invoked through chalice.test.Client: it parses the
event once and runs the table of reactions (chalicelib.reactions), each on the same
event; a failing reaction stops none of the others, is logged, and fails the invocation
so that Lambda retries the event, which the reactions that did run take as a duplicate."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import reactions
from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.observability import logger
from chalicelib.core.runtime import Runtime
from chalicelib.reactions import Reaction, ReactionsFailed
from chalicelib.task_events import TaskEvent
from tests.support.data import fixture_json
from tests.support.task_events import deliver

TASKS = "arn:aws:ecs:us-east-1:111122223333:task/daskyard-local-demo"


def task(service: str, task_id: str, status: str, exit_code: int | None = None,
         stop_code: str = "") -> dict[str, Any]:
    detail = fixture_json("fargate_task_running.json")
    detail.update(group=f"service:daskyard-local-demo-{service}", lastStatus=status,
                  taskArn=f"{TASKS}/{task_id}")
    if status == "STOPPED":
        detail.update(version=5, stopCode=stop_code,
                      stoppedReason="Essential container in task exited",
                      stoppedAt="2026-11-26T11:00:00.000Z")
        if exit_code is not None:
            detail["containers"][0]["exitCode"] = exit_code
    return detail


def spied(table: tuple[Reaction, ...], seen: list[tuple[str, TaskEvent]]) -> tuple[
        Reaction, ...]:
    """The same reactions, each recording its name and the event it was given."""
    def spy(reaction: Reaction) -> Reaction:
        def run(rt: Runtime, event: TaskEvent) -> str:
            seen.append((reaction.name, event))
            return reaction.run(rt, event)
        return Reaction(reaction.name, run)
    return tuple(spy(r) for r in table)


def address(clients: Clients) -> str | None:
    try:
        return str(clients.ssm.get_parameter(Name="/daskyard/local/demo/scheduler-address")[
            "Parameter"]["Value"])
    except clients.ssm.exceptions.ParameterNotFound:
        return None


def test_each_reaction_is_the_react_function_of_the_module_it_is_named_for() -> None:
    names = [r.name for r in reactions.REACTIONS]
    assert len(set(names)) == len(names)
    assert [(r.run.__module__, r.run.__name__) for r in reactions.REACTIONS] == [
        (f"chalicelib.{name}", "react") for name in names]


@pytest.mark.parametrize(("service", "status"), [("scheduler", "RUNNING"),
                                                 ("workers", "RUNNING"),
                                                 ("notebook", "STOPPED")])
def test_the_handler_runs_every_reaction_of_the_table_on_one_parsed_event(
        client: Client, monkeypatch: pytest.MonkeyPatch, service: str, status: str) -> None:
    seen: list[tuple[str, TaskEvent]] = []
    table = reactions.REACTIONS
    monkeypatch.setattr(reactions, "REACTIONS", spied(table, seen))
    deliver(client, task(service, "t1", status))
    assert [name for name, _ in seen] == [r.name for r in table]
    first = seen[0][1]
    assert all(event is first for _, event in seen)  # parsed once, the same object
    assert (first.cluster, first.role, first.status, first.task_id) == (
        "demo", naming.ROLE_OF_SERVICE[service], status, "t1")


def test_a_foreign_or_malformed_event_reaches_no_reaction(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, TaskEvent]] = []
    monkeypatch.setattr(reactions, "REACTIONS", spied(reactions.REACTIONS, seen))
    foreign = task("scheduler", "t1", "RUNNING")
    foreign["group"] = "service:daskyard-prod-demo-scheduler"
    assert deliver(client, foreign) == "ignored: not ours"
    malformed = task("workers", "t2", "RUNNING")
    del malformed["version"]
    assert deliver(client, malformed) == "ignored: malformed"
    assert seen == []


def test_a_failing_reaction_stops_none_of_the_others_and_the_retry_is_a_duplicate(
        client: Client, clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(rt: Runtime, event: TaskEvent) -> str:
        raise RuntimeError("ThrottlingException: Rate exceeded")

    seen: list[tuple[str, TaskEvent]] = []
    table = reactions.REACTIONS
    broken = (Reaction("broken", throttled), *spied(table, seen))
    monkeypatch.setattr(reactions, "REACTIONS", broken)
    logged = io.StringIO()  # the Lambda's log (its handler's stream), read below
    monkeypatch.setattr(logger.registered_handler, "stream", logged)
    event = task("scheduler", "s1", "RUNNING")
    with pytest.raises(ReactionsFailed) as failed:
        deliver(client, event)
    # Every reaction after the failing one ran: discovery published the address.
    assert [name for name, _ in seen] == [r.name for r in table]
    assert address(clients) == "tls://10.0.0.139:8786"
    assert "broken failed" in str(failed.value)
    assert [str(e) for e in failed.value.exceptions] == ["ThrottlingException: Rate exceeded"]
    # The log line says which reaction, on which cluster's which task, and why.
    [line] = [json.loads(line) for line in logged.getvalue().splitlines()
              if '"task event reaction failed"' in line]
    assert {k: line[k] for k in ("reaction", "cluster", "role", "task", "status")} == {
        "reaction": "broken", "cluster": "demo", "role": "scheduler", "task": "s1",
        "status": "RUNNING"}
    assert "ThrottlingException" in line["exception"]

    # Lambda's retry of the same event, the failure gone: what ran changes nothing.
    monkeypatch.setattr(reactions, "REACTIONS", table)
    assert deliver(client, event) == "ignored: stale"
    assert address(clients) == "tls://10.0.0.139:8786"


def test_a_crash_is_recorded_once_per_task_under_the_roles_one_spelling(
        client: Client, rt: Runtime) -> None:
    crashed = task("workers", "w1", "STOPPED", exit_code=2,
                   stop_code="EssentialContainerExited")
    assert "crash 1 of worker recorded" in deliver(client, crashed)
    assert "crash" not in deliver(client, crashed)  # ECS's duplicate, or Lambda's retry
    assert "crash 2 of worker recorded" in deliver(
        client, task("workers", "w2", "STOPPED", exit_code=2,
                     stop_code="EssentialContainerExited"))
    crash = rt.registry.require("demo").crashes["worker"]
    assert (crash.count, crash.task, crash.exit_code) == (2, "w2", 2)
    assert set(rt.registry.require("demo").crashes) == {"worker"}


def test_a_schedulers_idle_exit_is_no_crash_but_another_exit_is(client: Client,
                                                                rt: Runtime) -> None:
    idle = task("scheduler", "s1", "STOPPED", exit_code=naming.EXIT_IDLE,
                stop_code="EssentialContainerExited")
    # The cluster is CREATING: no destroy either (idle.py), its service starts another.
    assert "crash" not in deliver(client, idle)
    assert "scheduler" not in rt.registry.require("demo").crashes
    exited = task("scheduler", "s2", "STOPPED", exit_code=1,
                  stop_code="EssentialContainerExited")
    assert "crash 1 of scheduler recorded" in deliver(client, exited)
