"""The scheduled teardown on a seeded mix: nightly, never, expired TTL, an unmanaged
ECS cluster, a look-alike without the managed tag, a named drive and an orphaned
tagged security group. Exactly the right ones go."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import lifecycle, teardown
from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.registry import now
from chalicelib.core.runtime import Runtime
from daskyard.local.deploy import STAGE
from daskyard.local.inventory import leftovers
from daskyard.local.stack import wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import spec, wait_status
from tests.support.receiver import Receiver
from tests.support.records import force, make
from tests.support.waiting import eventually


def seed_record(rt: Runtime, name: str, status: Status = Status.READY, **kw: Any) -> None:
    make(rt, spec(name, **kw), status=status.value)


def test_expiry_destroys_only_clusters_past_their_ttl(rt: Runtime) -> None:
    seed_record(rt, "short", ttl_hours=1)
    seed_record(rt, "long", ttl_hours=8)
    seed_record(rt, "plain")
    seed_record(rt, "keeper", teardown="never")
    seed_record(rt, "done", Status.DELETED, ttl_hours=1)
    at = now() + timedelta(hours=2)
    report = teardown.expire(rt, at)
    assert report.destroyed == {"short": "ttl"}
    assert sorted(report.kept) == ["keeper", "long", "plain"]
    # The teardown machine's Map starts the destroy: soon, not before expire returns.
    wait_status(rt, "short", {Status.DELETING, Status.DELETED})
    assert {n: rt.registry.require(n).status for n in ("long", "plain", "keeper")} == {
        "long": Status.READY, "plain": Status.READY, "keeper": Status.READY}
    wait_status(rt, "short", {Status.DELETED})


def test_the_summary_totals_the_estimated_cost_of_the_live_clusters(rt: Runtime) -> None:
    for name in ("cheap", "dear"):  # created now, with an estimate of $0.50 and $1.25 an hour
        make(rt, spec(name), status=Status.READY.value,
             **{"cost.per_hour": Decimal({"cheap": "0.5", "dear": "1.25"}[name])})
    make(rt, spec("gone"), status=Status.DELETED.value, **{"cost.per_hour": Decimal("9")})
    report = teardown.expire(rt, now() + timedelta(hours=2))  # as nightly, less the sweep
    assert report.cost == 3.5  # two hours of both live ones; the deleted one not at all
    assert "estimated cost of these clusters so far $3.50" in report.text()


def test_nightly_removes_exactly_the_right_things(rt: Runtime, clients: Clients,
                                                  receiver: Receiver) -> None:
    for cluster in (spec("nightly-one", workers=1), spec("keeper", workers=1,
                                                         teardown="never")):
        lifecycle.create_cluster(rt, cluster, caller=ALICE)
    for name in ("nightly-one", "keeper"):
        wait_status(rt, name, {Status.READY})
    seed_record(rt, "expired", ttl_hours=1)
    force(rt, "expired", expires_at=(now() - timedelta(minutes=1)).isoformat())
    keeper_before = sorted(leftovers(clients, "keeper"))
    assert keeper_before

    # Not ours: no managed tag, so never touched, whatever the name or other tags.
    clients.ecs.create_cluster(clusterName="analytics")
    clients.ecs.create_cluster(clusterName="daskyard-lookalike", tags=naming.ecs_kv(
        {naming.TAG_CLUSTER: "lookalike"}))
    vpc = clients.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    # Ours but orphaned: tagged for a cluster that has no record.
    orphan = clients.ec2.create_security_group(
        GroupName=rt.names("ghost").base(), Description="left behind", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group",
                            "Tags": naming.kv(naming.tags(rt.settings.stage, "ghost"))}])["GroupId"]
    # A named drive outlives clusters.
    drive = clients.efs.create_file_system(CreationToken="daskyard-drive-shared", Tags=naming.kv(
        naming.tags(rt.settings.stage, "ghost", **{naming.TAG_DRIVE: "shared"})))["FileSystemId"]

    clients.secrets.create_secret(Name="daskyard/summary-webhook", SecretString=receiver.url)
    with_summary = replace(rt, settings=rt.settings.model_copy(
        update={"summary_webhook_secret_id": "daskyard/summary-webhook"}))
    report = teardown.nightly(with_summary)

    assert report.destroyed == {"nightly-one": "nightly", "expired": "ttl"}
    assert report.kept == ["keeper"]
    assert list(report.swept) == ["ghost"]
    assert report.errors == {}
    for name in ("nightly-one", "expired"):
        wait_status(rt, name, {Status.DELETED})
    _wait_gone(clients, orphan)

    assert leftovers(clients, "nightly-one") == []
    assert rt.registry.require("keeper").status == Status.READY
    assert sorted(leftovers(clients, "keeper")) == keeper_before
    active = {c["clusterName"] for c in clients.ecs.describe_clusters(
        clusters=["analytics", "daskyard-lookalike"])["clusters"] if c["status"] == "ACTIVE"}
    assert active == {"analytics", "daskyard-lookalike"}
    assert [fs["FileSystemId"] for fs in clients.efs.describe_file_systems(
        FileSystemId=drive)["FileSystems"]] == [drive]

    [(_, raw)] = receiver.wait(1)
    summary = json.loads(raw)["text"]
    assert "destroyed 2: expired (ttl), nightly-one (nightly)" in summary
    assert "kept 1: keeper" in summary and "swept 1: ghost" in summary

    # The next night finds nothing more to do.
    again = teardown.nightly(rt)
    assert (again.destroyed, again.swept, again.kept) == ({}, {}, ["keeper"])


def _wait_gone(clients: Clients, group_id: str, timeout: float = 60) -> None:
    eventually(lambda: not clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-id", "Values": [group_id]}])["SecurityGroups"], timeout,
               interval=0.1, what=f"orphaned security group {group_id} swept")


def test_the_scheduled_handlers_run_the_teardown(rt: Runtime, stack: Any) -> None:
    from chalice.test import Client

    seed_record(rt, "plain")
    seed_record(rt, "keeper", teardown="never")
    event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2026-11-26T02:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {}, "id": "1", "account": "123456789012"}
    with Client(stack.app.app, stage_name=STAGE) as chalice:
        expiry = chalice.lambda_.invoke("ExpireClusters", event).payload
        nightly = chalice.lambda_.invoke("NightlyTeardown", event).payload
    assert (expiry["destroyed"], sorted(expiry["kept"])) == ({}, ["keeper", "plain"])
    assert (nightly["destroyed"], nightly["kept"]) == ({"plain": "nightly"}, ["keeper"])
    wait_status(rt, "plain", {Status.DELETED})


@pytest.mark.long
def test_the_nightly_run_hands_every_due_cluster_to_the_map_and_every_lambda_stays_short(
        rt: Runtime, stack: Any, capsys: Any) -> None:
    """The nightly Lambda reads the live index and starts one teardown execution; its
    Map starts every due cluster's destroy, 40 at a time (so 60 take two rounds). Each
    invocation is timed (the destroy machines' own steps are answered at once here: they
    are not under test). `make bench` section 8 runs it with 200 due."""
    due = 60
    for i in range(due):
        seed_record(rt, f"due-{i:03d}")
    seed_record(rt, "keeper", teardown="never")
    seconds: dict[str, list[float]] = {}

    def timed(name: str, event: Any, call: Any) -> Any:
        if name != "DestroyDue":
            return {}
        started = time.perf_counter()
        try:
            return call(event, None)
        finally:
            seconds.setdefault(name, []).append(time.perf_counter() - started)

    stack.router.interceptor = timed
    started = time.perf_counter()
    report = teardown.nightly(rt)
    nightly = time.perf_counter() - started
    assert len(report.destroyed) == due and report.kept == ["keeper"]
    [execution] = report.teardowns
    started = time.perf_counter()
    assert wait_execution(stack.clients, execution, timeout=600)["status"] == "SUCCEEDED"
    fan_out = time.perf_counter() - started
    statuses = {rt.registry.require(f"due-{i:03d}").status for i in range(due)}
    assert statuses <= {Status.DELETING, Status.DELETED}
    each = sorted(seconds["DestroyDue"])
    assert len(each) == due
    with capsys.disabled():
        print(f"\n  nightly Lambda {nightly:.2f} s for {due} due clusters; the Map started all "
              f"their destroys in {fan_out:.1f} s; DestroyDue median {each[due // 2]:.3f} s, "
              f"slowest {each[-1]:.3f} s (Lambda timeout 60 s)")

