"""Each row of the resource-kind table (chalicelib/core/resources.py) holds: a real create
in local mode makes the kind (an EC2 cluster with a notebook makes every kind; a Fargate
one none of the EC2-only kinds) in the states the row names, the sweep finds it (with
the teardown Lambda's own role, under local IAM) once its cluster has no live record,
the leftover listing finds it, the destroy removes it in the states the row names, and
the policies the row names allow its actions, asked of local IAM's evaluator, while the
same actions on another stage's are not allowed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import teardown
from chalicelib.core import resources
from chalicelib.core.aws import Clients
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime, runtime
from chalicelib.steps.table import step_of
from daskyard.local.deploy import STAGE
from daskyard.local.iam import Principal
from daskyard.local.iam_requests import IamRequest, resource_types
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode
from deploy.policies import render
from tests.support.clusters import create, destroy, exited
from tests.support.policy import UNSCOPABLE

CLUSTER, FARGATE = "kinds", "plain"
OTHER_STAGE = "prod"
# One worker runs these, one after another: `made` (two creates, one of them EC2, 3 s) is
# then made once, where each worker handed one, between other modules' tests, made it
# again (nine times in a run of `make test-fast`).
pytestmark = pytest.mark.xdist_group("resource_kinds")


@dataclass
class Made:
    """What the creates, the sweep and the destroy left to check, by kind."""

    made: dict[str, list[resources.Found]]  # each kind's own listing after the creates
    after: dict[str, list[resources.Found]]  # and after the EC2 cluster's destroy
    listed: list[str]  # daskyard.local.inventory.leftovers of the EC2 cluster
    swept: dict[str, list[str]]  # the teardown role's sweep with its record gone
    create_states: set[str]
    destroy_states: set[str]
    stack: LocalMode
    rt: Runtime


def by_kind(clients: Clients) -> dict[str, list[resources.Found]]:
    return {kind.name: resources.find(clients, STAGE, [kind]) for kind in resources.KINDS}


@pytest.fixture(scope="module")
def made(local_mode: LocalMode) -> Iterator[Made]:
    local_mode.reset()
    rt = runtime()
    clients = local_mode.clients
    assert clients is not None and local_mode.iam is not None, "local mode runs with IAM"
    created = create(rt, local_mode, CLUSTER, launch_type="EC2", notebook=True)
    assert created["status"] == "SUCCEEDED", created
    assert create(rt, local_mode, FARGATE)["status"] == "SUCCEEDED"
    found = by_kind(clients)
    listed = leftovers(clients, CLUSTER)
    # The sweep takes what no live record claims: the record goes for the while.
    table, key = rt.settings.table, {"name": {"S": CLUSTER}}
    item = clients.dynamodb.get_item(TableName=table, Key=key)["Item"]
    clients.dynamodb.delete_item(TableName=table, Key=key)
    try:
        teardown_rt = local_mode.router.runtime_for(f"daskyard-{STAGE}-NightlyTeardown")
        assert teardown_rt is not None
        swept = teardown.orphans(teardown_rt)
    finally:
        clients.dynamodb.put_item(TableName=table, Item=item)
    destroyed = destroy(rt, local_mode, CLUSTER)
    assert destroyed["status"] == "SUCCEEDED", destroyed
    yield Made(found, by_kind(clients), listed, swept,
               exited(clients, created["executionArn"]),
               exited(clients, destroyed["executionArn"]), local_mode, rt)
    assert destroy(rt, local_mode, FARGATE)["status"] == "SUCCEEDED"


def context(names: Names, boundary: str) -> dict[str, Any]:
    """The request as the steps make it: the cluster's tags on the request and on the
    resource, and the stage's permissions boundary on a role."""
    tags = names.tags()
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()},
            **{f"aws:ResourceTag/{k}": v for k, v in tags.items()},
            "aws:TagKeys": sorted(tags), "iam:PermissionsBoundary": boundary}


def ids(found: list[resources.Found], cluster: str = CLUSTER) -> set[str]:
    return {f.id for f in found if f.cluster == cluster}


@pytest.mark.parametrize("kind", resources.KINDS, ids=[k.name for k in resources.KINDS])
def test_each_kind_is_made_swept_listed_destroyed_and_allowed(made: Made,
                                                             kind: resources.Kind) -> None:
    stack, clients = made.stack, made.stack.clients
    assert clients is not None and stack.iam is not None
    # Made by the create, in the states the row names (each a state of the step table).
    assert {step_of(state).state for state in kind.creates} <= made.create_states
    mine = ids(made.made[kind.name])
    assert mine, f"the create made no {kind.name}"
    # A Fargate cluster has it only if the row says every launch type has it.
    assert bool(ids(made.made[kind.name], FARGATE)) == (kind.launch_types is None), kind.name
    # Found by the sweep (with the teardown Lambda's role) and by the leftover listing.
    labelled = {f"{kind.label} {i}" for i in mine}
    assert labelled <= set(made.swept.get(CLUSTER, [])), (labelled, made.swept)
    assert labelled <= set(made.listed), (labelled, made.listed)
    # Gone after the destroy, which ran the states the row names.
    assert {step_of(state).state for state in kind.deletes} <= made.destroy_states
    assert not ids(made.after[kind.name]), made.after[kind.name]
    # Its actions are allowed by its makers' policies, and not on another stage's.
    iam, account, region = stack.iam, stack.iam.account, clients.region
    own, other = Names(STAGE, CLUSTER), Names(OTHER_STAGE, CLUSTER)
    boundary = made.rt.settings.scheduler_role_boundary_arn
    sample = sorted(mine)[0]
    theirs = kind.derived(other, region) if kind.derived else sample
    for group, actions in kind.actions.items():
        role = f"daskyard-{STAGE}-{group}"
        principal = Principal(f"arn:aws:sts::{account}:assumed-role/{role}/{group}", "role",
                              role)
        policy = render(group, STAGE)
        for action in actions:
            # An action AWS authorizes on no resource type is asked for on `*`.
            arn = kind.arn(own, region, account, sample) if resource_types(action) else "*"
            request = IamRequest(action, arn, context(own, boundary))
            assert iam.decide(principal, request, [policy]) == "Allowed", (group, request)
            if arn == "*" or action in UNSCOPABLE:  # AWS scopes these to nothing narrower
                continue
            stranger = IamRequest(action, kind.arn(other, region, account, theirs), context(
                other, boundary.replace(f"-{STAGE}-", f"-{OTHER_STAGE}-")))
            assert iam.decide(principal, stranger, [policy]) != "Allowed", (group, stranger)
