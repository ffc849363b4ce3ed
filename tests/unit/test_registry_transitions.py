"""The registry's transition table (chalicelib.core.registry.TRANSITIONS) and the
conditional writes built from it, with a stand-in for DynamoDB."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.core.errors import ClusterBusy
from chalicelib.core.models import Status
from chalicelib.core.registry import ANY, REUSABLE, TRANSITIONS, Registry

S = Status
BUILDING = ("begin_step", "await_images", "await_scheduler")


def starts(intent: str) -> frozenset[Status]:
    return TRANSITIONS[intent][0]


def sets(intent: str) -> Status | None:
    return TRANSITIONS[intent][1]


def test_only_mark_ready_makes_a_cluster_ready_and_only_from_creating() -> None:
    assert [i for i in TRANSITIONS if sets(i) == S.READY] == ["mark_ready"]
    assert starts("mark_ready") == {S.CREATING}


@pytest.mark.parametrize("intent", BUILDING)
def test_nothing_is_built_once_a_destroy_or_rollback_began(intent: str) -> None:
    assert starts(intent) == {S.CREATING}
    assert sets(intent) is None


def test_a_destroy_request_never_comes_from_deleting_or_deleted() -> None:
    assert starts("request_destroy").isdisjoint({S.DELETING, S.DELETED})
    assert starts("request_destroy") == {S.CREATING, S.READY, S.FAILED, S.DELETE_FAILED}
    assert sets("request_destroy") == S.DELETING


def test_a_rollback_only_of_a_live_create() -> None:
    assert starts("begin_rollback") == {S.CREATING, S.READY}
    assert sets("begin_rollback") == S.DELETING


def test_finish_from_deleting_or_from_a_final_mark_its_execution_then_failed() -> None:
    # A destroy (or rollback) failing after its final mark must say so: DELETE_FAILED.
    assert starts("finish") == {S.DELETING, S.DELETED, S.FAILED}


def test_only_a_destroy_machine_leaves_deleted() -> None:
    # settle runs first in every destroy (the sweeper's too), whatever the status; finish
    # is that machine's last mark, or its failure after that mark.
    assert {i for i in TRANSITIONS if S.DELETED in starts(i)} == {"settle", "finish"}
    assert starts("settle") == ANY and sets("settle") == S.DELETING


def test_scaling_only_a_ready_cluster_and_reusing_only_a_gone_name() -> None:
    assert starts("scale") == {S.READY} and sets("scale") is None
    assert {S.DELETED, S.FAILED} == REUSABLE


def test_only_finish_ends_a_destroy_and_with_the_status_its_caller_gives() -> None:
    assert sets("finish") is None
    assert {sets(i) for i in TRANSITIONS}.isdisjoint({S.CREATING, S.DELETED, S.DELETE_FAILED})


class DynamoDB:
    """Records update_item calls; answers with `item`, or fails the condition."""

    def __init__(self, item: dict[str, Any] | None = None, fail: bool = False) -> None:
        self.item, self.fail, self.updates = item, fail, []  # type: ignore[var-annotated]

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        if self.fail:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}},
                              "UpdateItem")
        return {"Attributes": self.item}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {"Item": self.item} if self.item else {}


def item(status: Status) -> dict[str, Any]:
    return {"name": {"S": "demo"}, "status": {"S": status.value},
            "spec": {"M": {"name": {"S": "demo"}}},
            "created_at": {"S": "2026-11-26T10:00:00+00:00"},
            "updated_at": {"S": "2026-11-26T10:00:00+00:00"}}


def spelled(update: dict[str, Any]) -> str:
    """The update's condition with its placeholders spelled out."""
    text = update["ConditionExpression"]
    for key in sorted(update["ExpressionAttributeNames"], key=len, reverse=True):
        text = text.replace(key, update["ExpressionAttributeNames"][key])
    for key in sorted(update["ExpressionAttributeValues"], key=len, reverse=True):
        if key in text:
            text = text.replace(key, repr(update["ExpressionAttributeValues"][key]["S"]))
    return text


def test_mark_ready_is_a_write_conditional_on_creating() -> None:
    db = DynamoDB(item(S.READY))
    record = Registry(db, "clusters").mark_ready("demo")
    assert record is not None and record.status == S.READY
    [update] = db.updates
    assert spelled(update) == "(attribute_exists(record_version) AND status IN ('CREATING'))"
    assert {"S": "READY"} in update["ExpressionAttributeValues"].values()


def test_a_request_destroy_lists_every_allowed_status_in_its_condition() -> None:
    db = DynamoDB(item(S.DELETING))
    Registry(db, "clusters").request_destroy("demo", None, "arn")
    [update] = db.updates
    assert spelled(update) == "(attribute_exists(record_version) AND status IN " \
                              "('CREATING', 'DELETE_FAILED', 'FAILED', 'READY'))"


def test_a_failed_condition_is_no_transition() -> None:
    registry = Registry(DynamoDB(item(S.DELETING), fail=True), "clusters")
    assert registry.mark_ready("demo") is None
    with pytest.raises(ClusterBusy, match="is no longer being created"):
        registry.steps.begin("demo", "StartWorkers", 0)
    with pytest.raises(ClusterBusy, match="already being deleted"):
        registry.request_destroy("demo", None, "arn")


def test_a_second_destroy_of_a_deleted_cluster_says_so() -> None:
    registry = Registry(DynamoDB(item(S.DELETED), fail=True), "clusters")
    with pytest.raises(ClusterBusy, match="is already deleted"):
        registry.request_destroy("demo", None, "arn")


def test_settle_has_no_status_condition() -> None:
    db = DynamoDB(item(S.DELETING))
    Registry(db, "clusters").settle("demo", "MarkDeleting")
    [update] = db.updates
    assert spelled(update) == "attribute_exists(record_version)"
