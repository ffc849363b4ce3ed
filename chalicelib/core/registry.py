"""Cluster records in DynamoDB, and the one place their status changes.

Callers say what happened (`mark_ready`, `begin_rollback`, `request_destroy`, ...);
`TRANSITIONS` says from which statuses each intent is allowed and which status it
sets, and every write that must not race is a conditional write built from it.

The intents that write one part of a record are grouped in a class per concept, reached
from the registry as the record reaches its part: `registry.notebook.stopped(...)`
writes `record.notebook`, `registry.scaling.claim(...)` the record's lease and its
owner's counter. Each group's conditions sit beside the paths they guard, and every
group writes through `Registry._write`, the one write path (status, TTL, counters,
and lifting an item stored in the flat shape)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.core.errors import ClusterBusy, ClusterExists, ClusterNotFound, QuotaExceeded
from chalicelib.core.models import (
    FLAT,
    LIVE_STATUSES,
    RECORD_VERSION,
    Adapt,
    Claim,
    ClusterRecord,
    ClusterSpec,
    Cost,
    Lease,
    Notify,
    Resources,
    Scheduler,
    Status,
    TaskCrash,
    Tokens,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_ser = TypeSerializer()
_de = TypeDeserializer()
S = Status
ANY = frozenset(Status)
# A name can be reused once its last cluster is gone without leaving anything behind.
REUSABLE = frozenset({S.DELETED, S.FAILED})
# intent -> (statuses it may start from, status it sets; None keeps the status)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status | None]] = {
    "begin_step": (frozenset({S.CREATING}), None),
    "await_images": (frozenset({S.CREATING}), None),
    "await_scheduler": (frozenset({S.CREATING}), None),
    "publish_scheduler": (frozenset({S.CREATING, S.READY}), None),
    "mark_ready": (frozenset({S.CREATING}), S.READY),
    "start_failed": (frozenset({S.CREATING}), S.FAILED),
    "claim": (frozenset({S.READY}), None),
    "scale": (frozenset({S.READY}), None),
    "adapt": (frozenset({S.READY}), None),
    "record_crash": (frozenset({S.CREATING, S.READY}), None),
    "follow_workers": (frozenset({S.CREATING, S.READY}), None),
    "begin_rollback": (frozenset({S.CREATING, S.READY}), S.DELETING),
    "request_destroy": (frozenset({S.CREATING, S.READY, S.FAILED, S.DELETE_FAILED}),
                        S.DELETING),
    "settle": (ANY, S.DELETING),  # a destroy machine's first state, the sweeper's included
    # To DELETED, FAILED or DELETE_FAILED; from a final status too, when the execution
    # failed after its final mark (the failure is what the record must say then).
    "finish": (frozenset({S.DELETING, S.DELETED, S.FAILED}), None),
}
# The table's global secondary indexes (name -> hash key, range key), so that no request
# reads the whole registry: an owner's clusters by status, and the stage's by status (the
# live ones are three small partitions; ended records leave by TTL, see `ENDED`).
OWNER_INDEX = "owner-status"
STATUS_INDEX = "status-name"
# And a sparse index of the ended records the nightly run has yet to roll into the
# history (`TO_ROLL_UP`): it reads a day's ended records, not all the TTL still keeps.
ROLL_UP_INDEX = "to-roll-up"
INDEXES: dict[str, tuple[str, str]] = {OWNER_INDEX: ("owner", "status"),
                                       STATUS_INDEX: ("status", "name"),
                                       ROLL_UP_INDEX: ("to_roll_up", "name")}
# Records in these statuses carry `TTL_ATTRIBUTE` (epoch seconds): DynamoDB deletes them
# some days later (Settings.ended_record_days), after the nightly history has them.
ENDED = frozenset({S.DELETED, S.FAILED})
TTL_ATTRIBUTE = "expire_record_at"
# Set on an ended record once the nightly run has added it to its owner's daily history:
# items keyed `history_key` in the same table (no status, so in no index and no list).
ROLLED_UP = "rolled_up"
# DUE on a record from its end until the nightly run has rolled it up (then removed). A
# record that ends again after its roll-up (a final mark corrected) gets its roll-up day
# instead: out of the due partition, so it is never counted twice.
TO_ROLL_UP = "to_roll_up"
DUE = "due"
# Each owner's quota counter: an item keyed `quota_key` holding the owner's counted live
# clusters and workers, changed only in one transaction with the record it counts for
# (create, a record's end, scale and adapt), under the quota's condition. A record that
# counts carries `lease.counted` (its workers as counted). Counter items have this status, so
# the nightly recount finds them in the status index; no list walks it.
QUOTA = "#quota"
# Lists walk the statuses in this order (live first).
STATUS_ORDER = (S.CREATING, S.READY, S.DELETING, S.DELETE_FAILED, S.FAILED, S.DELETED)
# Tokens die with the create: a late event must not complete a wait of a destroyed cluster.
CLEAR_TOKENS = {"tokens": Tokens().model_dump()}
# Every write to a record requires the current shape: an item without it is lifted first.
CURRENT = Attr("record_version").exists()
# Tries of a write to an item in the flat shape: lifted once, tried again (a lift that
# lost to another write is tried again too).
LIFT_TRIES = 3


def schema() -> dict[str, Any]:
    """The clusters table's keys and indexes, as CreateTable and CloudFormation both
    spell them (deploy/template.py, local mode's deploy)."""
    keys = sorted({"name", *(k for pair in INDEXES.values() for k in pair)})
    return {
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": index, "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                                               {"AttributeName": range_key, "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}}
            for index, (hash_key, range_key) in INDEXES.items()]}


def quota_key(owner: str) -> str:
    return f"quota#{owner}"


@dataclass(frozen=True)
class Tally:
    """A change of `owner`'s counter, written with a record's in one transaction; with
    `quota` (live clusters, workers) it may not pass it."""

    owner: str
    clusters: int = 0
    workers: int = 0
    quota: tuple[int, int] | None = None


def history_key(day: str, owner: str) -> str:
    """A key no cluster name can be (names have no '#')."""
    return f"history#{day}#{owner}"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_numbers(v)) for k, v in values.items() if v is not None}


def record_item(record: ClusterRecord) -> dict[str, Any]:
    """A record as the registry stores it (DynamoDB JSON)."""
    return _to_item(record.model_dump(mode="json"))


def _numbers(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal, not float (the cost estimate is one). A None in
    a map is left out: absent, `attribute_not_exists` finds it (`lease.claim`)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integers as int, the rest as float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _record(item: dict[str, Any]) -> ClusterRecord:
    return ClusterRecord.model_validate({k: _plain(_de.deserialize(v)) for k, v in item.items()})


def _made(resources: Resources) -> dict[str, Any]:
    """Paths setting each kind `resources` set, one by one: a step never overwrites what
    another step recorded."""
    return {f"resources.{k}": v for k, v in
            resources.model_dump(mode="json", exclude_unset=True).items()}


class _Update:
    """One UpdateExpression: its clauses, with a placeholder for every attribute name of
    every path (DynamoDB reserves words such as `order` and `status`), and its values.
    The condition's come from boto3's builder, named #n/:v; these are #u/:u."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": []}

    def _path(self, dotted: str) -> str:
        placeholders = []
        for segment in dotted.split("."):
            key = f"#u{len(self.names)}"
            self.names[key] = segment
            placeholders.append(key)
        return ".".join(placeholders)

    def _value(self, value: Any) -> str:
        key = f":u{len(self.values)}"
        self.values[key] = value
        return key

    def set(self, path: str, value: Any) -> None:
        self.clauses["SET"].append(f"{self._path(path)} = {self._value(value)}")

    def remove(self, path: str) -> None:
        self.clauses["REMOVE"].append(self._path(path))

    def set_if_absent(self, path: str, value: Any, unless: str) -> None:
        """`path` = `unless`'s value when the item has one, else `value`."""
        self.clauses["SET"].append(
            f"{self._path(path)} = if_not_exists({self._path(unless)}, {self._value(value)})")

    def add(self, path: str, value: Any) -> None:
        self.clauses["ADD"].append(f"{self._path(path)} {self._value(value)}")

    def expression(self) -> str:
        return " ".join(f"{verb} {', '.join(parts)}" for verb, parts in self.clauses.items()
                        if parts)


def _conditional_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class _Refused(Exception):
    """A record's write whose condition did not hold; `item` is the record as it was
    (None when there was none)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("the record's condition did not hold")
        self.item = item


@dataclass(frozen=True)
class Cursor:
    """Where a list stopped: the partition it was reading (an index of `Query.parts`)
    and DynamoDB's LastEvaluatedKey there (None: that partition from its start)."""

    part: int = 0
    key: dict[str, str] | None = None


@dataclass(frozen=True)
class Query:
    """Records of `owners` (None: every owner) in `statuses` (empty: any), read one index
    partition after another, never by Scan."""

    owners: tuple[str, ...] | None = None
    statuses: tuple[Status, ...] = ()

    def parts(self) -> list[tuple[str, dict[str, str]]]:
        """(index, key values) of each partition, in list order."""
        if self.owners is not None:
            if not self.statuses:
                return [(OWNER_INDEX, {"owner": owner}) for owner in self.owners]
            return [(OWNER_INDEX, {"owner": owner, "status": s.value})
                    for owner in self.owners for s in self.statuses]
        return [(STATUS_INDEX, {"status": s.value}) for s in self.statuses or STATUS_ORDER]


class Registry:
    """The cluster records: reads, the status intents and the one write path; the
    intents on a record's parts are its groups (`steps`, `waits`, `scheduler`, ...)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, ended_days: int = 30) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.ended_days = ended_days
        self.steps = StepIntents(self)
        self.waits = WaitIntents(self)
        self.scheduler = SchedulerIntents(self)
        self.notebook = NotebookIntents(self)
        self.workers = WorkerIntents(self)
        self.crashes = CrashIntents(self)
        self.scaling = ScalingIntents(self)
        self.quota = QuotaCounters(self)
        self.history = HistoryIntents(self)

    # --- reads ---------------------------------------------------------------------

    def get(self, name: str) -> ClusterRecord | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=_to_item({"name": name}),
                                      ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def require(self, name: str) -> ClusterRecord:
        record = self.get(name)
        if record is None:
            raise ClusterNotFound(f"no cluster named {name!r}")
        return record

    def page(self, query: Query, limit: int, cursor: Cursor | None = None) -> \
            tuple[list[ClusterRecord], Cursor | None]:
        """Up to `limit` records of `query` from `cursor` on, and where the next page
        starts (None: there is none). Each Query reads at most what the page still needs."""
        parts = query.parts()
        at = cursor or Cursor()
        found: list[ClusterRecord] = []
        while at.part < len(parts) and len(found) < limit:
            index, keys = parts[at.part]
            names = {f"#k{i}": k for i, k in enumerate(keys)}
            request: dict[str, Any] = {
                "TableName": self.table, "IndexName": index, "Limit": limit - len(found),
                "KeyConditionExpression": " AND ".join(f"#k{i} = :k{i}"
                                                       for i in range(len(keys))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _to_item({f":k{i}": v for i, v in
                                                       enumerate(keys.values())})}
            if at.key:
                request["ExclusiveStartKey"] = _to_item(at.key)
            out = self.dynamodb.query(**request)
            found += [_record(i) for i in out["Items"]]
            last = out.get("LastEvaluatedKey")
            at = Cursor(at.part, {k: _de.deserialize(v) for k, v in last.items()}) if last \
                else Cursor(at.part + 1)
        return found, at if at.part < len(parts) else None

    def every(self, query: Query, page_size: int = 100) -> Iterator[ClusterRecord]:
        """Every record of `query`, a page at a time."""
        cursor: Cursor | None = Cursor()
        while cursor is not None:
            records, cursor = self.page(query, page_size, cursor)
            yield from records

    def live(self, owner: str | None = None) -> Iterator[ClusterRecord]:
        """The live clusters (of `owner`, or the stage's), from their index partitions."""
        return self.every(Query(None if owner is None else (owner,),
                                tuple(s for s in STATUS_ORDER if s in LIVE_STATUSES)))

    # --- the one write path --------------------------------------------------------

    def _write(self, name: str, intent: str | None = None, sets: dict[str, Any] | None = None,
               *, status: Status | None = None, condition: ConditionBase | None = None,
               remove: tuple[str, ...] = (), add: dict[str, int] | None = None,
               returns: bool = True, tally: Tally | None = None) -> ClusterRecord | None:
        """Set `sets` (attribute paths, 'notebook.status' -> value), remove and add (to
        a number) when `intent` is allowed from the current status and `condition` holds;
        returns the new record (with `returns`), or None when either did not hold. Writes
        whose caller needs no record ask for none: the whole item is the bulk of a reply.
        With `tally`, the owner's counter changes in the same transaction; a record that
        ends (a status not live) gives its count back so, whoever ends it. An item still
        in the flat shape fails the condition on its shape: lifted, the write is tried
        again."""
        for _ in range(LIFT_TRIES):
            try:
                return self._update(name, intent, dict(sets or {}), status, condition,
                                    remove, add or {}, returns, tally)
            except _Refused as refused:
                if refused.item is None or "record_version" in refused.item:
                    return None
                self._lift(refused.item)
        return None

    def _update(self, name: str, intent: str | None, sets: dict[str, Any],
                status: Status | None, condition: ConditionBase | None,
                remove: tuple[str, ...], add: dict[str, int], returns: bool,
                tally: Tally | None) -> ClusterRecord | None:
        cond: ConditionBase = CURRENT
        if intent is not None:
            allowed, to = TRANSITIONS[intent]
            status = status or to
            if allowed != ANY:
                cond &= Attr("status").is_in([s.value for s in sorted(allowed)])
        if condition is not None:
            cond &= condition
        ended = status is not None and status in ENDED
        if status is not None:
            sets["status"] = status.value
            # An ended record leaves the table some days on (and waits for the nightly
            # roll-up); any other status keeps it.
            if ended:
                sets[TTL_ATTRIBUTE] = self.record_expiry()
            else:
                remove = (*remove, TTL_ATTRIBUTE, TO_ROLL_UP)
            counts = self._counts(name) if status not in LIVE_STATUSES and tally is None \
                else None
            if counts is not None:
                owner, counted = counts
                tally = Tally(owner, -1, -counted)
                cond &= Attr("lease.counted").eq(counted)
                remove = (*remove, "lease.counted")
        sets["updated_at"] = now().isoformat()
        expression = _Update()
        for path, value in sets.items():
            expression.set(path, value)
        for path in remove:
            expression.remove(path)
        for path, number in add.items():
            expression.add(path, number)
        if ended:
            expression.set_if_absent(TO_ROLL_UP, DUE, unless=ROLLED_UP)
        built = ConditionExpressionBuilder().build_expression(cond)
        update = {"TableName": self.table, "Key": _to_item({"name": name}),
                  "UpdateExpression": expression.expression(),
                  "ConditionExpression": built.condition_expression,
                  "ExpressionAttributeNames": {**expression.names,
                                               **built.attribute_name_placeholders},
                  "ExpressionAttributeValues": _to_item({
                      **expression.values, **built.attribute_value_placeholders}),
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if tally is not None:
            self._transact({"Update": update}, tally)
            return self.get(name) if returns else None
        try:
            out = self.dynamodb.update_item(**update,
                                            ReturnValues="ALL_NEW" if returns else "NONE")
        except ClientError as exc:
            if _conditional_failure(exc):
                raise _Refused(exc.response.get("Item")) from exc  # type: ignore[arg-type]
            raise
        return _record(out["Attributes"]) if returns else None

    def _lift(self, item: dict[str, Any]) -> None:
        """Rewrite an item stored in the flat shape in the nested one: each part set
        whole (the flat values as stored, byte for byte, the part's defaults for those
        it lacked), the flat attributes removed, in one write that holds only while no
        other came between (then the caller's next try finds the item as it is)."""
        record = _record(item)  # validates it: a part's defaults
        stored = {k: _de.deserialize(v) for k, v in item.items()}
        expression = _Update()
        for part, names in FLAT.items():
            expression.set(part, {**getattr(record, part).model_dump(mode="json"),
                                  **{field: stored[flat] for field, flat in names.items()
                                     if flat in stored}})
            for flat in names.values():
                if flat in stored:
                    expression.remove(flat)
        if "crashes" not in stored:  # a record from before crashes were kept
            expression.set("crashes", {})
        expression.set("record_version", RECORD_VERSION)
        built = ConditionExpressionBuilder().build_expression(
            Attr("record_version").not_exists() & Attr("updated_at").eq(stored["updated_at"]))
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": record.name}),
                UpdateExpression=expression.expression(),
                ConditionExpression=built.condition_expression,
                ExpressionAttributeNames={**expression.names,
                                          **built.attribute_name_placeholders},
                ExpressionAttributeValues=_to_item({**expression.values,
                                                    **built.attribute_value_placeholders}))
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

    def _counts(self, name: str) -> tuple[str, int] | None:
        """(owner, workers counted) of a record that counts, else None."""
        item = self.dynamodb.get_item(
            TableName=self.table, Key=_to_item({"name": name}), ConsistentRead=True,
            ProjectionExpression="#o, #l.#c",
            ExpressionAttributeNames={"#o": "owner", "#l": "lease", "#c": "counted"},
        ).get("Item")
        counted = (item or {}).get("lease", {}).get("M", {}).get("counted")
        if not item or counted is None:
            return None
        return str(_de.deserialize(item["owner"])), int(_de.deserialize(counted))

    def _transact(self, write: dict[str, Any], tally: Tally) -> None:
        """`write` (a TransactWriteItems entry on the record) and the tally, together;
        _Refused when the record's condition did not hold. QuotaExceeded when the tally
        would pass the quota; ClusterBusy when another transaction on the same items
        won (DynamoDB cancels, it does not wait: the caller may try again)."""
        if tally.quota is not None and (tally.clusters > tally.quota[0]
                                        or tally.workers > tally.quota[1]):
            raise self.quota.refusal(tally)
        names = {"#s": "status", "#of": "of", "#c": "clusters", "#w": "workers"}
        values: dict[str, Any] = {":kind": QUOTA, ":of": tally.owner, ":c": tally.clusters,
                                  ":w": tally.workers}
        cond = []
        if tally.quota is not None and tally.clusters > 0:
            cond.append("(attribute_not_exists(#c) OR #c <= :room_c)")
            values[":room_c"] = tally.quota[0] - tally.clusters
        if tally.quota is not None and tally.workers > 0:
            cond.append("(attribute_not_exists(#w) OR #w <= :room_w)")
            values[":room_w"] = tally.quota[1] - tally.workers
        counter: dict[str, Any] = {
            "TableName": self.table, "Key": _to_item({"name": quota_key(tally.owner)}),
            "UpdateExpression": "SET #s = :kind, #of = :of ADD #c :c, #w :w",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": _to_item(values)}
        if cond:
            counter["ConditionExpression"] = " AND ".join(cond)
        try:
            self.dynamodb.transact_write_items(TransactItems=[write, {"Update": counter}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            codes = [r.get("Code") for r in reasons]
            if "TransactionConflict" in codes:
                raise ClusterBusy("another change of this owner's clusters was being written; "
                                  "try again") from exc
            if codes[:1] != ["ConditionalCheckFailed"] and \
                    codes[1:2] == ["ConditionalCheckFailed"]:
                raise self.quota.refusal(tally) from exc
            # the record's own condition (one per name, its status) first
            raise _Refused(dict(reasons[0].get("Item") or {}) or None if reasons else None) \
                from exc

    def record_expiry(self) -> int:
        """When DynamoDB's TTL may delete a record that ends now (epoch seconds)."""
        return int((now() + timedelta(days=self.ended_days)).timestamp())

    # --- status intents ----------------------------------------------------------------

    def create(self, spec: ClusterSpec, owner: str, notify: list[Notify],
               execution_arn: str, cost_per_hour: float = 0.0,
               quota: tuple[int, int] | None = None) -> ClusterRecord:
        """Record a new cluster as CREATING, counted on its owner's counter in the same
        transaction, within `quota` (live clusters, workers) when given: of any number of
        concurrent creates, exactly those that fit are made. A name exists once while it
        is live."""
        at = now()
        record = ClusterRecord(
            name=spec.name, status=S.CREATING, step="Queued", spec=spec, created_at=at,
            updated_at=at, expires_at=at + timedelta(hours=spec.ttl_hours) if spec.ttl_hours
            else None, owner=owner, notify=notify, execution_arn=execution_arn,
            cost=Cost(per_hour=cost_per_hour), lease=Lease(counted=spec.workers))
        reusable = {f":r{i}": s.value for i, s in enumerate(sorted(REUSABLE))}
        put = {"TableName": self.table, "Item": record_item(record),
               "ConditionExpression": f"attribute_not_exists(#n) OR #s IN ({', '.join(reusable)})",
               "ExpressionAttributeNames": {"#n": "name", "#s": "status"},
               "ExpressionAttributeValues": _to_item(reusable)}
        try:
            self._transact({"Put": put}, Tally(owner, 1, spec.workers, quota))
        except _Refused as exc:
            raise ClusterExists(f"cluster {spec.name!r} already exists") from exc
        return record

    def start_failed(self, name: str, why: str) -> None:
        self._write(name, "start_failed", {"error": why}, returns=False)

    def mark_ready(self, name: str) -> ClusterRecord | None:
        """Only a CREATING cluster becomes READY: a destroy that began meanwhile wins."""
        return self._write(name, "mark_ready", {"step": "Ready"})

    def begin_rollback(self, name: str, state: str, error: str) -> ClusterRecord | None:
        """A failed create starts removing what it made; None when a destroy already runs."""
        return self._write(name, "begin_rollback", {"step": state, "error": error, **CLEAR_TOKENS})

    def request_destroy(self, name: str, notify: list[Notify] | None,
                        execution_arn: str, reason: str = "") -> ClusterRecord:
        """`notify`, when given, replaces who hears the outcome (the destroy's requester);
        `reason` says why the system destroys it (the owner is told)."""
        sets: dict[str, Any] = {"step": "Queued", "execution_arn": execution_arn,
                                **CLEAR_TOKENS, **({"destroy_reason": reason} if reason else {})}
        if notify is not None:
            sets["notify"] = [n.model_dump() for n in notify]
        record = self._write(name, "request_destroy", sets)
        if record is None:
            current = self.require(name)
            state = "already deleted" if current.status == S.DELETED else \
                "already being deleted"
            raise ClusterBusy(f"cluster {name!r} is {state}")
        return record

    def settle(self, name: str, state: str) -> ClusterRecord | None:
        return self._write(name, "settle", {"step": state, **CLEAR_TOKENS})

    def finish(self, name: str, status: Status, state: str, error: str = "") -> \
            ClusterRecord | None:
        sets = {"step": state, **({"error": error} if error else {})}
        return self._write(name, "finish", sets, status=status)

    # Last: below this, `list` in an annotation would name this method.
    def list(self) -> list[ClusterRecord]:
        """Every record, by Scan: for tests and the operator's tools only; no request
        path calls it (tests/functional/test_registry_scale.py records the calls)."""
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table, ConsistentRead=True,
            FilterExpression="attribute_exists(#s)", ExpressionAttributeNames={"#s": "spec"})
        return sorted((_record(i) for page in pages for i in page["Items"]),
                      key=lambda r: r.name)


class _Intents:
    """A group of the registry's intents: they write through its one write path."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._write = registry._write


class StepIntents(_Intents):
    """A create's building steps: each holds a lease while it runs (`lease.inflight`)
    and records what it made (`resources`)."""

    def begin(self, name: str, state: str, deadline: int) -> ClusterRecord:
        """Mark `state` in flight until `deadline` (epoch seconds) and return the record;
        ClusterBusy once a destroy or rollback has begun: nothing more is built then."""
        record = self._write(name, "begin_step", {"step": state,
                                                  f"lease.inflight.{state}": deadline})
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is no longer being created")
        return record

    def end(self, name: str, state: str, resources: Resources) -> None:
        """The step has ended: what it made (all of `resources` it set) and no lease."""
        self._write(name, None, _made(resources), remove=(f"lease.inflight.{state}",),
                    returns=False)

    def record_resources(self, name: str, resources: Resources) -> None:
        """Write what a step made the moment it exists, before the step goes on."""
        self._write(name, None, _made(resources), returns=False)


class WaitIntents(_Intents):
    """The create's waits on an event: their task tokens (`tokens`)."""

    def await_images(self, name: str, token: str) -> None:
        """PrepareImages waits on an image build: its token, stored before the build starts."""
        self._write(name, "await_images", {"tokens.images": token, "step": "BuildImages"},
                    returns=False)

    def images_built(self, name: str, token: str, error: str) -> bool:
        """Clear the image wait, once: only the first delivery of the build's event wins."""
        sets = {"tokens.images": "", **({"error": error} if error else {})}
        return self._write(name, None, sets, condition=Attr("tokens.images").eq(token)) \
            is not None

    def await_scheduler(self, name: str, token: str) -> ClusterRecord | None:
        return self._write(name, "await_scheduler",
                           {"tokens.scheduler": token, "step": "WaitForScheduler"})


class SchedulerIntents(_Intents):
    """The current scheduler (`scheduler`), ordered by its task's events."""

    def publish(self, name: str, scheduler: Scheduler) -> ClusterRecord | None:
        """A scheduler's address, unless a newer one (by its `order`) is already recorded."""
        order = Attr("scheduler.order")
        return self._write(name, "publish_scheduler",
                           {"scheduler": scheduler.model_copy(update={"stale": False})
                            .model_dump(mode="json")},
                           condition=order.not_exists() | order.lt(scheduler.order))

    def stopped(self, name: str, task: str, order: str) -> ClusterRecord | None:
        """The current scheduler stopped; None when `task` is not the current one."""
        return self._write(name, None, {"scheduler.stale": True, "scheduler.order": order},
                           condition=Attr("scheduler.task").eq(task)
                           & Attr("scheduler.order").lt(order))


class NotebookIntents(_Intents):
    """The notebook's task (`notebook`)."""

    def publish(self, name: str, task: str, ip: str, url: str, serving: bool) -> None:
        """A notebook task runs: its address, and SERVING once its health check passed.
        A late event saying it is merely running does not undo SERVING for that task."""
        sets = {"notebook.ip": ip, "notebook.url": url, "notebook.task": task,
                "notebook.status": "SERVING" if serving else "STARTING"}
        current = Attr("notebook.task")
        self._write(name, None, sets, returns=False, condition=None if serving else
                    current.not_exists() | current.ne(task)
                    | Attr("notebook.status").ne("SERVING"))

    def serving(self, name: str, task: str) -> None:
        self._write(name, None, {"notebook.status": "SERVING"},
                    condition=Attr("notebook.task").eq(task), returns=False)

    def stopped(self, name: str, task: str, why: str) -> None:
        """A notebook task stopped: one more stop counted (ECS starts another), and the
        status says so when it was the current task. Counted atomically: events of two
        tasks may be handled at once."""
        self._write(name, None, {"notebook.error": why}, add={"notebook.stops": 1},
                    returns=False)
        self._write(name, None, {"notebook.status": "STOPPED"},
                    condition=Attr("notebook.task").eq(task), returns=False)


class WorkerIntents(_Intents):
    """The workers service as its task events show it (`workers`), and what it costs
    (`cost`)."""

    def task(self, name: str, task: str, running: bool) -> ClusterRecord | None:
        """A worker task's state from its event: RUNNING once (never after its STOPPED,
        however late it comes), STOPPED for good. None: nothing changed (a duplicate, a
        late RUNNING, or the cluster is not CREATING or READY)."""
        path = f"workers.tasks.{task}"
        return self._write(name, "follow_workers",
                           {path: "RUNNING" if running else "STOPPED"},
                           condition=Attr(path).not_exists() if running
                           else ~Attr(path).eq("STOPPED"))

    def seen(self, name: str, desired: int, running: int, cost_per_hour: float,
             before: ClusterRecord) -> ClusterRecord | None:
        """The workers service's counts and the rate they cost, the cost at the earlier
        rate accrued up to now; only if no other event's write came between (`before`'s
        cost.since): None, and the caller reads again."""
        at = now()
        since = before.cost.since or before.created_at
        accrued = before.cost.accrued + before.cost.per_hour * max(
            0.0, (at - since).total_seconds()) / 3600
        sets = {"workers.desired": desired, "workers.running": running,
                "cost.per_hour": cost_per_hour, "cost.accrued": round(accrued, 6),
                "cost.since": at.isoformat()}
        was = Attr("cost.since")
        return self._write(name, "follow_workers", sets,
                           condition=was.not_exists() if before.cost.since is None
                           else was.eq(before.cost.since.isoformat()))


class CrashIntents(_Intents):
    """Each role's latest task that ended on its own (`crashes`)."""

    def record(self, name: str, role: str, crash: TaskCrash) -> bool:
        """A role's latest crash (one per role: the record stays small), while the
        cluster is CREATING or READY (else False)."""
        return self._write(name, "record_crash",
                           {f"crashes.{role}": crash.model_dump(mode="json")}) is not None


class ScalingIntents(_Intents):
    """A READY cluster's size: fixed (`spec.workers`) or adaptive (`adapt`), changed
    under a claim (`lease.claim`) that counts its workers on its owner's quota
    (`lease.counted` and the owner's counter, in one transaction)."""

    def claim(self, record: ClusterRecord, claim: Claim, at: int,
              quota: tuple[int, int] | None = None) -> ClusterRecord:
        """Claim workers for a scale or adapt of a READY cluster (`record`, as read):
        its count rises to the claim's workers, on the owner's counter too and within
        `quota`, in one transaction; the record with the claim. ClusterBusy when it is
        not READY, has changed since read, or another change of it holds a claim that
        has not lapsed by `at`: one change of a cluster at a time. A dead Lambda's claim
        stays counted until the cluster's next change or the nightly recount."""
        before = record.lease.counted
        more = max(0, claim.workers - before) if before is not None else 0
        sets: dict[str, Any] = {"lease.claim": claim.model_copy(update={"counted": before})
                                .model_dump()}
        held, counted = Attr("lease.claim"), Attr("lease.counted")
        condition = (held.not_exists() | Attr("lease.claim.lapses").lt(at)) & (
            # a record from before the counters: not counted
            counted.not_exists() if before is None else counted.eq(before))
        if more:
            sets["lease.counted"] = before + more  # type: ignore[operator]
        claimed = self._write(record.name, "claim", sets, condition=condition,
                              tally=Tally(record.owner, 0, more, quota) if more else None)
        if claimed is None:
            raise ClusterBusy(f"cluster {record.name!r} is not READY or is being scaled")
        return claimed

    def release(self, claimed: ClusterRecord, holder: str) -> None:
        """Withdraw a claim whose change was refused or failed, if it is still `holder`'s,
        giving back what it added to the count."""
        claim, counted = claimed.lease.claim, claimed.lease.counted
        back = claim.counted if claim is not None else None
        held = Attr("lease.claim.holder").eq(holder)
        if back is None or counted is None or back == counted:
            self._write(claimed.name, remove=("lease.claim",), condition=held, returns=False)
            return
        self._write(claimed.name, None, {"lease.counted": back}, remove=("lease.claim",),
                    condition=held & Attr("lease.counted").eq(counted), returns=False,
                    tally=Tally(claimed.owner, 0, back - counted))

    def _resized(self, name: str, intent: str, sets: dict[str, Any],
                 remove: tuple[str, ...], holder: str, claimed: ClusterRecord | None,
                 workers: int) -> ClusterRecord:
        """A new size recorded, ending `holder`'s claim (when given) in the same write;
        the record's count becomes `workers` (the most it may now run), and its owner's
        counter with it (`claimed`: the record as its claim left it)."""
        condition: ConditionBase | None = Attr("lease.claim.holder").eq(holder) if holder \
            else None
        tally = None
        counted = claimed.lease.counted if claimed is not None else None
        if claimed is not None and counted is not None and counted != workers:
            sets = {**sets, "lease.counted": workers}
            same = Attr("lease.counted").eq(counted)
            condition = same if condition is None else condition & same
            tally = Tally(claimed.owner, 0, workers - counted)
        record = self._write(name, intent, sets,
                             remove=remove + (("lease.claim",) if holder else ()),
                             condition=condition, tally=tally)
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is not READY")
        return record

    def scale(self, name: str, spec: ClusterSpec, cost_per_hour: float,
              holder: str = "", claimed: ClusterRecord | None = None) -> ClusterRecord:
        """A fixed size: adaptive scaling, if on, is off from now on."""
        return self._resized(name, "scale", {"spec": spec.model_dump(mode="json"),
                                             "cost.per_hour": cost_per_hour},
                             ("adapt",), holder, claimed, spec.workers)

    def adapt(self, name: str, adapt: Adapt | None, holder: str = "",
              claimed: ClusterRecord | None = None) -> ClusterRecord:
        """Adaptive scaling within `adapt`'s bounds, or off (None)."""
        # The lifecycle fills a missing maximum before it records one (lifecycle.adapt_cluster).
        most = adapt.maximum if adapt else None
        workers = most if most is not None else claimed.spec.workers if claimed else 0
        return self._resized(name, "adapt", {"adapt": adapt.model_dump()} if adapt else {},
                             () if adapt else ("adapt",), holder, claimed, workers)


class QuotaCounters(_Intents):
    """Each owner's counter of live clusters and workers (an item of its own, changed
    with the records it counts: see `Registry._transact`)."""

    def counter(self, owner: str) -> tuple[int, int]:
        """(live clusters, workers) counted for `owner`."""
        registry = self.registry
        item = registry.dynamodb.get_item(
            TableName=registry.table, ConsistentRead=True,
            Key=_to_item({"name": quota_key(owner)})).get("Item") or {}
        return (int(_de.deserialize(item["clusters"])) if "clusters" in item else 0,
                int(_de.deserialize(item["workers"])) if "workers" in item else 0)

    def counters(self) -> Iterator[tuple[str, int, int]]:
        """(owner, clusters, workers) of every counter item (the nightly recount)."""
        registry = self.registry
        pages = registry.dynamodb.get_paginator("query").paginate(
            TableName=registry.table, IndexName=STATUS_INDEX, KeyConditionExpression="#s = :q",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item({":q": QUOTA}))
        for page in pages:
            for item in page["Items"]:
                values = {k: _plain(_de.deserialize(v)) for k, v in item.items()}
                yield str(values["of"]), int(values.get("clusters", 0)), \
                    int(values.get("workers", 0))

    def refusal(self, tally: Tally) -> QuotaExceeded:
        most_clusters, most_workers = tally.quota or (0, 0)
        clusters, workers = self.counter(tally.owner)
        if clusters + tally.clusters > most_clusters:
            return QuotaExceeded(f"quota: at most {most_clusters} live clusters per owner; "
                                 f"{tally.owner} has {clusters}")
        return QuotaExceeded(f"quota: at most {most_workers} workers per owner over all "
                             f"clusters; this would make {workers + tally.workers}")


class HistoryIntents(_Intents):
    """Ended records rolled into each owner's daily history (items keyed `history_key`)."""

    def unrolled(self) -> Iterator[ClusterRecord]:
        """Ended records not yet in the daily history, from the sparse index of those
        (read in the nightly run only): what ended since the last run, whatever the TTL
        still keeps."""
        registry = self.registry
        pages = registry.dynamodb.get_paginator("query").paginate(
            TableName=registry.table, IndexName=ROLL_UP_INDEX,
            KeyConditionExpression="#d = :d", ExpressionAttributeNames={"#d": TO_ROLL_UP},
            ExpressionAttributeValues=_to_item({":d": DUE}))
        for page in pages:
            yield from (_record(i) for i in page["Items"])

    def roll_up(self, record: ClusterRecord, day: str, hours: float, cost: float) -> bool:
        """Add an ended cluster to its owner's history of `day` (YYYY-MM-DD), once: the
        history item holds the names it has counted, so a run that died before marking
        the record counts nothing twice. Then mark the record; False if it was counted."""
        db, table = self.registry.dynamodb, self.registry.table
        try:
            db.update_item(
                TableName=table, Key=_to_item({"name": history_key(day, record.owner)}),
                UpdateExpression="SET #kind = :kind, #day = :day, #owner = :owner "
                                 "ADD #names :names, #clusters :one, #hours :h, #cost :c",
                ConditionExpression="NOT contains(#names, :name)",
                ExpressionAttributeNames={"#kind": "kind", "#day": "day", "#owner": "of",
                                          "#names": "names", "#clusters": "clusters",
                                          "#hours": "hours", "#cost": "cost"},
                ExpressionAttributeValues={**_to_item({
                    ":kind": "history", ":day": day, ":owner": record.owner, ":one": 1,
                    ":h": round(hours, 4), ":c": round(cost, 4), ":name": record.name}),
                    ":names": {"SS": [record.name]}})
            counted = True
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
            counted = False
        # Not through _write: the record's updated_at stays when it ended (whatever its shape).
        try:
            db.update_item(
                TableName=table, Key=_to_item({"name": record.name}),
                UpdateExpression="SET #r = :day REMOVE #d",
                ConditionExpression="attribute_exists(#n)",
                ExpressionAttributeNames={"#r": ROLLED_UP, "#d": TO_ROLL_UP, "#n": "name"},
                ExpressionAttributeValues=_to_item({":day": day}))
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        return counted

    def day(self, day: str, owner: str) -> dict[str, Any]:
        """An owner's history of `day`: clusters ended, their hours and estimated cost."""
        registry = self.registry
        item = registry.dynamodb.get_item(
            TableName=registry.table, ConsistentRead=True,
            Key=_to_item({"name": history_key(day, owner)})).get("Item")
        values = {k: _plain(_de.deserialize(v)) for k, v in (item or {}).items()}
        return {"clusters": values.get("clusters", 0), "hours": values.get("hours", 0),
                "cost": values.get("cost", 0)}
