"""A registry filled as a year of a team's use leaves it, written straight into the
table: ended records (DELETED, FAILED; their TTL set, already in the nightly history)
and live ones (READY, counted on their owners' quota counters). 25 records a
BatchWriteItem, not a transaction per record as the registry's intents write them:
tens of thousands in seconds. The scale benchmark (bench/registry_scale.py) and its
functional test (tests/functional/test_registry_scale.py) both seed with it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer

from chalicelib.core.models import ClusterRecord, ClusterSpec, Cost, Lease, Status
from chalicelib.core.registry import (
    QUOTA,
    ROLLED_UP,
    TTL_ATTRIBUTE,
    now,
    quota_key,
    record_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH = 25  # BatchWriteItem's most
_ser = TypeSerializer()


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items()}


def _record(record: ClusterRecord, **extra: Any) -> dict[str, Any]:
    """A record's item as the registry writes it, with `extra` attributes."""
    return {**record_item(record), **_item(extra)}


def spec(name: str, workers: int = 2) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": name, "workers": workers,
                                       "allowed_cidrs": ["10.1.0.0/16"]})


def write(dynamodb: DynamoDBClient, table: str, items: Iterable[dict[str, Any]]) -> int:
    """Put `items` (DynamoDB JSON), BATCH at a time, again until none is unprocessed;
    how many were written."""
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        requests: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in batch]}
        while requests:
            requests = dict(dynamodb.batch_write_item(RequestItems=requests)
                            .get("UnprocessedItems") or {})

    for item in items:
        batch.append(item)
        written += 1
        if len(batch) == BATCH:
            flush()
            batch = []
    if batch:
        flush()
    return written


def ended(dynamodb: DynamoDBClient, table: str, count: int, owners: Sequence[str],
          prefix: str = "ended", ended_days: int = 30) -> int:
    """`count` ended records named `<prefix>-<i>`, one in seven FAILED, the others
    DELETED, over `owners` in turn; each carries the TTL the registry gives it and the
    nightly history's mark (a night has rolled it up)."""
    at = now()
    expiry = int((at + timedelta(days=ended_days)).timestamp())
    return write(dynamodb, table, (
        _record(ClusterRecord(name=f"{prefix}-{i}", spec=spec(f"{prefix}-{i}"),
                              status=Status.DELETED if i % 7 else Status.FAILED,
                              owner=owners[i % len(owners)], created_at=at, updated_at=at,
                              cost=Cost(per_hour=0.5)),
                **{TTL_ATTRIBUTE: expiry, ROLLED_UP: at.date().isoformat()})
        for i in range(count)))


def live(dynamodb: DynamoDBClient, table: str, owners: Sequence[str], per_owner: int = 1,
         prefix: str = "live", workers: int = 1) -> list[str]:
    """`per_owner` READY records for each of `owners` (`<prefix>-<owner #>-<i>`), each
    counted on its owner's quota counter as a create counts it; their names."""
    at = now()
    names: list[str] = []
    items: list[dict[str, Any]] = []
    for n, owner in enumerate(owners):
        for i in range(per_owner):
            name = f"{prefix}-{n}-{i}"
            names.append(name)
            record = ClusterRecord(name=name, spec=spec(name, workers), status=Status.READY,
                                   owner=owner, created_at=at, updated_at=at, step="Ready",
                                   cost=Cost(per_hour=0.5), lease=Lease(counted=workers))
            items.append(_record(record))
        items.append(_item({"name": quota_key(owner), "status": QUOTA, "of": owner,
                            "clusters": per_owner, "workers": per_owner * workers}))
    write(dynamodb, table, items)
    return names
