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
    """Set `fields` on the record, whatever its status; a part's field by its path
    (`**{"cost.per_hour": Decimal("0.5")}`)."""
    names: dict[str, str] = {}
    sets = []
    for i, path in enumerate(fields):
        segments = []
        for j, segment in enumerate(path.split(".")):
            names[f"#f{i}_{j}"] = segment
            segments.append(f"#f{i}_{j}")
        sets.append(f"{'.'.join(segments)} = :v{i}")
    values = {f":v{i}": _ser.serialize(v) for i, v in enumerate(fields.values())}
    rt.clients.dynamodb.update_item(
        TableName=rt.settings.table, Key={"name": {"S": name}},
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names, ExpressionAttributeValues=values)
