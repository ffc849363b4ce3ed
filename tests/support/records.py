"""Arrange a cluster record directly, as a test's starting point (no intent of the
registry's puts a record into an arbitrary state, on purpose)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer

from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime

_ser = TypeSerializer()


def make(rt: Runtime, spec: ClusterSpec, **fields: Any) -> None:
    """A record for `spec` (CREATING, no execution), then `fields` set on it."""
    rt.registry.create(spec, "test", [], "")
    if fields:
        force(rt, spec.name, **fields)


def force(rt: Runtime, name: str, **fields: Any) -> None:
    """Set `fields` on the record, whatever its status."""
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": _ser.serialize(v) for i, v in enumerate(fields.values())}
    rt.clients.dynamodb.update_item(
        TableName=rt.settings.table, Key={"name": {"S": name}},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names, ExpressionAttributeValues=values)
