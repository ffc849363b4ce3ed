"""Give an adopted clusters table what the template gives a new one: the registry's
global secondary indexes and its TTL; and mark due for the nightly roll-up the ended
records that ended before its index (any table, after every deploy).

A stage whose stack was deleted keeps its clusters table (Retain) and the next
`make deploy` adopts it (ExistingClustersTable=true): CloudFormation then no longer
manages its settings, so a table made before the indexes has none, and every list, quota
and teardown Query would fail. `make deploy` runs this after the stack, every time; it
adds each missing index (DynamoDB builds one per UpdateTable, filling it from
the items already there) and turns the TTL on. Idempotent.

    python -m deploy.registry_indexes STAGE
"""

from __future__ import annotations

import sys
import time
from typing import Any

from chalicelib.core import registry
from chalicelib.core.aws import Clients
from chalicelib.core.settings import Settings


def _active(dynamodb: Any, table: str, index: str) -> bool:
    described = dynamodb.describe_table(TableName=table)["Table"]
    return any(i["IndexName"] == index and i.get("IndexStatus", "ACTIVE") == "ACTIVE"
               for i in described.get("GlobalSecondaryIndexes", []))


def ensure(dynamodb: Any, table: str, poll: float = 15.0) -> list[str]:
    """What was added to `table` (index names, "ttl"), waiting for each index to be
    ACTIVE before the next (DynamoDB takes one index creation at a time)."""
    schema = registry.schema()
    described = dynamodb.describe_table(TableName=table)["Table"]
    have = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
    added = []
    for index in schema["GlobalSecondaryIndexes"]:
        if index["IndexName"] in have:
            continue
        keys = {k["AttributeName"] for k in index["KeySchema"]}
        dynamodb.update_table(
            TableName=table, GlobalSecondaryIndexUpdates=[{"Create": index}],
            AttributeDefinitions=[a for a in schema["AttributeDefinitions"]
                                  if a["AttributeName"] in keys])
        while not _active(dynamodb, table, index["IndexName"]):
            time.sleep(poll)
        added.append(index["IndexName"])
    added += backfill_roll_up(dynamodb, table)
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={
            "AttributeName": registry.TTL_ATTRIBUTE, "Enabled": True})
        added.append("ttl")
    return added


def backfill_roll_up(dynamodb: Any, table: str) -> list[str]:
    """Marks due the ended records that ended before the roll-up index existed and are
    not rolled up yet, so the nightly run still adds them to the history (once; a deploy
    tool's reads of the ended partitions, never a request's)."""
    marked = 0
    for status in sorted(registry.ENDED):
        for page in dynamodb.get_paginator("query").paginate(
                TableName=table, IndexName=registry.STATUS_INDEX,
                KeyConditionExpression="#s = :s",
                FilterExpression="attribute_not_exists(#r) AND attribute_not_exists(#d)",
                ExpressionAttributeNames={"#s": "status", "#r": registry.ROLLED_UP,
                                          "#d": registry.TO_ROLL_UP},
                ExpressionAttributeValues={":s": {"S": status.value}}):
            for item in page["Items"]:
                try:
                    dynamodb.update_item(
                        TableName=table, Key={"name": item["name"]},
                        UpdateExpression="SET #d = :due",
                        ConditionExpression="attribute_not_exists(#r)",
                        ExpressionAttributeNames={"#d": registry.TO_ROLL_UP,
                                                  "#r": registry.ROLLED_UP},
                        ExpressionAttributeValues={":due": {"S": registry.DUE}})
                    marked += 1
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    pass  # rolled up meanwhile
    return [f"{marked} ended records due for the roll-up"] if marked else []


def main(argv: list[str]) -> None:
    [stage] = argv
    table = Settings(stage=stage).table
    added = ensure(Clients().dynamodb, table)
    print(f"{table}: added {', '.join(added)}" if added else f"{table}: nothing to add")


if __name__ == "__main__":
    main(sys.argv[1:])
