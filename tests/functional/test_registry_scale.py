"""The registry as a year of a team's use leaves it: lists page through Queries on the
owner and status indexes with a signed `next_token`, no request path Scans, ended
records carry their TTL, and what a list or a create reads does not grow with the
ended records (100 against 2,000 of them here, `DASKYARD_BENCH_ENDED` for more; `make
bench` section 8 measures 100 to 10,000; printed, not asserted in seconds)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from chalicelib import image_builds, lifecycle, teardown
from chalicelib.core.aws import Clients
from chalicelib.core.errors import ClusterBusy, QuotaExceeded
from chalicelib.core.models import Status
from chalicelib.core.registry import (
    INDEXES,
    TTL_ATTRIBUTE,
    Registry,
    now,
    quota_key,
    schema,
)
from chalicelib.core.runtime import Runtime, runtime
from daskyard.client import DaskyardApi
from daskyard.local import registry_seed
from deploy import registry_indexes
from deploy.calls import recording
from tests.support.callers import ALICE
from tests.support.clusters import spec
from tests.support.records import force
from tests.support.signed import SignedHttp

JSON = {"Content-Type": "application/json"}


def seed(rt: Runtime, owner: str, name: str, status: Status = Status.READY) -> None:
    rt.registry.create(spec(name, workers=1), owner, [], "")
    if status in (Status.DELETED, Status.FAILED):  # ended as a destroy ends it
        rt.registry.settle(name, "Seed")
        rt.registry.finish(name, status, "Seed")
    elif status != Status.CREATING:
        force(rt, name, status=status.value)


def get(http: SignedHttp, path: str, status: int = 200) -> Any:
    out = http.get(path)
    assert out.status_code == status, out.body
    return json.loads(out.body)


def every_page(http: SignedHttp, query: str) -> tuple[list[str], int]:
    """(names over every page, pages) of GET /clusters?<query>."""
    names, pages, token = [], 0, None
    while True:
        path = f"/clusters?{query}" + (f"&next_token={quote(token)}" if token else "")
        page = get(http, path)
        names += [c["name"] for c in page["clusters"]]
        pages += 1
        token = page["next_token"]
        if token is None:
            return names, pages


def test_the_list_pages_through_the_callers_clusters_with_a_signed_token(
        rt: Runtime, http: SignedHttp) -> None:
    alice, bob = http.as_user("alice"), http.as_user("bob")
    mine = [f"a{i}" for i in range(7)]
    for i, name in enumerate(mine):
        seed(rt, alice.owner, name, [Status.READY, Status.DELETED, Status.CREATING][i % 3])
    for name in ("b1", "b2"):
        seed(rt, bob.owner, name)

    names, pages = every_page(alice, "limit=3")
    assert sorted(names) == mine and pages == 3  # no one else's, each once
    ready, _ = every_page(alice, "limit=2&status=READY")
    assert sorted(ready) == ["a0", "a3", "a6"]
    live, _ = every_page(alice, "limit=2&status=READY,CREATING")
    assert sorted(live) == ["a0", "a2", "a3", "a5", "a6"]
    # An admin: every owner's, or one owner's.
    everyone, _ = every_page(http, "limit=4")
    assert sorted(everyone) == sorted([*mine, "b1", "b2"])
    assert sorted(every_page(http, f"owner={quote(bob.owner)}")[0]) == ["b1", "b2"]

    # Another owner's list is an admin's alone.
    assert get(alice, f"/clusters?owner={quote(bob.owner)}", 403)["code"] == "Forbidden"
    # A token is good for its own list only: not altered, not another filter's, not
    # another caller's.
    token = get(alice, "/clusters?limit=3")["next_token"]
    body, _, mac = token.partition(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for caller, query in ((alice, f"limit=3&next_token={quote(forged)}"),
                          (alice, f"limit=3&status=READY&next_token={quote(token)}"),
                          (bob, f"limit=3&next_token={quote(token)}"),
                          (alice, "limit=3&next_token=junk")):
        answer = get(caller, f"/clusters?{query}", 400)
        assert answer["code"] == "InvalidRequest" and "next_token" in answer["error"]
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"),
                         ("status=GONE", "status"), ("colour=red", "colour")):
        assert get(alice, f"/clusters?{query}", 400)["error"].startswith(field)


def test_the_client_pages_through_every_cluster(rt: Runtime, http: SignedHttp) -> None:
    """DaskyardApi.list() (the CLI's `ls`, daskyard.list_clusters()) follows next_token."""
    alice = http.as_user("alice")
    for i in range(5):
        seed(rt, alice.owner, f"c{i}")
    api = DaskyardApi("http://unused")
    pages: list[str] = []

    def call(method: str, path: str, body: Any = None) -> Any:
        pages.append(path)
        return get(alice, path)

    api.call = call  # type: ignore[method-assign]
    assert sorted(c["name"] for c in api.list(page_size=2)) == [f"c{i}" for i in range(5)]
    assert len(pages) == 3 and "next_token=" in pages[-1]


def test_ended_records_carry_their_ttl_and_lose_it_when_destroyed_again(rt: Runtime) -> None:
    seed(rt, ALICE.id, "gone", Status.DELETING)
    before = int(time.time())
    rt.registry.finish("gone", Status.DELETED, "MarkDone")
    item = rt.clients.dynamodb.get_item(TableName=rt.settings.table,
                                        Key={"name": {"S": "gone"}})["Item"]
    days = (int(item[TTL_ATTRIBUTE]["N"]) - before) / 86400
    assert rt.settings.ended_record_days - 0.01 < days <= rt.settings.ended_record_days + 0.01
    seed(rt, ALICE.id, "stuck", Status.DELETING)
    rt.registry.finish("stuck", Status.DELETE_FAILED, "MarkDone", "it failed")
    rt.registry.request_destroy("stuck", None, "arn")  # DELETE_FAILED -> DELETING: kept
    item = rt.clients.dynamodb.get_item(TableName=rt.settings.table,
                                        Key={"name": {"S": "stuck"}})["Item"]
    assert TTL_ATTRIBUTE not in item


def test_no_request_path_scans_the_registry(rt: Runtime, http: SignedHttp) -> None:
    """The routes, the schedules and the event handlers read the registry by Query and
    GetItem only (the policies no longer allow Scan: local IAM would refuse it too)."""
    alice = http.as_user("alice")
    for i in range(3):
        seed(rt, alice.owner, f"old{i}", Status.DELETED)
    seed(rt, alice.owner, "expired")
    force(rt, "expired", expires_at=(now() - timedelta(hours=1)).isoformat())
    with recording() as recorder:
        every_page(alice, "limit=2")
        every_page(http, "status=DELETED")
        made = alice.post("/clusters", headers=JSON, body=json.dumps(
            {"name": "fresh", "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]}))
        assert made.status_code == 202, made.body
        assert alice.delete("/clusters/fresh").status_code == 202
        teardown.expire(rt)
        teardown.nightly(rt)
        image_builds.handle_build_event({"build-status": "SUCCEEDED", "build-id": "x:1"},
                                        rt.clients, rt.registry)
    calls = recorder.calls
    assert calls["dynamodb:Query"] > 0
    assert calls["dynamodb:Scan"] == 0, calls


# --- how the reads grow with the ended records ------------------------------------------

def _bench_runtime(rt: Runtime, table: str) -> tuple[Runtime, Counter[str]]:
    """A Runtime on its own table (the session's stays small), counting the items each
    DynamoDB read evaluates; starting an execution is stubbed (the registry is measured).
    A create reads no item: its quota is the counter, written in its transaction. Its
    latency here grows with the table because moto copies every table for each
    transaction (to roll it back); DynamoDB writes the two items."""
    clients = Clients(endpoint_url=rt.clients.endpoint_url)
    db = clients.dynamodb
    db.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **schema())
    read: Counter[str] = Counter()

    def counted(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            read["items"] += int(parsed.get("ScannedCount", 0))
        elif model.name == "GetItem":
            read["items"] += 1 if parsed.get("Item") else 0
        read["calls"] += 1

    db.meta.events.register("after-call.dynamodb", counted)

    class Sfn:
        def start_execution(self, **_: Any) -> dict[str, str]:
            return {}

    clients.__dict__["sfn"] = Sfn()
    settings = rt.settings.model_copy(update={"table": table, "quota_clusters": 10_000})
    return Runtime(settings, clients, Registry(db, table)), read


def _seed_ended(rt: Runtime, count: int, owners: int = 200) -> None:
    """`count` ended records (DELETED, FAILED) over `owners` owners, as the benchmark
    seeds them (bench/registry_scale.py)."""
    registry_seed.ended(rt.clients.dynamodb, rt.settings.table, count,
                        [f"{ALICE.id}-{i}" for i in range(owners)])


def _measure(rt: Runtime, read: Counter[str], label: str) -> dict[str, float]:
    owner = ALICE
    out: dict[str, float] = {}
    lifecycle.list_clusters(rt, owner, limit=50)  # warm: the client's first call is dearer
    for op, run in (
            ("list", lambda: lifecycle.list_clusters(rt, owner, limit=50)),
            ("create", lambda: lifecycle.create_cluster(rt, spec(f"new-{label}", workers=1),
                                                        caller=owner)),
            ("expire", lambda: teardown.expire(rt)),
            ("roll-up", lambda: teardown.roll_up(rt, teardown.Report()))):
        read.clear()
        started = time.perf_counter()
        run()
        out[f"{op} s"] = time.perf_counter() - started
        out[f"{op} items"] = read["items"]
    return out


@pytest.mark.long
@pytest.mark.timeout(1200)  # seeding a year's 18,000 records takes minutes
def test_what_a_list_and_a_create_read_stays_flat_as_ended_records_grow(
        rt: Runtime, capsys: Any) -> None:
    """Twenty times the ended records: a read that depended on them (a Scan, a filter
    after a Query) would read twenty times the items."""
    results = {}
    for ended in (100, int(os.environ.get("DASKYARD_BENCH_ENDED", "2000"))):
        table = f"{rt.settings.table}-bench-{ended}"
        bench, read = _bench_runtime(rt, table)
        try:
            # The owner's live clusters before the ended records: each create's
            # transaction copies every table in moto, which at 18,000 items costs seconds.
            for i in range(3):
                seed(bench, ALICE.id, f"live-{i}")
            _seed_ended(bench, ended)
            results[ended] = _measure(bench, read, str(ended))
        finally:
            bench.clients.dynamodb.delete_table(TableName=table)
    small, large = results[100], results[max(results)]
    with capsys.disabled():
        print(f"\n  ended records      100 {max(results):>9}   ratio")
        for key in small:
            ratio = f"{large[key] / small[key]:5.1f}x" if small[key] else \
                ("  same" if large[key] == small[key] else "     -")
            fmt = "{:>9.3f}" if key.endswith(" s") else "{:>9.0f}"
            print(f"  {key:<13}" + fmt.format(small[key]) + fmt.format(large[key])
                  + f"   {ratio}")
        # What the Scan each of them made before read: every record.
        print(f"  {'scan items':<13}{100 + 4:>9}{max(results) + 4:>9}")
    # Items read do not grow with ended records (the nightly roll-up reads only those
    # not yet rolled up: none here, where all of them were rolled up on earlier nights).
    for op in ("list", "create", "expire", "roll-up"):
        assert large[f"{op} items"] == small[f"{op} items"], (op, small, large)


def test_the_nightly_run_rolls_ended_clusters_into_each_owners_day_once(rt: Runtime) -> None:
    """Before their TTL takes them, ended records leave their figures in the owner's
    daily history: clusters, hours, estimated cost. A second run counts nothing twice."""
    ended = now()
    day = ended.date().isoformat()
    for name, owner, hours in (("a1", ALICE.id, 2), ("a2", ALICE.id, 3), ("b1", "bob", 1)):
        seed(rt, owner, name, Status.DELETED)
        force(rt, name, created_at=(ended - timedelta(hours=hours)).isoformat(),
              updated_at=ended.isoformat(), **{"cost.per_hour": Decimal("0.5")})
    seed(rt, ALICE.id, "running")
    report = teardown.Report()
    teardown.roll_up(rt, report)
    assert report.history == {ALICE.id: {"clusters": 2, "hours": 5.0, "cost": 2.5},
                              "bob": {"clusters": 1, "hours": 1.0, "cost": 0.5}}
    assert "ended since the last run 3 (6.0 hours, $3.00) over 2 owners" in report.text()
    assert rt.registry.history.day(day, ALICE.id) == {"clusters": 2, "hours": 5, "cost": 2.5}
    again = teardown.Report()
    teardown.roll_up(rt, again)
    assert again.history == {}
    # A record whose mark was lost (the run died after counting it) is not counted twice.
    rt.clients.dynamodb.update_item(TableName=rt.settings.table, Key={"name": {"S": "a1"}},
                                    UpdateExpression="SET to_roll_up = :due REMOVE rolled_up",
                                    ExpressionAttributeValues={":due": {"S": "due"}})
    teardown.roll_up(rt, again)
    assert again.history == {}
    assert rt.registry.history.day(day, ALICE.id)["clusters"] == 2
    # History items are in no list.
    assert sorted(r.name for r in rt.registry.list()) == ["a1", "a2", "b1", "running"]


def test_fifty_concurrent_creates_under_a_quota_of_five_make_exactly_five(
        rt: Runtime, stage_config: Any) -> None:
    """The owner's counter changes in one transaction with each record: exactly the
    creates that fit are made, the counter equals the records, and every way a record
    ends (the execution not starting, a destroy's last mark) gives its count back."""
    stage_config(quota_clusters=5, quota_workers=100)
    rt = runtime()
    started: list[str] = []

    class Sfn:  # the machines are not under test: only the registry's transactions
        def start_execution(self, name: str, **_: Any) -> dict[str, str]:
            if name.startswith("broken-"):
                raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "StartExecution")
            started.append(name)
            return {}

    rt.clients.__dict__["sfn"] = Sfn()
    go = threading.Barrier(50)

    def create(i: int) -> str:
        go.wait()
        try:
            lifecycle.create_cluster(rt, spec(f"race{i}", workers=2), caller=ALICE)
        except QuotaExceeded:
            return "refused"
        except ClusterBusy:  # AWS cancels a conflicting transaction (moto serializes them)
            return "busy"
        return "made"

    with ThreadPoolExecutor(50) as pool:
        outcomes = Counter(pool.map(create, range(50)))
    made = [r for r in rt.registry.live(ALICE.id)]
    assert outcomes["made"] == len(made) == len(started) == 5, outcomes
    assert rt.registry.quota.counter(ALICE.id) == (5, 10)
    report = teardown.Report()
    teardown.recount(rt, report)
    assert report.drift == {}

    # Each end gives the count back: a destroy's last mark, a create that never started.
    first = made[0].name
    rt.registry.settle(first, "MarkDeleting")
    rt.registry.finish(first, Status.DELETED, "MarkDone")
    assert rt.registry.quota.counter(ALICE.id) == (4, 8)
    with pytest.raises(ClientError):
        lifecycle.create_cluster(rt, spec("broken-one", workers=3), caller=ALICE)
    assert rt.registry.require("broken-one").status == Status.FAILED
    assert rt.registry.quota.counter(ALICE.id) == (4, 8)
    rt.registry.finish(first, Status.DELETED, "MarkDone")  # a repeated mark: nothing twice
    assert rt.registry.quota.counter(ALICE.id) == (4, 8)

    # A hand edit shows in the nightly recount.
    rt.clients.dynamodb.update_item(
        TableName=rt.settings.table, Key={"name": {"S": quota_key(ALICE.id)}},
        UpdateExpression="ADD workers :w", ExpressionAttributeValues={":w": {"N": "3"}})
    teardown.recount(rt, report)
    assert report.drift == {ALICE.id: {"counter": [4, 11], "records": [4, 8]}}
    assert "quota counters off" in report.text()


def test_an_adopted_table_without_the_indexes_gets_them_and_its_ttl(clients: Clients) -> None:
    """A table a stage kept from before the indexes, adopted by `make deploy`: the deploy
    adds what the template gives a new table (deploy/registry_indexes.py), once."""
    table = "daskyard-adopted-clusters"
    db = clients.dynamodb
    db.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}])
    try:
        db.put_item(TableName=table, Item={"name": {"S": "old"}, "owner": {"S": "o"},
                                           "status": {"S": "READY"}})
        # Ended before the roll-up index: one not rolled up yet, one rolled up.
        db.put_item(TableName=table, Item={"name": {"S": "gone"}, "owner": {"S": "o"},
                                           "status": {"S": "DELETED"}})
        db.put_item(TableName=table, Item={"name": {"S": "counted"}, "owner": {"S": "o"},
                                           "status": {"S": "FAILED"},
                                           "rolled_up": {"S": "2026-01-01"}})
        assert registry_indexes.ensure(db, table, poll=0.1) == [
            *INDEXES, "1 ended records due for the roll-up", "ttl"]
        assert registry_indexes.ensure(db, table, poll=0.1) == []
        due = db.query(TableName=table, IndexName="to-roll-up", KeyConditionExpression="#d = :d",
                       ExpressionAttributeNames={"#d": "to_roll_up"},
                       ExpressionAttributeValues={":d": {"S": "due"}})["Items"]
        assert [i["name"]["S"] for i in due] == ["gone"]
        found = db.query(TableName=table, IndexName="owner-status",
                         KeyConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
                         ExpressionAttributeValues={":o": {"S": "o"}})["Items"]
        assert sorted(i["name"]["S"] for i in found) == ["counted", "gone", "old"]
    finally:
        db.delete_table(TableName=table)
