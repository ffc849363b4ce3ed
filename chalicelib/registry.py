"""Cluster records in DynamoDB. Every write that must not race is a conditional write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.errors import ClusterExists, ClusterNotFound
from chalicelib.models import ClusterRecord, ClusterSpec, Notify, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_ser = TypeSerializer()
_de = TypeDeserializer()
# A name can be reused once its last cluster is gone.
REUSABLE = (Status.DELETED, Status.FAILED)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; we only store integers."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class Registry:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def create(self, spec: ClusterSpec, requested_by: str = "",
               notify: list[Notify] | None = None) -> ClusterRecord:
        """Record a new cluster as CREATING; a name exists once while it is live."""
        at = now()
        record = ClusterRecord(
            name=spec.name, status=Status.CREATING, step="Queued", spec=spec, created_at=at,
            updated_at=at, expires_at=at + timedelta(hours=spec.ttl_hours) if spec.ttl_hours
            else None, requested_by=requested_by, notify=notify or [])
        try:
            self.db.put_item(
                TableName=self.table, Item=_to_item(record.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(#n) OR #s IN (:deleted, :failed)",
                ExpressionAttributeNames={"#n": "name", "#s": "status"},
                ExpressionAttributeValues=_to_item({":deleted": Status.DELETED.value,
                                                    ":failed": Status.FAILED.value}))
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ClusterExists(f"cluster {spec.name!r} already exists") from exc
            raise
        return record

    def get(self, name: str) -> ClusterRecord | None:
        item = self.db.get_item(TableName=self.table, Key=_to_item({"name": name}),
                                ConsistentRead=True).get("Item")
        return ClusterRecord.model_validate(_from_item(item)) if item else None

    def require(self, name: str) -> ClusterRecord:
        record = self.get(name)
        if record is None:
            raise ClusterNotFound(f"no cluster named {name!r}")
        return record

    def list(self) -> list[ClusterRecord]:
        records = []
        for page in self.db.get_paginator("scan").paginate(TableName=self.table,
                                                            ConsistentRead=True):
            records += [ClusterRecord.model_validate(_from_item(i)) for i in page["Items"]]
        return sorted(records, key=lambda r: r.name)

    def update(self, name: str, condition: str | None = None,
               condition_values: dict[str, Any] | None = None,
               **fields: Any) -> ClusterRecord | None:
        """Set fields; returns the new record, or None when `condition` did not hold."""
        fields["updated_at"] = now().isoformat()
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": v for i, v in enumerate(fields.values())}
        values.update(condition_values or {})
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        cond = "attribute_exists(#n)" + (f" AND ({condition})" if condition else "")
        names["#n"] = "name"
        if condition and "#status" in condition:  # 'status' is a DynamoDB reserved word
            names["#status"] = "status"
        try:
            out = self.db.update_item(
                TableName=self.table, Key=_to_item({"name": name}), UpdateExpression=expr,
                ConditionExpression=cond, ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item(values), ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return ClusterRecord.model_validate(_from_item(out["Attributes"]))

    def begin_step(self, name: str, state: str, deadline: int) -> bool:
        """Mark `state` in flight until `deadline` (epoch seconds), only while the cluster
        is CREATING. False once a destroy or rollback has begun."""
        try:
            self.db.update_item(
                TableName=self.table, Key=_to_item({"name": name}),
                UpdateExpression="SET inflight.#s = :d, step = :s, updated_at = :t",
                ConditionExpression="#status = :creating",
                ExpressionAttributeNames={"#s": state, "#status": "status"},
                ExpressionAttributeValues=_to_item({
                    ":d": deadline, ":s": state, ":t": now().isoformat(),
                    ":creating": Status.CREATING.value}))
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def end_step(self, name: str, state: str) -> None:
        self.db.update_item(TableName=self.table, Key=_to_item({"name": name}),
                            UpdateExpression="REMOVE inflight.#s",
                            ExpressionAttributeNames={"#s": state})

    def record_resource(self, name: str, kind: str, value: Any) -> None:
        """Write a resource id the moment it exists, before the step returns."""
        self.db.update_item(
            TableName=self.table, Key=_to_item({"name": name}),
            UpdateExpression="SET resources.#k = :v, updated_at = :t",
            ExpressionAttributeNames={"#k": kind},
            ExpressionAttributeValues=_to_item({":v": value, ":t": now().isoformat()}))
