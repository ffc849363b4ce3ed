"""8. The registry at a year's scale: what each request reads and costs in DynamoDB as
ended records pile up (a 200-person team's 50 clusters a day), through the real
handlers against the emulator, control plane only.

At each size the registry is seeded (daskyard/local/registry_seed.py, shared with
tests/functional/test_registry_scale.py): SIZE ended records and 200 live ones over 200
owners. The measured owner is one of them; its own records are the same at every size
(one live cluster, OWN_ENDED ended), the other 199 hold the rest, so what grows is
everyone else's history, as it does on a stage. Then, as that owner over the local HTTP
API: a page of its list, every page of it, a create (its quota counted in the create's
transaction), a scale and a destroy of that cluster once READY; as an admin, every page
of the stage's live clusters; and the scheduled Lambdas: an expiry run and a nightly run
with the 200 live clusters due (the teardown machine's Map hands each to DestroyDue;
the destroy machines it starts answer their steps at once here, they are not what is
measured, as in tests/functional/test_teardown.py).

Each operation's DynamoDB calls are those its handlers made (deploy/calls.py tells them
by handler). Items read: what DynamoDB evaluates (a Query's ScannedCount, an item a
GetItem found). Capacity: moto answers ReturnConsumedCapacity with a constant per call
whatever the size (1 for a Query, Scan, PutItem or DeleteItem, 0.5 for a GetItem or
UpdateItem, nothing for TransactWriteItems; `moto_reports` measures it), so the units
are computed from the items' sizes as DynamoDB bills them (`item_size`): a read 4 KB
per unit, the items of one Query summed before rounding, halved when eventually
consistent (every index Query is), at least one unit a call; a write 1 KB per unit per
item, twice in a transaction, sized after the operation (DynamoDB takes the larger of
before and after: records only grow here but for a REMOVE of a few bytes). Writes to
the two indexes are not counted."""

from __future__ import annotations

import json
import math
import re
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.core.registry import OWNER_INDEX, STATUS_INDEX
from chalicelib.core.runtime import runtime
from daskyard.client import DaskyardApi
from daskyard.credentials import LocalCredentials
from daskyard.local import registry_seed
from daskyard.local.deploy import STAGE, user_keys
from daskyard.local.latency import AWS
from daskyard.local.stack import LocalMode, wait_execution
from deploy.calls import recording

SIZES = (100, 1_000, 10_000)
OWNERS = 200
OWN_ENDED = 20
ALL_PAGES = 10  # the owner's 21 records in 3 pages
REPEATS = 3  # the reads, median latency
READ_UNIT, WRITE_UNIT = 4096, 1024
LAMBDA_TIMEOUT_S = 60  # .chalice/config.json, every function
CLIENT_TIMEOUT_S = 120
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "region": "us-east-1", "resources": [], "detail": {}, "id": "bench",
             "account": "123456789012", "time": "2026-12-01T02:00:00Z"}


# --- sizes as DynamoDB bills them -------------------------------------------------------
# "Item sizes and formats", Amazon DynamoDB Developer Guide: names and strings their UTF-8
# bytes; a number 1 byte per two significant digits plus 1; a Boolean or null 1; a list
# or map 3 bytes plus 1 per element plus the elements (a map's keys too).

def number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("E")[0].split("e")[0].strip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"not a DynamoDB type: {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def read_units(sizes: list[int], consistent: bool) -> float:
    """One read call's units: its items' bytes together, 4 KB a unit (at least one)."""
    return max(1, math.ceil(sum(sizes) / READ_UNIT)) * (1.0 if consistent else 0.5)


def write_units(size: int, transaction: bool) -> float:
    return max(1, math.ceil(size / WRITE_UNIT)) * (2.0 if transaction else 1.0)


# --- what the handlers read and write ---------------------------------------------------

class Meter:
    """Counts the DynamoDB calls of the handlers in `handlers` while `measuring`; what
    cannot be sized from a call's own request and answer (a read with a filter or a
    projection bills the whole items it evaluated; an update answers no item) is sized
    after the operation, by reading the same items again unfiltered, outside its time."""

    def __init__(self, dynamodb: Any) -> None:
        self.dynamodb = dynamodb  # the emulator's, as its root: not counted
        self.handlers: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.calls = 0
        self.items = 0
        self.rcu = 0.0
        self.wcu = 0.0
        self._reads: list[tuple[str, dict[str, Any], bool]] = []  # op, request, consistent
        self._writes: list[tuple[str, dict[str, Any], bool]] = []  # table, key, transaction

    def measure(self, *handlers: str) -> None:
        with self._lock:
            self._reset()
            self.handlers = frozenset(handlers)

    def observe(self, handler: str, client: Any, op: str, params: Any, out: Any) -> None:
        if client.meta.service_model.service_name != "dynamodb" or \
                handler not in self.handlers:
            return
        with self._lock:
            self.calls += 1
            if op == "GetItem":
                consistent = bool(params.get("ConsistentRead"))
                item = out.get("Item")
                self.items += 1 if item else 0
                if item and "ProjectionExpression" in params:
                    self._reads.append(("GetItem", params, consistent))
                else:
                    self.rcu += read_units([item_size(item)] if item else [], consistent)
            elif op in ("Query", "Scan"):
                consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
                self.items += int(out.get("ScannedCount", 0))
                if {"FilterExpression", "ProjectionExpression", "Select"} & set(params):
                    self._reads.append((op, params, consistent))
                else:
                    self.rcu += read_units([item_size(i) for i in out.get("Items", [])],
                                           consistent)
            elif op == "PutItem":
                self.wcu += write_units(item_size(params["Item"]), False)
            elif op in ("UpdateItem", "DeleteItem"):
                new = out.get("Attributes") if params.get("ReturnValues") == "ALL_NEW" else None
                if new is not None:
                    self.wcu += write_units(item_size(new), False)
                else:
                    self._writes.append((params["TableName"], params["Key"], False))
            elif op == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    ((kind, write),) = entry.items()
                    if kind == "Put":
                        self.wcu += write_units(item_size(write["Item"]), True)
                    else:
                        self._writes.append((write["TableName"], write["Key"], True))

    def settle(self) -> dict[str, Any]:
        """The operation's figures, its deferred items sized."""
        with self._lock:
            self.handlers = frozenset()
            reads, writes = self._reads, self._writes
        for op, params, consistent in reads:
            if op == "GetItem":
                item = self.dynamodb.get_item(TableName=params["TableName"], Key=params["Key"],
                                              ConsistentRead=True).get("Item")
                self.rcu += read_units([item_size(item)] if item else [], consistent)
                continue
            again = unfiltered(params)
            found = getattr(self.dynamodb, "query" if op == "Query" else "scan")(**again)
            self.rcu += read_units([item_size(i) for i in found["Items"]], consistent)
        for table, key, transaction in writes:
            item = self.dynamodb.get_item(TableName=table, Key=key,
                                          ConsistentRead=True).get("Item")
            self.wcu += write_units(item_size(item) if item else 0, transaction)
        return {"dynamodb_calls": self.calls, "items_read": self.items,
                "read_units": round(self.rcu, 1), "write_units": round(self.wcu, 1)}


def unfiltered(params: dict[str, Any]) -> dict[str, Any]:
    """A Query or Scan as it evaluates items: its filter, projection and select gone
    (and the names and values only they used), its key condition, start and limit kept."""
    again = {k: v for k, v in params.items()
             if k not in ("FilterExpression", "ProjectionExpression", "Select",
                          "ExpressionAttributeNames", "ExpressionAttributeValues")}
    used = set(re.findall(r"[#:]\w+", params.get("KeyConditionExpression", "")))
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {k: v for k, v in params.get(field, {}).items() if k in used}
        if kept:
            again[field] = kept
    return again


# --- one size -------------------------------------------------------------------------

def _timed(meter: Meter, handlers: tuple[str, ...], run: Callable[[], Any],
           repeats: int = 1) -> tuple[dict[str, Any], Any]:
    """(figures, last result) of `run`: the DynamoDB figures of its last run, the
    median of its times."""
    times, result = [], None
    for _ in range(repeats):
        meter.measure(*handlers)
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        figures = meter.settle()
    return {**figures, "seconds": round(statistics.median(times), 3)}, result


def moto_reports(local: LocalMode, table: str) -> dict[str, Any]:
    """What the emulator answers to ReturnConsumedCapacity, beside the units computed:
    a Query of 100 ended records, and a GetItem of one."""
    assert local.clients is not None
    db = local.clients.dynamodb
    query = db.query(TableName=table, IndexName=STATUS_INDEX, Limit=100,
                     KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":s": {"S": "DELETED"}},
                     ReturnConsumedCapacity="TOTAL")
    got = db.get_item(TableName=table, Key={"name": {"S": "ended-1"}}, ConsistentRead=True,
                      ReturnConsumedCapacity="TOTAL")
    update = db.update_item(TableName=table, Key={"name": {"S": "ended-1"}},
                            UpdateExpression="SET probed = :t",
                            ExpressionAttributeValues={":t": {"BOOL": True}},
                            ReturnConsumedCapacity="TOTAL")
    return {
        "query_100_items": {"moto": query.get("ConsumedCapacity", {}).get("CapacityUnits"),
                            "computed": read_units([item_size(i) for i in query["Items"]],
                                                   False)},
        "get_item": {"moto": got.get("ConsumedCapacity", {}).get("CapacityUnits"),
                     "computed": read_units([item_size(got["Item"])], True)},
        "update_item": {"moto": update.get("ConsumedCapacity", {}).get("CapacityUnits"),
                        "computed": write_units(item_size(got["Item"]), False)}}


def emulator_query(local: LocalMode, table: str, owner: str) -> float:
    """Seconds the emulator alone takes for the owner's first page (its index
    partition, read straight from the table as the list's first Query does): how
    moto's own cost grows with the table, beside the handlers'."""
    assert local.clients is not None
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        local.clients.dynamodb.query(
            TableName=table, IndexName=OWNER_INDEX, Limit=50,
            KeyConditionExpression="#o = :o AND #s = :s",
            ExpressionAttributeNames={"#o": "owner", "#s": "status"},
            ExpressionAttributeValues={":o": {"S": owner}, ":s": {"S": "READY"}})
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def emulator_transaction(local: LocalMode, table: str) -> float:
    """Seconds the emulator alone takes for a TransactWriteItems of two small items (a
    create writes its record and its owner's counter so): moto copies every table to
    roll a transaction back, so its cost grows with the table, DynamoDB's does not."""
    assert local.clients is not None
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        local.clients.dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"name": {"S": f"probe#{key}"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}
            for key in ("a", "b")])
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def nightly(local: LocalMode, meter: Meter) -> dict[str, Any]:
    """The nightly Lambda, as its schedule invokes it, and the teardown execution it
    starts, to its end: every due cluster's destroy started. Each invocation timed."""
    assert local.clients is not None
    seconds: dict[str, list[float]] = {}
    destroys: list[str] = []

    def timed(name: str, event: Any, call: Any) -> Any:
        if name not in ("NightlyTeardown", "DestroyDue"):
            return {}  # a destroy machine's step: not what is measured
        started = time.perf_counter()
        try:
            result = call(event, None)
        finally:
            seconds.setdefault(name, []).append(time.perf_counter() - started)
        if name == "DestroyDue":
            destroys.append(result["execution_arn"])
        return result

    local.router.interceptor = timed
    try:
        meter.measure("nightly_teardown", "destroy_due")
        started = time.perf_counter()
        payload, errored = local.router.invoke(f"daskyard-{STAGE}-NightlyTeardown",
                                               SCHEDULED)
        handed = time.perf_counter() - started
        if errored:
            raise RuntimeError(f"the nightly run failed: {payload}")
        report = json.loads(payload)
        outcomes = [wait_execution(local.clients, arn, timeout=1200)["status"]
                    for arn in report["teardowns"]]
        total = time.perf_counter() - started
        figures = meter.settle()
        # The destroys it started, to their end before the next world (their steps are
        # answered at once: they end in moments).
        for arn in destroys:
            wait_execution(local.clients, arn, timeout=600)
    finally:
        local.router.interceptor = None
    each = sorted(seconds.get("DestroyDue", []))
    cold = AWS.of("lambda_cold_start")
    return {**figures, "due": len(report["destroyed"]),
            "destroys_started": len(each), "teardown_executions": outcomes,
            "nightly_lambda_s": round(seconds["NightlyTeardown"][0], 2),
            "seconds": round(total, 2), "map_s": round(total - handed, 2),
            "destroy_due_median_s": round(each[len(each) // 2], 3) if each else None,
            "destroy_due_max_s": round(each[-1], 3) if each else None,
            "lambda_timeout_s": LAMBDA_TIMEOUT_S,
            # AWS's delays on the path: the nightly Lambda's cold start, then the Map's
            # first DestroyDue environments', started together (Lambda starts one
            # environment per concurrent invocation).
            "modeled_aws_s": round(total + 2 * cold, 1)}


def one_size(local: LocalMode, size: int) -> dict[str, Any]:
    local.reset(processes=False)
    assert local.clients is not None
    rt = runtime()
    table = rt.settings.table
    url = local.api_url or local.serve_api()
    arn, key_id, secret = user_keys(local.clients, "bench-owner")
    found = local.emulator.access_key(key_id)
    assert found is not None
    owner = found[2]
    # moto copies the table for each transaction: a create takes tens of seconds here at
    # 10,000 records (DynamoDB: milliseconds); the client waits for it.
    keys = LocalCredentials(api_url=url, access_key_id=key_id, secret_access_key=secret,
                            arn=arn, data_dir=str(local.root))
    api = DaskyardApi(url, timeout=CLIENT_TIMEOUT_S, local=keys)
    admin = DaskyardApi(url, timeout=CLIENT_TIMEOUT_S, local=local.credentials)
    others = [f"AIDABENCHOWNER{i:03d}" for i in range(1, OWNERS)]

    started = time.perf_counter()
    db = local.clients.dynamodb
    registry_seed.ended(db, table, OWN_ENDED, [owner], prefix="mine")
    registry_seed.ended(db, table, size - OWN_ENDED, others)
    due = registry_seed.live(db, table, [owner, *others])
    seeded = time.perf_counter() - started

    meter = Meter(local.clients.dynamodb)
    out: dict[str, Any] = {"ended": size, "live": len(due), "owners": OWNERS,
                           "seed_s": round(seeded, 1), "moto_reports": moto_reports(local, table),
                           "emulator_query_s": emulator_query(local, table, owner),
                           "emulator_transaction_s": emulator_transaction(local, table)}
    name = f"bench-{size}"
    spec = {"name": name, "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]}
    with recording(meter.observe):
        api.list()  # warm: the first request pays for clients and imports
        ops: dict[str, dict[str, Any]] = {}
        ops["list, one page"], page = _timed(
            meter, ("list_clusters",), lambda: api.call("GET", "/clusters?limit=50"), REPEATS)
        ops["list, one page"]["records"] = len(page["clusters"])
        ops["list, every page"], every = _timed(
            meter, ("list_clusters",), lambda: api.list(page_size=ALL_PAGES), REPEATS)
        ops["list, every page"]["records"] = len(every)
        ops["stage's live, every page (admin)"], live = _timed(
            meter, ("list_clusters",), lambda: admin.list("CREATING,READY", page_size=100),
            REPEATS)
        ops["stage's live, every page (admin)"]["records"] = len(live)
        ops["create"], _ = _timed(meter, ("create_cluster",), lambda: api.create(spec))
        if api.wait(name, {"READY", "FAILED"}, timeout=300)["status"] != "READY":
            raise RuntimeError(f"{name}: create failed: {api.get(name)['error']}")
        ops["scale"], _ = _timed(meter, ("scale_cluster",), lambda: api.scale(name, 2))
        ops["destroy"], _ = _timed(meter, ("delete_cluster",), lambda: api.delete(name))
        api.wait(name, {"DELETED"}, timeout=300)
        ops["expiry run"], (payload, errored) = _timed(
            meter, ("expire_clusters",),
            lambda: local.router.invoke(f"daskyard-{STAGE}-ExpireClusters", SCHEDULED))
        if errored:
            raise RuntimeError(f"the expiry run failed: {payload}")
        ops["nightly run"] = nightly(local, meter)
    out["ops"] = ops
    return out


def run(local: LocalMode, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    rows = [one_size(local, size) for size in sizes]
    local.reset(processes=False)
    return {"sizes": list(sizes), "owners": OWNERS, "own_ended": OWN_ENDED,
            "rows": rows}
