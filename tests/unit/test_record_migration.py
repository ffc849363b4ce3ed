"""Records stored before ClusterRecord was nested (tests/fixtures/flat_records.json,
written by that code's registry) read with every value in its part, answer the API as
they did, and the first write to one rewrites it in the nested shape, keeping every
value byte for byte, before it writes what it meant to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws
from pydantic import TypeAdapter

from chalicelib.core.errors import ClusterBusy
from chalicelib.core.models import FLAT, PARTS, RECORD_VERSION, Resources
from chalicelib.core.registry import Query, Registry, _plain, schema
from tests.support.clusters import spec
from tests.support.data import fixture_json

FIXTURE = fixture_json("flat_records.json")
ITEMS = {item["name"]["S"]: item for item in FIXTURE["items"]}
CLUSTERS = sorted(FIXTURE["public"])
OWNER = "AIDAEXAMPLEOWNER0001"
_de = TypeDeserializer()


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A table holding the fixture's items as they were stored (counter and history too)."""
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(TableName="clusters", BillingMode="PAY_PER_REQUEST", **schema())
        for item in ITEMS.values():
            db.put_item(TableName="clusters", Item=item)
        yield Registry(db, "clusters")


def raw(registry: Registry, name: str) -> dict[str, Any]:
    return dict(registry.dynamodb.get_item(TableName="clusters", Key={"name": {"S": name}},
                                           ConsistentRead=True)["Item"])


def nested(item: dict[str, Any], part: str, field: str) -> Any:
    return item[part]["M"].get(field)


def test_the_fixture_is_the_flat_shape_with_every_part_and_case() -> None:
    """What the tests below prove is only as good as the fixture: each record flat,
    together holding every flat field of every part, and the cases the brief names."""
    flat = {name for names in FLAT.values() for name in names.values()}
    records = [ITEMS[name] for name in CLUSTERS]
    assert all("record_version" not in item and not PARTS.keys() & item.keys()
               for item in records)
    assert flat <= {key for item in records for key in item}
    ready, gone, building, scaling = (ITEMS[n] for n in ("ready-nb", "gone", "building",
                                                         "scaling"))
    assert ready["status"]["S"] == "READY" and ready["notebook_task"]["S"] and \
        ready["adapt"]["M"] and ready["crashes"]["M"]["worker"] and \
        float(ready["cost_accrued"]["N"]) > 0
    assert gone["status"]["S"] == "DELETED" and "expire_record_at" in gone
    assert building["status"]["S"] == "CREATING" and building["inflight"]["M"] and \
        building["task_token"]["S"] and building["image_token"]["S"]
    assert scaling["claim"]["M"]["holder"]["S"] == "scale-7"


@pytest.mark.parametrize("name", CLUSTERS)
def test_a_flat_record_reads_with_every_value_in_its_part(
        registry: Registry, name: str) -> None:
    item = ITEMS[name]
    record = registry.require(name)
    assert record.public() == FIXTURE["public"][name]  # the API's answer, as it was
    for part, names in FLAT.items():
        for field, flat in names.items():
            if flat in item:  # the stored value, read as its field's type reads it
                kind = TypeAdapter(PARTS[part].model_fields[field].annotation)
                assert getattr(getattr(record, part), field) == \
                    kind.validate_python(_plain(_de.deserialize(item[flat]))), flat
    # The indexes' keys stayed at the top: owner/status and status/name find it.
    assert name in {r.name for r in registry.every(Query((OWNER,)))}
    assert name in {r.name for r in registry.every(Query(statuses=(record.status,)))}


@pytest.mark.parametrize("name", CLUSTERS)
def test_the_first_write_lifts_it_keeping_every_stored_value_byte_for_byte(
        registry: Registry, name: str) -> None:
    """A write whose own condition does not hold still lifts the item (its condition on
    the shape fails first): the item then differs from the stored one only by the
    lift, so each value is compared as DynamoDB holds it."""
    before = ITEMS[name]
    registry.notebook.serving(name, "no-such-task")  # refused: not the notebook's task
    after = raw(registry, name)
    assert after["record_version"] == {"N": str(RECORD_VERSION)}
    moved = {flat: (part, field) for part, names in FLAT.items()
             for field, flat in names.items()}
    for key, value in before.items():
        if key in moved:
            assert key not in after, f"{key} is still flat"
            assert nested(after, *moved[key]) == value, key
        else:
            assert after[key] == value, key  # spec, status, owner, TTL, rolled_up...
    assert set(after) - set(before) <= {*PARTS, "record_version"}
    assert registry.require(name).public() == FIXTURE["public"][name]


def test_intents_on_lifted_records_do_what_they_did(registry: Registry) -> None:
    """Each write path on a flat record: a plain update, a conditional one on a lifted
    value (the cost's `since`, as stored), an ADD, and a transaction with the owner's
    counter (the claim's release)."""
    # The notebook: a stop counted onto the stored count, the current task STOPPED.
    registry.notebook.stopped("ready-nb", "task-n2", "Essential container exited (1)")
    notebook = registry.require("ready-nb").notebook
    assert (notebook.stops, notebook.status, notebook.task) == (2, "STOPPED", "task-n2")
    # The workers' counts: the condition compares the lifted cost.since as stored.
    ready = registry.require("ready-nb")
    seen = registry.workers.seen("ready-nb", 4, 2, 0.5, ready)
    assert seen is not None and (seen.workers.desired, seen.workers.running) == (4, 2)
    assert seen.cost.accrued >= ready.cost.accrued > 0
    # A step ends and the image build's wait completes, once.
    registry.steps.end("building", "PrepareImages", Resources(image_build="build:1"))
    assert registry.waits.images_built("building", "image-wait-token", "")
    assert not registry.waits.images_built("building", "image-wait-token", "")
    building = registry.require("building")
    assert list(building.lease.inflight) == ["CreateCapacity"]
    assert (building.tokens.images, building.tokens.scheduler) == \
        ("", "scheduler-wait-token-2")
    assert building.resources.image_build == "build:1"
    # The scale's claim released: its count and the owner's counter given back (4 -> 1).
    clusters, workers = registry.quota.counter(OWNER)
    scaling = registry.require("scaling")
    assert scaling.lease.claim is not None and scaling.lease.counted == 4
    registry.scaling.release(scaling, "scale-7")
    released = registry.require("scaling")
    assert released.lease.claim is None and released.lease.counted == 1
    assert registry.quota.counter(OWNER) == (clusters, workers - 3)
    # An ended record refuses a destroy as it did, lifted all the same.
    with pytest.raises(ClusterBusy, match="already deleted"):
        registry.request_destroy("gone", None, "arn")
    assert "record_version" in raw(registry, "gone")
    for name in CLUSTERS:
        assert not {flat for names in FLAT.values() for flat in names.values()} \
            & raw(registry, name).keys(), name


def test_a_new_record_is_written_nested(registry: Registry) -> None:
    record = registry.create(spec("fresh", workers=2), OWNER, [], "arn", cost_per_hour=0.2)
    item = raw(registry, "fresh")
    assert item["record_version"] == {"N": str(RECORD_VERSION)}
    assert nested(item, "lease", "counted") == {"N": "2"}
    assert nested(item, "cost", "per_hour") == {"N": "0.2"}
    assert "claim" not in item["lease"]["M"]  # absent, not null: attribute_not_exists
    assert registry.require("fresh") == record
