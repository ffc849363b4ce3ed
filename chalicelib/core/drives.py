"""Named drives' records in DynamoDB, a table of their own: who owns each drive (the
caller whose create first named it) and whom the owner shares it with. Who may name a
drive is decided from these (lifecycle.claim_drive), before anything is created."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.core.models import DriveRecord
from chalicelib.core.registry import _conditional_failure, _de, _plain, _to_item, now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _drive(item: dict[str, Any]) -> DriveRecord:
    return DriveRecord.model_validate({k: _plain(_de.deserialize(v)) for k, v in item.items()})


class Drives:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def get(self, name: str) -> DriveRecord | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=_to_item({"name": name}),
                                      ConsistentRead=True).get("Item")
        return _drive(item) if item else None

    def claim(self, name: str, owner: str) -> DriveRecord:
        """The drive's record, written with `owner` as its owner if it has none yet: of
        two creates naming a new drive at once, one owns it and the other is checked
        against that owner like anyone else."""
        at = now()
        record = DriveRecord(name=name, owner=owner, created_at=at, updated_at=at)
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=_to_item(record.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": "name"})
            return record
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        found = self.get(name)
        assert found is not None  # nosec B101  # drive records are never deleted
        return found

    def share(self, name: str, owner: str, principals: list[str]) -> DriveRecord | None:
        """Replace whom the drive is shared with; None unless `owner` owns it (the owner
        never changes, the condition makes the check and the write one)."""
        try:
            out = self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": name}),
                UpdateExpression="SET shares = :s, updated_at = :u",
                ConditionExpression="attribute_exists(#n) AND #o = :o",
                ExpressionAttributeNames={"#n": "name", "#o": "owner"},
                ExpressionAttributeValues=_to_item({":s": principals, ":o": owner,
                                                    ":u": now().isoformat()}),
                ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _drive(out["Attributes"])
