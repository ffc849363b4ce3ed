"""Who may name a drive, whom it can be shared with, where each owner's clusters are on
it and what its file system policy admits: the rules, without an emulator."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.core.identity import Caller
from chalicelib.core.models import MAX_SHARES, DriveShares
from chalicelib.core.naming import Names
from chalicelib.steps.establish_shared_drive import drive_policy

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
CAROL = "arn:aws:iam::123456789012:user/carol"


@pytest.mark.parametrize(("caller", "allowed"), [
    (Caller(ALICE), True),  # the owner
    (Caller(BOB), True),  # shared with
    (Caller(CAROL), False),  # neither
    (Caller(CAROL, admin=True), True),  # an admin
    (Caller(""), False),  # no caller is no one's
    (Caller("arn:aws:iam::123456789012:user/bo"), False),  # a prefix is not the name
])
def test_the_owner_whom_they_share_with_and_admins_may_name_a_drive(
        caller: Caller, allowed: bool) -> None:
    assert caller.may_use(ALICE, [BOB]) is allowed


def test_a_drive_of_no_owner_is_nobodys_but_admins() -> None:
    assert not Caller(ALICE).may_use("", [])
    assert Caller(ALICE, admin=True).may_use("", [])


@pytest.mark.parametrize("principal", [
    ALICE, "arn:aws:sts::123456789012:assumed-role/team/alice", "slack:T0123/U0456",
    "webhook:ci", "arn:aws-us-gov:iam::123456789012:role/path/to/role"])
def test_shares_name_callers_as_they_are_owners(principal: str) -> None:
    assert DriveShares.model_validate({"principals": [principal]}).principals == [principal]


@pytest.mark.parametrize("principal", [
    "alice", "", "*", "arn:aws:iam::*:user/alice", "arn:aws:iam::123456789012:user/*",
    f"{ALICE}\n", f" {ALICE}", "slack:t0123/u0456", "slack:T0123", "webhook:",
    "webhook:a b", "arn:aws:s3:::bucket", 7])
def test_a_share_names_one_principal_exactly(principal: object) -> None:
    with pytest.raises(ValidationError):
        DriveShares.model_validate({"principals": [principal]})


def test_shares_are_bounded_and_listed_once() -> None:
    with pytest.raises(ValidationError):
        DriveShares.model_validate({"principals": [f"webhook:k{i}"
                                                   for i in range(MAX_SHARES + 1)]})
    with pytest.raises(ValidationError):
        DriveShares.model_validate({"principals": [BOB], "owner": BOB})  # no other field
    assert DriveShares.model_validate({"principals": [BOB, ALICE, BOB]}).principals == \
        [ALICE, BOB]


def test_each_owner_has_a_root_of_their_own() -> None:
    roots = {Names.drive_root(owner) for owner in (ALICE, BOB, "slack:T1/U1", "webhook:ci")}
    assert len(roots) == 4
    for root in roots:
        assert root.startswith("/owners/") and root.count("/") == 2 and ".." not in root
    assert Names.drive_root(ALICE) == Names.drive_root(ALICE)  # stable across creates


def test_the_policy_admits_the_task_role_through_access_points_over_tls_only() -> None:
    fs = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123"
    role = "arn:aws:iam::123456789012:role/daskyard-dev-task"
    allow, above, tls = json.loads(drive_policy(fs, role))["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] == {"AWS": role}
    assert allow["Resource"] == fs
    assert "elasticfilesystem:ClientRootAccess" not in allow["Action"]
    assert allow["Condition"] == {
        "Bool": {"aws:SecureTransport": "true",
                 "elasticfilesystem:AccessedViaMountTarget": "true"},
        "StringLike": {"elasticfilesystem:AccessPointArn":
                       "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/*"}}
    # The task role's own policy allows it every drive of the stage, and EFS takes the
    # union of the two: only explicit denies, for everyone, keep it to access points.
    for deny in (above, tls):
        assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
        assert deny["Resource"] == fs
        assert set(deny["Action"]) == {"elasticfilesystem:ClientMount",
                                       "elasticfilesystem:ClientWrite",
                                       "elasticfilesystem:ClientRootAccess"}
    assert above["Condition"] == {"Null": {"elasticfilesystem:AccessPointArn": "true"}}
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
