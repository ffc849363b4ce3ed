"""Two stages in one AWS account: each stage's nightly teardown and sweep leaves the
other stage's clusters READY and untouched, while still sweeping its own orphans.

How the second stage is made: local mode deploys its own stage ("local") as always;
`LocalMode.add_stage("prod")` deploys a second one into the same emulator as a second
stack would go into the same account: its own tables, signing secrets, image build
project, functions, event rules and both state machines (the very ASL). In-process
Lambdas share os.environ, so prod's functions cannot get their stage from the
environment: the emulator's router runs them (the real handlers, steps and event
handler) with prod's Runtime, given per invocation (`runtime.serving`). So prod's
cluster is made by prod's create machine, its scheduler found by prod's event rule,
and prod's teardown is `teardown.nightly` called with prod's Runtime, as its scheduled
Lambda would. Resources are counted by listing each AWS service (inventory.leftovers),
never by trusting records or the tagging API."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import lifecycle, teardown
from chalicelib.core import naming
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import spec
from tests.support.waiting import eventually


def _orphan(rt: Runtime, vpc: str) -> str:
    """A security group the stage made for a cluster it no longer has."""
    names = rt.names("ghost")
    return str(rt.clients.ec2.create_security_group(
        GroupName=names.base(), Description="left behind", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group",
                            "Tags": naming.kv(names.tags())}])["GroupId"])


def _exists(rt: Runtime, group_id: str) -> bool:
    return bool(rt.clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-id", "Values": [group_id]}])["SecurityGroups"])


def _state(rt: Runtime, name: str) -> tuple[Status, list[str], list[tuple[str, str, int]]]:
    """A cluster as its stage sees it: its record's status, everything of it listed per
    AWS service, and each of its ECS services (name, status, running tasks)."""
    names = rt.names(name)
    found = rt.clients.ecs.describe_services(
        cluster=names.base(), services=[names.service(r) for r in ("scheduler", "worker")])
    services = sorted((s["serviceName"], s["status"], s["desiredCount"])
                      for s in found["services"])
    return (rt.registry.require(name).status,
            sorted(leftovers(rt.clients, name, rt.settings.stage)), services)


def test_each_stages_teardown_and_sweep_leave_the_other_stages_clusters(
        rt: Runtime, stack: LocalMode, reliability: Any) -> None:
    assert stack.clients is not None
    prod = stack.add_stage("prod")
    assert (rt.settings.stage, prod.settings.stage) == ("local", "prod")
    # The same cluster name in both stages, and one only local has.
    made = [lifecycle.create_cluster(rt, spec("analytics", workers=1, teardown="never"),
                                     caller=ALICE),
            lifecycle.create_cluster(rt, spec("etl", workers=1, teardown="never"), caller=ALICE),
            lifecycle.create_cluster(prod, spec("analytics", workers=1, teardown="never"),
                                     caller=ALICE)]
    for record in made:
        assert wait_execution(stack.clients, record.execution_arn)["status"] == "SUCCEEDED"
    stages = {"local": rt, "prod": prod}
    clusters = {"local": ["analytics", "etl"], "prod": ["analytics"]}
    before = {(stage, name): _state(stages[stage], name)
              for stage, names in clusters.items() for name in names}
    for (stage_name, name), (status, resources, services) in before.items():
        assert status == Status.READY and len(services) == 2, (stage_name, name)
        assert len(resources) >= 8, (stage_name, name, resources)  # all its kinds
    # Same name, nothing shared.
    assert not set(before["local", "analytics"][1]) & set(before["prod", "analytics"][1])
    vpc = stack.clients.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    orphans = {stage: _orphan(stages[stage], vpc) for stage in stages}

    # Both stages see each other's resources: same account, same managed tag.
    managed = {m["ResourceARN"] for m in stack.clients.tagging.get_resources(TagFilters=[
        {"Key": naming.TAG_MANAGED, "Values": ["true"]}])["ResourceTagMappingList"]}
    for stage in (rt, prod):
        cluster_arn = stack.clients.ecs.describe_clusters(
            clusters=[stage.names("analytics").base()])["clusters"][0]["clusterArn"]
        assert cluster_arn in managed

    exposed = kept = leaked = 0
    for own, other in (("local", "prod"), ("prod", "local")):
        report = teardown.nightly(stages[own])
        assert report.destroyed == {} and report.errors == {}, report
        assert sorted(report.kept) == clusters[own]
        assert list(report.swept) == ["ghost"], report.swept
        orphan, sweeper = orphans[own], stages[own]
        eventually(lambda: not _exists(sweeper, orphan), 60, interval=0.1,  # noqa: B023
                   what=f"{own}'s orphan swept")
        leaked += _exists(sweeper, orphan)
        # The other stage's orphan is for its own sweep (local's already ran when prod's does).
        assert _exists(stages[other], orphans[other]) == (own == "local")
        for name in clusters[other]:
            exposed += 1
            after = _state(stages[other], name)
            kept += after == before[other, name]
            assert after == before[other, name], (other, name)
        for name in clusters[own]:
            assert _state(stages[own], name) == before[own, name]

    # The stage is what keeps them apart: prod's sweep listing local's names (as a sweep
    # by the managed tag alone would) takes local's live "etl", which prod's registry
    # does not hold; the checks above would fail.
    unfiltered = teardown.orphans(replace(prod, settings=prod.settings.model_copy(
        update={"stage": rt.settings.stage})))
    assert "ECS cluster " + stack.clients.ecs.describe_clusters(
        clusters=[rt.names("etl").base()])["clusters"][0]["clusterArn"] in unfiltered.get(
        "etl", []), unfiltered
    reliability(exposed, kept, leaked)


def test_local_modes_own_stage_is_unchanged_by_a_second_one(rt: Runtime,
                                                            stack: LocalMode) -> None:
    """A second stage leaves local mode's environment, rules and functions as they were,
    and its functions run with its own stage; the next reset forgets it."""
    prod = stack.add_stage("prod")
    assert rt.settings.stage == "local" and prod.settings.stage == "prod"
    assert prod.settings.table == "daskyard-prod-clusters"
    # Each function runs with its stage's settings and, under IAM, its group's role.
    of_prod = stack.router.runtime_for("arn:aws:lambda:us-east-1:1:function:daskyard-prod-X")
    assert of_prod is not None and of_prod.settings is prod.settings
    of_local = stack.router.runtime_for("daskyard-local-X")  # the environment's
    assert of_local is None or of_local.settings.stage == "local"
    rules = {r["Name"]: r["EventPattern"] for r in stack.clients.events.list_rules()["Rules"]}
    assert "service:daskyard-local-" in rules["daskyard-local-OnEcsTaskStateChange"]
    assert "service:daskyard-prod-" in rules["daskyard-prod-OnEcsTaskStateChange"]
    assert "daskyard-local-" not in rules["daskyard-prod-OnEcsTaskStateChange"]
    stack.reset()
    assert stack.router.stages == {}
    assert "daskyard-prod-OnEcsTaskStateChange" not in {
        r["Name"] for r in stack.clients.events.list_rules()["Rules"]}
