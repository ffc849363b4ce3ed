"""The reliability suite: faults injected into the real state machines and handlers,
each test reporting "N faults, N recovered, 0 resources leaked" (printed at the end of
the run). Resources are counted by listing each AWS service, not by trusting records."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import lifecycle
from chalicelib.core.errors import Throttled
from chalicelib.core.identity import SYSTEM
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall
from daskyard.client import ApiError, DaskyardApi
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import (
    CREATE_STATES,
    EXPECTED_RESOURCES,
    InjectedFault,
    create,
    destroy,
    fail_after,
    history,
    spec,
    wait_status,
)
from tests.support.tls import cluster_security
from tests.support.waiting import eventually

DESTROY_STATES = ["MarkDeleting", "DeleteWorkers", "DeleteScheduler",
                  "DeleteTaskDefinitions", "DeleteEcsCluster", "DeleteSharedDrive",
                  "DeleteSecurityKey", "DeleteNetwork", "MarkDone"]


def test_a_fault_at_every_create_step_rolls_back_to_nothing(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    recovered = leaked = 0
    for state in CREATE_STATES:
        stack.router.interceptor = fail_after(state)
        assert create(rt, stack)["status"] == "FAILED"
        record = wait_status(rt, "demo", {Status.FAILED})
        left = leftovers(stack.clients, "demo")
        leaked += len(left)
        # The rolled-back cluster no longer counts on its owner's quota counter.
        counter = rt.registry.quota.counter(ALICE.id)
        ok = record.error == f"InjectedFault: injected at {state}" and not left \
            and counter == (0, 0)
        recovered += ok
        if not ok:
            print(f"{state}: error={record.error!r} left={left} counter={counter}")
    stack.router.interceptor = None
    assert create(rt, stack)["status"] == "SUCCEEDED"  # the name is usable again
    reliability(len(CREATE_STATES), recovered, leaked)


def test_a_fault_at_every_destroy_step_is_recorded_and_a_second_destroy_finishes(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    recovered = leaked = 0
    for state in DESTROY_STATES:
        stack.router.interceptor = None
        assert create(rt, stack)["status"] == "SUCCEEDED"
        assert rt.registry.quota.counter(ALICE.id) == (1, 2)
        stack.router.interceptor = fail_after(state)
        assert destroy(rt, stack)["status"] == "FAILED"
        failed = rt.registry.require("demo")
        counted_after_fault = rt.registry.quota.counter(ALICE.id)  # DELETE_FAILED counts no more
        stack.router.interceptor = None
        assert destroy(rt, stack)["status"] == "SUCCEEDED"
        left = leftovers(stack.clients, "demo")
        leaked += len(left)
        recovered += (failed.status == Status.DELETE_FAILED and "injected" in failed.error
                      and rt.registry.require("demo").status == Status.DELETED and not left
                      and counted_after_fault == rt.registry.quota.counter(ALICE.id) == (0, 0))
    reliability(len(DESTROY_STATES), recovered, leaked)


def test_throttling_at_every_step_of_create_and_destroy_is_retried(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    throttled: Counter[str] = Counter()

    def throttle_first_call_of_each_state(name: str, event: dict[str, Any],
                                          handler: Any) -> Any:
        if "state" not in event:  # an EventBridge delivery, not a state machine task
            return handler(event, None)
        key = f"{event['action']}:{event['state']}"
        throttled[key] += 1
        if throttled[key] == 1:
            raise Throttled("Rate exceeded")
        return handler(event, None)

    stack.router.interceptor = throttle_first_call_of_each_state
    made, gone = create(rt, stack), destroy(rt, stack)
    assert made["status"] == gone["status"] == "SUCCEEDED"
    retried = sum(1 for out in (made, gone) for e in history(stack.clients, out["executionArn"])
                  if e["type"] == "TaskFailed"
                  and e["taskFailedEventDetails"].get("error") == "Throttled")
    leaked = len(leftovers(stack.clients, "demo"))
    reliability(len(throttled), retried, leaked)


def test_a_crash_between_creating_a_resource_and_recording_it_leaks_nothing(
        rt: Runtime, stack: LocalMode, reliability: Any, monkeypatch: Any) -> None:
    """Each kind of resource: the step dies right after making it, before the registry
    hears of it; the rollback still finds it (by its derived name) and removes it."""
    assert stack.clients is not None
    real = StepCall.remember
    crash_on: list[str] = []

    def remember(self: StepCall, **made: Any) -> None:
        if crash_on and crash_on[0] in made:
            raise InjectedFault(f"crashed before recording {crash_on[0]}")
        real(self, **made)

    monkeypatch.setattr(StepCall, "remember", remember)
    kinds = sorted(EXPECTED_RESOURCES - {"images"})  # images are shared, not the cluster's
    recovered = leaked = 0
    for kind in kinds:
        crash_on[:] = [kind]
        assert create(rt, stack)["status"] == "FAILED", kind
        record = wait_status(rt, "demo", {Status.FAILED})
        assert not getattr(record.resources, kind), "the crash came before the record"
        left = leftovers(stack.clients, "demo")
        leaked += len(left)
        recovered += f"crashed before recording {kind}" in record.error and not left
    reliability(len(kinds), recovered, leaked)


def test_fifty_concurrent_posts_over_five_names_make_exactly_five_clusters(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    url = stack.api_url or stack.serve_api()
    names = [f"c{i}" for i in range(5)] * 10
    go = threading.Barrier(len(names))

    def post(name: str) -> int:
        api = DaskyardApi(url, timeout=60)  # signed as the local admin: no quota
        go.wait()
        try:
            api.create({"name": name, "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]})
            return 202
        except ApiError as exc:
            return exc.status

    with ThreadPoolExecutor(len(names)) as pool:
        codes = Counter(pool.map(post, names))
    assert codes == {202: 5, 409: 45}, codes
    records = rt.registry.list()
    assert sorted(r.name for r in records) == sorted(set(names))
    executions = stack.clients.sfn.list_executions(
        stateMachineArn=rt.settings.create_state_machine_arn)["executions"]
    assert len(executions) == 5
    for record in records:
        wait_execution(stack.clients, rt.registry.require(record.name).execution_arn, 300)
    # The five destroys run at once, as the creates did.
    destroys = [lifecycle.destroy_cluster(rt, record.name, caller=SYSTEM).execution_arn
                for record in records]
    for arn in destroys:
        wait_execution(stack.clients, arn)
    leaked = sum(len(leftovers(stack.clients, n)) for n in set(names))
    # 45 duplicate requests were the faults: each refused with 409, nothing made twice.
    reliability(45, codes[409], leaked)


def test_a_destroy_issued_while_the_create_runs_stops_it_and_leaves_nothing(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    reached, release = threading.Event(), threading.Event()

    def hold_start_scheduler(name: str, event: dict[str, Any], handler: Any) -> Any:
        if event.get("state") == "StartScheduler" and event.get("action") == "create":
            reached.set()
            release.wait(30)
        return handler(event, None)

    stack.router.interceptor = hold_start_scheduler
    made = lifecycle.create_cluster(rt, spec("racer"), caller=ALICE)
    assert reached.wait(60), "the create reached StartScheduler"
    gone = lifecycle.destroy_cluster(rt, "racer", caller=ALICE)
    release.set()
    create_out = wait_execution(stack.clients, made.execution_arn)
    destroy_out = wait_execution(stack.clients, gone.execution_arn)
    # AWS reports ABORTED; the emulator's interpreter runs a stopped execution on to FAILED.
    assert create_out["status"] in ("ABORTED", "FAILED")
    assert destroy_out["status"] == "SUCCEEDED"
    destroys = stack.clients.sfn.list_executions(
        stateMachineArn=rt.settings.destroy_state_machine_arn)["executions"]
    assert len(destroys) == 1, "the stopped create did not start a rollback of its own"
    wait_status(rt, "racer", {Status.DELETED})
    leaked = len(leftovers(stack.clients, "racer"))
    reliability(1, int(rt.registry.require("racer").status == Status.DELETED), leaked)


@pytest.mark.e2e
def test_a_killed_scheduler_is_replaced_and_workers_reconnect_unaided(
        live: LocalMode, rt: Runtime, reliability: Any) -> None:
    from distributed import Client

    assert live.agent is not None and live.clients is not None
    record = lifecycle.create_cluster(rt, spec("phoenix", allowed_cidrs=["127.0.0.0/8"]),
                                      caller=ALICE)
    wait_execution(live.clients, record.execution_arn)
    first = wait_status(rt, "phoenix", {Status.READY}).scheduler.address
    security = cluster_security(live.clients, "phoenix")
    with Client(first, security=security, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    [scheduler] = live.agent.running("daskyard-local-phoenix-scheduler")
    live.agent.kill(scheduler)
    second = _wait_new_address(rt, "phoenix", first)
    with Client(second, security=security, timeout=30) as client:
        client.wait_for_workers(2, timeout=120)
        assert client.submit(sum, range(11)).result(timeout=30) == 55
    gone = lifecycle.destroy_cluster(rt, "phoenix", caller=ALICE)
    wait_execution(live.clients, gone.execution_arn)
    left = live.leftovers("phoenix", settle=30)
    reliability(1, int(second != first), len(left))


def _wait_new_address(rt: Runtime, name: str, old: str, timeout: float = 90) -> str:
    def new_address() -> str:
        record = rt.registry.require(name)
        fresh = record.scheduler.address != old and not record.scheduler.stale
        return record.scheduler.address if fresh else ""

    return eventually(new_address, timeout, interval=0.2, what="a new scheduler address")
