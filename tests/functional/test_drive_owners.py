"""Named drives have owners, through the routes as the local API serves them (SigV4
checked against the emulator's IAM): the first create naming a drive makes its caller
the owner; anyone else naming it is refused with a 403 that says no more than that,
and nothing is made; the owner shares it with principals by name (and takes the share
back); each owner's clusters get an access point of their own root on it; the drive's
file system policy lets the stage's task role in through an access point only."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.naming import TAG_CLUSTER, Names
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode, wait_execution
from deploy import drive_owners
from tests.support.callers import ALICE, BOB
from tests.support.clusters import spec
from tests.support.signed import SignedHttp
from tests.support.waiting import eventually

JSON = {"Content-Type": "application/json"}


def post(http: SignedHttp, name: str, drive: str = "team") -> Any:
    body = {"name": name, "workers": 1, "allowed_cidrs": ["10.1.0.0/16"], "drive": drive}
    return http.post("/clusters", headers=JSON, body=json.dumps(body))


def share(http: SignedHttp, drive: str, principals: list[str]) -> Any:
    return http.put(f"/drives/{drive}/shares", headers=JSON,
                    body=json.dumps({"principals": principals}))


def executions(clients: Clients, arn: str) -> int:
    return len(clients.sfn.list_executions(stateMachineArn=arn)["executions"])


def made(clients: Clients, answer: Any) -> None:
    """The create ran to its end (its drive's access point made)."""
    assert answer.status_code == 202, answer.body
    execution = wait_execution(clients, json.loads(answer.body)["execution_arn"])
    assert execution["status"] == "SUCCEEDED", execution


def roots(rt: Runtime, clients: Clients, drive: str) -> dict[str, str]:
    """cluster -> its access point's root on the named drive."""
    (fs,) = clients.efs.describe_file_systems(
        CreationToken=Names(rt.settings.stage, "x").drive(drive))["FileSystems"]
    points = clients.efs.describe_access_points(FileSystemId=fs["FileSystemId"])
    return {tag["Value"]: point["RootDirectory"]["Path"]
            for point in points["AccessPoints"] for tag in point.get("Tags", [])
            if tag["Key"] == TAG_CLUSTER}


def test_only_the_owner_and_whom_they_share_with_name_a_drive(
        http: SignedHttp, rt: Runtime, clients: Clients) -> None:
    alice, bob, carol = http.as_user("alice"), http.as_user("bob"), http.as_user("carol")
    made(clients, post(alice, "a-one"))
    assert rt.drives.get("team") is not None
    assert rt.drives.get("team").owner == alice.owner  # type: ignore[union-attr]
    creates = executions(clients, rt.settings.create_state_machine_arn)

    # Bob may not name it: 403, saying neither whose it is nor whom it is shared with;
    # no record, no execution; the drive's record unchanged.
    refused = post(bob, "b-one")
    assert refused.status_code == 403, refused.body
    body = json.loads(refused.body)
    assert body["code"] == "DriveForbidden" and body["error"].startswith("drive:")
    assert b"alice" not in refused.body
    assert rt.registry.get("b-one") is None
    assert executions(clients, rt.settings.create_state_machine_arn) == creates
    # Its shares are the owner's to see and change: to Bob, no such drive.
    assert bob.get("/drives/team").status_code == 404
    assert share(bob, "team", [bob.owner]).status_code == 404
    assert json.loads(alice.get("/drives/team").body)["shares"] == []

    # Shared with Bob (by name, exactly): Bob's create goes ahead; Carol's does not.
    shared = share(alice, "team", [bob.owner])
    assert shared.status_code == 200, shared.body
    assert json.loads(shared.body)["shares"] == [bob.owner]
    made(clients, post(bob, "b-one"))
    assert post(carol, "c-one").status_code == 403
    # The admin (the http fixture's signer) may name it, and see and change its shares.
    made(clients, post(http, "admins"))
    assert json.loads(http.get("/drives/team").body)["owner"] == alice.owner

    # Each owner's clusters have a root of their own on the drive; the owner's stay.
    found = roots(rt, clients, "team")
    assert found == {"a-one": Names.drive_root(alice.owner), "b-one": Names.drive_root(bob.owner),
                     "admins": Names.drive_root(http.owner)}
    assert len(set(found.values())) == 3

    # The share taken back: Bob is refused again.
    assert share(alice, "team", []).status_code == 200
    assert post(bob, "b-two").status_code == 403
    assert rt.registry.get("b-two") is None


def test_a_drive_of_nobody_yet_is_its_first_creators(
        http: SignedHttp, rt: Runtime) -> None:
    """Another owner's drive name is taken; a new one is the caller's, whoever else
    owns drives."""
    alice, bob = http.as_user("alice"), http.as_user("bob")
    assert post(alice, "a-one", drive="alices").status_code == 202
    assert post(bob, "b-one", drive="bobs").status_code == 202
    assert {d: rt.drives.get(d).owner for d in ("alices", "bobs")} == {  # type: ignore[union-attr]
        "alices": alice.owner, "bobs": bob.owner}
    assert http.get("/drives/nothing").status_code == 404


def test_concurrent_first_creates_make_one_owner(rt: Runtime) -> None:
    go = threading.Barrier(4)
    owners: list[str] = []

    def claim(i: int) -> None:
        go.wait()
        owners.append(rt.drives.claim("contested", f"arn:aws:iam::123456789012:user/u{i}").owner)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(owners) == 4 and len(set(owners)) == 1
    assert rt.drives.get("contested").owner == owners[0]  # type: ignore[union-attr]


def test_shares_are_checked_before_anything_changes(http: SignedHttp, rt: Runtime) -> None:
    alice = http.as_user("alice")
    assert post(alice, "a-one").status_code == 202
    for bad, field in ((["bob"], "principals"), ([""], "principals"),
                       (["arn:aws:iam::123456789012:user/bob\n"], "principals"),
                       ([f"webhook:k{i}" for i in range(51)], "principals"),
                       ("webhook:ci", "principals")):
        answer = share(alice, "team", bad)  # type: ignore[arg-type]
        assert answer.status_code == 400, (bad, answer.body)
        assert json.loads(answer.body)["error"].startswith(field), answer.body
    answer = alice.put("/drives/team/shares", headers=JSON, body="{}")
    assert answer.status_code == 400 and "principals" in json.loads(answer.body)["error"]
    assert alice.put("/drives/Team/shares", headers=JSON,
                     body=json.dumps({"principals": []})).status_code == 400
    assert rt.drives.get("team").shares == []  # type: ignore[union-attr]
    # Listed once, in order, whatever the request repeated.
    answer = share(alice, "team", ["webhook:ci", "slack:T1/U2", "webhook:ci"])
    assert json.loads(answer.body)["shares"] == ["slack:T1/U2", "webhook:ci"]


def test_a_named_drive_admits_the_task_role_through_access_points_only(
        http: SignedHttp, rt: Runtime, clients: Clients) -> None:
    made(clients, post(http, "one"))
    (fs,) = clients.efs.describe_file_systems(
        CreationToken=Names(rt.settings.stage, "x").drive("team"))["FileSystems"]
    policy = json.loads(clients.efs.describe_file_system_policy(
        FileSystemId=fs["FileSystemId"])["Policy"])
    allow, *denies = policy["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": rt.settings.task_role_arn}
    assert sorted(allow["Action"]) == ["elasticfilesystem:ClientMount",
                                       "elasticfilesystem:ClientWrite"]
    assert allow["Resource"] == fs["FileSystemArn"]
    assert allow["Condition"]["StringLike"]["elasticfilesystem:AccessPointArn"] == \
        fs["FileSystemArn"].split(":file-system/")[0] + ":access-point/*"
    assert allow["Condition"]["Bool"] == {
        "aws:SecureTransport": "true", "elasticfilesystem:AccessedViaMountTarget": "true"}
    assert [d["Condition"] for d in denies] == [
        {"Null": {"elasticfilesystem:AccessPointArn": "true"}},
        {"Bool": {"aws:SecureTransport": "false"}}]


def test_local_efs_refuses_a_mount_of_the_drive_above_the_owners_folders(
        http: SignedHttp, rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    """As EFS does under the drive's policy (local mode asks the IAM evaluator with the
    task role's policies and the file system's): a task whose volume mounts the drive
    without an access point (its root, every owner's folder), as a workers service
    pointed at another task definition would, does not start; one through the
    cluster's access point does."""
    assert stack.iam is not None and stack.agent is not None, "local IAM is off"
    made(clients, post(http, "one"))
    names, record = Names(rt.settings.stage, "one"), rt.registry.require("one")
    definition = clients.ecs.describe_task_definition(
        taskDefinition=record.resources.task_definitions["worker"])["taskDefinition"]
    keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory",
            "executionRoleArn", "taskRoleArn", "containerDefinitions", "volumes")
    clone = {k: definition[k] for k in keep}
    volume = clone["volumes"][0]["efsVolumeConfiguration"]
    assert volume["authorizationConfig"]["accessPointId"]
    del volume["authorizationConfig"]["accessPointId"]
    rootward = clients.ecs.register_task_definition(**clone)["taskDefinition"]
    cluster, service = record.resources.ecs_cluster, names.service("worker")
    denied = stack.iam.decisions["ExplicitlyDenied"]  # the policy's deny, not an error
    clients.ecs.update_service(cluster=cluster, service=service,
                               taskDefinition=rootward["taskDefinitionArn"], desiredCount=2)

    def refused() -> dict[str, Any] | None:
        return next((e for e in stack.agent.events  # type: ignore[union-attr]
                     if e["taskDefinitionArn"] == rootward["taskDefinitionArn"]
                     and e["lastStatus"] == "STOPPED"), None)

    stopped = eventually(refused, 30, what="the root mount refused")
    assert "access denied by server" in stopped["stoppedReason"]
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stack.iam.decisions["ExplicitlyDenied"] > denied
    # Through the access point, it starts.
    clients.ecs.update_service(cluster=cluster, service=service,
                               taskDefinition=record.resources.task_definitions["worker"],
                               desiredCount=2)
    eventually(lambda: len(stack.agent.running(service)) == 2, 30,  # type: ignore[union-attr]
               what="two workers through the access point")


def test_drives_from_before_owners_get_the_owner_their_clusters_had(
        rt: Runtime, clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    """deploy.drive_owners: a drive one owner's clusters named is adopted by that owner;
    one several owners named waits for the operator; listing changes nothing."""
    stage = rt.settings.stage
    for drive in ("old", "mixed", "forgotten"):
        clients.efs.create_file_system(
            CreationToken=Names(stage, "x").drive(drive), Encrypted=True,
            Tags=naming.kv(naming.tags(stage, None, **{naming.TAG_DRIVE: drive})))
    for name, drive, owner in (("one", "old", ALICE), ("two", "mixed", ALICE),
                               ("three", "mixed", BOB), ("four", "old", ALICE)):
        rt.registry.create(spec(name, drive=drive), owner.id, [], f"arn:x:{name}")

    assert drive_owners.main([stage]) == 0
    assert [rt.drives.get(d) for d in ("old", "mixed", "forgotten")] == [None] * 3
    listed = {line.split(":", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert ALICE.id in listed["mixed"] and BOB.id in listed["mixed"]
    assert listed["forgotten"] == "forgotten: no owner; named by no live record"
    assert drive_owners.main([stage, "--adopt"]) == 1  # two still wait
    assert rt.drives.get("old").owner == ALICE.id  # type: ignore[union-attr]
    assert rt.drives.get("mixed") is None
    assert drive_owners.main([stage, "--owner", f"mixed={BOB.id}",
                              "--owner", f"forgotten={ALICE.id}"]) == 0
    assert rt.drives.get("mixed").owner == BOB.id  # type: ignore[union-attr]
    assert rt.drives.get("forgotten").owner == ALICE.id  # type: ignore[union-attr]
    assert drive_owners.main(["no-such-stage!"]) == 2
