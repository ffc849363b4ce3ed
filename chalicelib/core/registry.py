"""Cluster records in DynamoDB, and the one place their status changes.

Callers say what happened (`mark_ready`, `begin_rollback`, `request_destroy`, ...);
`TRANSITIONS` says from which statuses each intent is allowed and which status it
sets, and every write that must not race is a conditional write built from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.core.errors import ClusterBusy, ClusterExists, ClusterNotFound, QuotaExceeded
from chalicelib.core.models import (
    LIVE_STATUSES,
    Adapt,
    Claim,
    ClusterRecord,
    ClusterSpec,
    Notify,
    Resources,
    Status,
    TaskCrash,
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
INDEXES: dict[str, tuple[str, str]] = {OWNER_INDEX: ("owner", "status"),
                                       STATUS_INDEX: ("status", "name")}
# Records in these statuses carry `TTL_ATTRIBUTE` (epoch seconds): DynamoDB deletes them
# some days later (Settings.ended_record_days), after the nightly history has them.
ENDED = frozenset({S.DELETED, S.FAILED})
TTL_ATTRIBUTE = "expire_record_at"
# Set on an ended record once the nightly run has added it to its owner's daily history:
# items keyed `history_key` in the same table (no status, so in no index and no list).
ROLLED_UP = "rolled_up"
# Each owner's quota counter: an item keyed `quota_key` holding the owner's counted live
# clusters and workers, changed only in one transaction with the record it counts for
# (create, a record's end, scale and adapt), under the quota's condition. A record that
# counts carries `counted` (its workers as counted). Counter items have this status, so
# the nightly recount finds them in the status index; no list walks it.
QUOTA = "#quota"
# Lists walk the statuses in this order (live first).
STATUS_ORDER = (S.CREATING, S.READY, S.DELETING, S.DELETE_FAILED, S.FAILED, S.DELETED)
# Tokens die with the create: a late event must not complete a wait of a destroyed cluster.
CLEAR_TOKENS = {"task_token": "", "image_token": ""}  # nosec B105  # empty: clears the tokens


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


def _numbers(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal, not float (the cost estimate is one)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
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


def _made(resources: Resources) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, paths) setting each kind `resources` set, one by one: a step never
    overwrites what another step recorded."""
    made = resources.model_dump(mode="json", exclude_unset=True)
    return ({f":m{i}": v for i, v in enumerate(made.values())},
            {f"resources.{k}": f":m{i}" for i, k in enumerate(made)})


def _conditional_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


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
    def __init__(self, dynamodb: DynamoDBClient, table: str, ended_days: int = 30) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.ended_days = ended_days

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

    def unrolled(self) -> Iterator[ClusterRecord]:
        """Ended records not yet in the daily history (read in the nightly run only: the
        ended partitions hold the last `ended_days` days, their TTL bounds them)."""
        for status in sorted(ENDED):
            pages = self.dynamodb.get_paginator("query").paginate(
                TableName=self.table, IndexName=STATUS_INDEX,
                KeyConditionExpression="#s = :s", FilterExpression="attribute_not_exists(#r)",
                ExpressionAttributeNames={"#s": "status", "#r": ROLLED_UP},
                ExpressionAttributeValues=_to_item({":s": status.value}))
            for page in pages:
                yield from (_record(i) for i in page["Items"])

    def roll_up(self, record: ClusterRecord, day: str, hours: float, cost: float) -> bool:
        """Add an ended cluster to its owner's history of `day` (YYYY-MM-DD), once: the
        history item holds the names it has counted, so a run that died before marking
        the record counts nothing twice. Then mark the record; False if it was counted."""
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": history_key(day, record.owner)}),
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
        # Not through _write: the record's updated_at stays when it ended.
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": record.name}),
                UpdateExpression="SET #r = :day", ConditionExpression="attribute_exists(#n)",
                ExpressionAttributeNames={"#r": ROLLED_UP, "#n": "name"},
                ExpressionAttributeValues=_to_item({":day": day}))
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        return counted

    def history(self, day: str, owner: str) -> dict[str, Any]:
        """An owner's history of `day`: clusters ended, their hours and estimated cost."""
        item = self.dynamodb.get_item(TableName=self.table, ConsistentRead=True,
                                      Key=_to_item({"name": history_key(day, owner)})).get("Item")
        values = {k: _plain(_de.deserialize(v)) for k, v in (item or {}).items()}
        return {"clusters": values.get("clusters", 0), "hours": values.get("hours", 0),
                "cost": values.get("cost", 0)}

    # --- the one write path --------------------------------------------------------

    def _write(self, name: str, intent: str | None = None, fields: dict[str, Any] | None = None,
               *, status: Status | None = None, condition: str = "",
               values: dict[str, Any] | None = None, remove: tuple[str, ...] = (),
               paths: dict[str, str] | None = None, returns: bool = True,
               tally: Tally | None = None) -> ClusterRecord | None:
        """Set `fields` (and `paths`, nested names like 'inflight.X' -> value key) when
        `intent` is allowed from the current status and `condition` holds; returns the
        new record (with `returns`), or None when either did not hold. Writes whose
        caller needs no record ask for none: the whole item is the bulk of a reply.
        With `tally`, the owner's counter changes in the same transaction; a record that
        ends (a status not live) gives its count back so, whoever ends it."""
        fields = dict(fields or {})
        names: dict[str, str] = {"#name": "name"}
        vals: dict[str, Any] = dict(values or {})
        cond = ["attribute_exists(#name)"]
        if intent is not None:
            allowed, to = TRANSITIONS[intent]
            status = status or to
            if allowed != ANY:
                keys = [f":from{i}" for i in range(len(allowed))]
                vals.update(zip(keys, sorted(allowed), strict=True))
                names["#status"] = "status"
                cond.append(f"#status IN ({', '.join(keys)})")
        if condition:
            cond.append(f"({condition})")
        if status is not None:
            fields["status"] = status.value
            # An ended record leaves the table some days on; any other status keeps it.
            if status in ENDED:
                fields[TTL_ATTRIBUTE] = self.record_expiry()
            else:
                remove = (*remove, TTL_ATTRIBUTE)
            counts = self._counts(name) if status not in LIVE_STATUSES and tally is None \
                else None
            if counts is not None:
                owner, counted = counts
                tally = Tally(owner, -1, -counted)
                names["#counted"], vals[":counted"] = "counted", counted
                cond.append("#counted = :counted")
                remove = (*remove, "counted")
        fields["updated_at"] = now().isoformat()
        sets = []
        for i, (key, value) in enumerate(fields.items()):
            names[f"#f{i}"], vals[f":v{i}"] = key, value
            sets.append(f"#f{i} = :v{i}")
        for i, (path, key) in enumerate((paths or {}).items()):
            head, _, tail = path.partition(".")
            names[f"#p{i}"], names[f"#q{i}"] = head, tail
            sets.append(f"#p{i}.#q{i} = {key}")
        expr = "SET " + ", ".join(sets)
        if remove:
            removed = []
            for i, path in enumerate(remove):
                head, _, tail = path.partition(".")
                names[f"#r{i}"] = head
                removed.append(f"#r{i}")
                if tail:
                    names[f"#s{i}"] = tail
                    removed[-1] += f".#s{i}"
            expr += " REMOVE " + ", ".join(removed)
        update = {"TableName": self.table, "Key": _to_item({"name": name}),
                  "UpdateExpression": expr, "ConditionExpression": " AND ".join(cond),
                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": _to_item(vals)}
        if tally is not None:
            if not self._transact({"Update": update}, tally):
                return None
            return self.get(name) if returns else None
        try:
            out = self.dynamodb.update_item(**update,
                                            ReturnValues="ALL_NEW" if returns else "NONE")
        except ClientError as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _record(out["Attributes"]) if returns else None

    def _counts(self, name: str) -> tuple[str, int] | None:
        """(owner, workers counted) of a record that counts, else None."""
        item = self.dynamodb.get_item(
            TableName=self.table, Key=_to_item({"name": name}), ConsistentRead=True,
            ProjectionExpression="#o, #c", ExpressionAttributeNames={"#o": "owner",
                                                                     "#c": "counted"}).get("Item")
        if not item or "counted" not in item:
            return None
        return str(_de.deserialize(item["owner"])), int(_de.deserialize(item["counted"]))

    def _transact(self, write: dict[str, Any], tally: Tally) -> bool:
        """`write` (a TransactWriteItems entry on the record) and the tally, together;
        False when the record's condition did not hold. QuotaExceeded when the tally
        would pass the quota; ClusterBusy when another transaction on the same items
        won (DynamoDB cancels, it does not wait: the caller may try again)."""
        if tally.quota is not None and (tally.clusters > tally.quota[0]
                                        or tally.workers > tally.quota[1]):
            raise self._refusal(tally)
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
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "TransactionConflict" in reasons:
                raise ClusterBusy("another change of this owner's clusters was being written; "
                                  "try again") from exc
            if reasons[:1] != ["ConditionalCheckFailed"] and \
                    reasons[1:2] == ["ConditionalCheckFailed"]:
                raise self._refusal(tally) from exc
            return False  # the record's own condition (one per name, its status) first
        return True

    def counter(self, owner: str) -> tuple[int, int]:
        """(live clusters, workers) counted for `owner`."""
        item = self.dynamodb.get_item(TableName=self.table, ConsistentRead=True,
                                      Key=_to_item({"name": quota_key(owner)})).get("Item") or {}
        return (int(_de.deserialize(item["clusters"])) if "clusters" in item else 0,
                int(_de.deserialize(item["workers"])) if "workers" in item else 0)

    def counters(self) -> Iterator[tuple[str, int, int]]:
        """(owner, clusters, workers) of every counter item (the nightly recount)."""
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.table, IndexName=STATUS_INDEX, KeyConditionExpression="#s = :q",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item({":q": QUOTA}))
        for page in pages:
            for item in page["Items"]:
                values = {k: _plain(_de.deserialize(v)) for k, v in item.items()}
                yield str(values["of"]), int(values.get("clusters", 0)), \
                    int(values.get("workers", 0))

    def _refusal(self, tally: Tally) -> QuotaExceeded:
        most_clusters, most_workers = tally.quota or (0, 0)
        clusters, workers = self.counter(tally.owner)
        if clusters + tally.clusters > most_clusters:
            return QuotaExceeded(f"quota: at most {most_clusters} live clusters per owner; "
                                 f"{tally.owner} has {clusters}")
        return QuotaExceeded(f"quota: at most {most_workers} workers per owner over all "
                             f"clusters; this would make {workers + tally.workers}")

    def record_expiry(self) -> int:
        """When DynamoDB's TTL may delete a record that ends now (epoch seconds)."""
        return int((now() + timedelta(days=self.ended_days)).timestamp())

    # --- intents ---------------------------------------------------------------------

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
            cost_per_hour=cost_per_hour)
        record.counted = spec.workers
        reusable = {f":r{i}": s.value for i, s in enumerate(sorted(REUSABLE))}
        put = {"TableName": self.table, "Item": _to_item(record.model_dump(mode="json")),
               "ConditionExpression": f"attribute_not_exists(#n) OR #s IN ({', '.join(reusable)})",
               "ExpressionAttributeNames": {"#n": "name", "#s": "status"},
               "ExpressionAttributeValues": _to_item(reusable)}
        if not self._transact({"Put": put}, Tally(owner, 1, spec.workers, quota)):
            raise ClusterExists(f"cluster {spec.name!r} already exists")
        return record

    def start_failed(self, name: str, why: str) -> None:
        self._write(name, "start_failed", {"error": why}, returns=False)

    def begin_step(self, name: str, state: str, deadline: int) -> ClusterRecord:
        """Mark `state` in flight until `deadline` (epoch seconds) and return the record;
        ClusterBusy once a destroy or rollback has begun: nothing more is built then."""
        record = self._write(name, "begin_step", {"step": state}, values={":deadline": deadline},
                             paths={f"inflight.{state}": ":deadline"})
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is no longer being created")
        return record

    def end_step(self, name: str, state: str, resources: Resources) -> None:
        """The step has ended: what it made (all of `resources` it set) and no lease."""
        values, paths = _made(resources)
        self._write(name, remove=(f"inflight.{state}",), values=values, paths=paths,
                    returns=False)

    def record_resources(self, name: str, resources: Resources) -> None:
        """Write what a step made the moment it exists, before the step goes on."""
        values, paths = _made(resources)
        self._write(name, values=values, paths=paths, returns=False)

    def await_images(self, name: str, token: str) -> None:
        """PrepareImages waits on an image build: its token, stored before the build starts."""
        self._write(name, "await_images", {"image_token": token, "step": "BuildImages"},
                    returns=False)

    def finish_image_build(self, name: str, token: str, error: str) -> bool:
        """Clear the image wait, once: only the first delivery of the build's event wins."""
        fields = {"image_token": "", **({"error": error} if error else {})}  # nosec B105  # empty: clears the token
        return self._write(name, None, fields, condition="image_token = :t",
                           values={":t": token}) is not None

    def await_scheduler(self, name: str, token: str) -> ClusterRecord | None:
        return self._write(name, "await_scheduler",
                           {"task_token": token, "step": "WaitForScheduler"})

    def publish_scheduler(self, name: str, order: str, **fields: Any) -> ClusterRecord | None:
        """A scheduler's address, unless a newer one (by `order`) is already recorded."""
        return self._write(name, "publish_scheduler",
                           {"scheduler_order": order, "scheduler_stale": False, **fields},
                           condition="attribute_not_exists(scheduler_order) OR "
                                     "scheduler_order < :o", values={":o": order})

    def scheduler_stopped(self, name: str, task: str, order: str) -> ClusterRecord | None:
        """The current scheduler stopped; None when `task` is not the current one."""
        return self._write(name, None, {"scheduler_stale": True, "scheduler_order": order},
                           condition="scheduler_task = :task AND scheduler_order < :o",
                           values={":task": task, ":o": order})

    def publish_notebook(self, name: str, task: str, ip: str, url: str,
                         serving: bool) -> None:
        """A notebook task runs: its address, and SERVING once its health check passed.
        A late event saying it is merely running does not undo SERVING for that task."""
        fields = {"notebook_ip": ip, "notebook_url": url, "notebook_task": task,
                  "notebook_status": "SERVING" if serving else "STARTING"}
        condition = "" if serving else \
            "attribute_not_exists(notebook_task) OR notebook_task <> :t OR notebook_status <> :s"
        self._write(name, None, fields, condition=condition, returns=False,
                    values={} if serving else {":t": task, ":s": "SERVING"})

    def notebook_serving(self, name: str, task: str) -> None:
        self._write(name, None, {"notebook_status": "SERVING"}, condition="notebook_task = :t",
                    values={":t": task}, returns=False)

    def notebook_stopped(self, name: str, task: str, why: str) -> None:
        """A notebook task stopped: one more stop counted (ECS starts another), and the
        status says so when it was the current task. Counted atomically: events of two
        tasks may be handled at once."""
        self._write(name, None, {"notebook_error": why}, returns=False)
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": name}),
                UpdateExpression="ADD notebook_stops :one",
                ConditionExpression="attribute_exists(#n)",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues=_to_item({":one": 1}))
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        self._write(name, None, {"notebook_status": "STOPPED"},
                    condition="notebook_task = :t", values={":t": task}, returns=False)

    def record_crash(self, name: str, role: str, crash: TaskCrash) -> bool:
        """A role's latest crash (one per role: the record stays small), while the
        cluster is CREATING or READY (else False)."""
        value = crash.model_dump(mode="json")
        try:
            return self._write(name, "record_crash", paths={f"crashes.{role}": ":c"},
                               values={":c": value}) is not None
        except ClientError as exc:  # a record from before crashes were kept: no map yet
            if exc.response["Error"]["Code"] != "ValidationException":
                raise
        return self._write(name, "record_crash", {"crashes": {role: value}}) is not None

    def worker_task(self, name: str, task: str, running: bool) -> ClusterRecord | None:
        """A worker task's state from its event: RUNNING once (never after its STOPPED,
        however late it comes), STOPPED for good. None: nothing changed (a duplicate, a
        late RUNNING, or the cluster is not CREATING or READY)."""
        key = {":s": "RUNNING" if running else "STOPPED"}
        condition = "attribute_not_exists(worker_tasks.#q0)" if running else \
            "NOT worker_tasks.#q0 = :s"
        try:
            return self._write(name, "follow_workers", paths={f"worker_tasks.{task}": ":s"},
                               condition=condition, values=key)
        except ClientError as exc:  # a record from before worker tasks were kept: no map
            if exc.response["Error"]["Code"] != "ValidationException":
                raise
        return self._write(name, "follow_workers", {"worker_tasks": {task: key[":s"]}},
                           condition="attribute_not_exists(worker_tasks)")

    def workers_seen(self, name: str, desired: int, running: int, cost_per_hour: float,
                     before: ClusterRecord) -> ClusterRecord | None:
        """The workers service's counts and the rate they cost, the cost at the earlier
        rate accrued up to now; only if no other event's write came between (`before`'s
        cost_since): None, and the caller reads again."""
        at = now()
        since = before.cost_since or before.created_at
        accrued = before.cost_accrued + before.cost_per_hour * max(
            0.0, (at - since).total_seconds()) / 3600
        fields = {"workers_desired": desired, "workers_running": running,
                  "cost_per_hour": cost_per_hour, "cost_accrued": round(accrued, 6),
                  "cost_since": at.isoformat()}
        if before.cost_since is None:
            return self._write(name, "follow_workers", fields,
                               condition="attribute_not_exists(cost_since)")
        return self._write(name, "follow_workers", fields, condition="cost_since = :since",
                           values={":since": before.cost_since.isoformat()})

    def mark_ready(self, name: str) -> ClusterRecord | None:
        """Only a CREATING cluster becomes READY: a destroy that began meanwhile wins."""
        return self._write(name, "mark_ready", {"step": "Ready"})

    def claim(self, record: ClusterRecord, claim: Claim, at: int,
              quota: tuple[int, int] | None = None) -> ClusterRecord:
        """Claim workers for a scale or adapt of a READY cluster (`record`, as read):
        its count rises to the claim's workers, on the owner's counter too and within
        `quota`, in one transaction; the record with the claim. ClusterBusy when it is
        not READY, has changed since read, or another change of it holds a claim that
        has not lapsed by `at`: one change of a cluster at a time. A dead Lambda's claim
        stays counted until the cluster's next change or the nightly recount."""
        before = record.counted
        more = max(0, claim.workers - before) if before is not None else 0
        fields: dict[str, Any] = {"claim": claim.model_copy(update={"counted": before})
                                  .model_dump()}
        values: dict[str, Any] = {":at": at}
        condition = "(attribute_not_exists(claim) OR claim.lapses < :at) AND "
        if before is None:  # a record from before the counters: not counted
            condition += "attribute_not_exists(counted)"
        else:
            condition += "counted = :c"
            values[":c"] = before
        if more:
            fields["counted"] = before + more  # type: ignore[operator]
        claimed = self._write(record.name, "claim", fields, condition=condition, values=values,
                              tally=Tally(record.owner, 0, more, quota) if more else None)
        if claimed is None:
            raise ClusterBusy(f"cluster {record.name!r} is not READY or is being scaled")
        return claimed

    def release(self, claimed: ClusterRecord, holder: str) -> None:
        """Withdraw a claim whose change was refused or failed, if it is still `holder`'s,
        giving back what it added to the count."""
        claim = claimed.claim
        back = claim.counted if claim is not None else None
        if back is None or claimed.counted is None or back == claimed.counted:
            self._write(claimed.name, remove=("claim",), condition="claim.holder = :h",
                        values={":h": holder}, returns=False)
            return
        self._write(claimed.name, None, {"counted": back}, remove=("claim",),
                    condition="claim.holder = :h AND counted = :c",
                    values={":h": holder, ":c": claimed.counted}, returns=False,
                    tally=Tally(claimed.owner, 0, back - claimed.counted))

    def _resized(self, name: str, intent: str, fields: dict[str, Any],
                 remove: tuple[str, ...], holder: str, claimed: ClusterRecord | None,
                 workers: int) -> ClusterRecord:
        """A new size recorded, ending `holder`'s claim (when given) in the same write;
        the record's count becomes `workers` (the most it may now run), and its owner's
        counter with it (`claimed`: the record as its claim left it)."""
        condition = ["claim.holder = :h"] if holder else []
        values: dict[str, Any] = {":h": holder} if holder else {}
        tally = None
        if claimed is not None and claimed.counted is not None and \
                claimed.counted != workers:
            fields = {**fields, "counted": workers}
            condition.append("counted = :c")
            values[":c"] = claimed.counted
            tally = Tally(claimed.owner, 0, workers - claimed.counted)
        record = self._write(name, intent, fields, remove=remove + (("claim",) if holder else ()),
                             condition=" AND ".join(condition), values=values or None,
                             tally=tally)
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is not READY")
        return record

    def scale(self, name: str, spec: ClusterSpec, cost_per_hour: float,
              holder: str = "", claimed: ClusterRecord | None = None) -> ClusterRecord:
        """A fixed size: adaptive scaling, if on, is off from now on."""
        return self._resized(name, "scale", {"spec": spec.model_dump(mode="json"),
                                             "cost_per_hour": cost_per_hour},
                             ("adapt",), holder, claimed, spec.workers)

    def adapt(self, name: str, adapt: Adapt | None, holder: str = "",
              claimed: ClusterRecord | None = None) -> ClusterRecord:
        """Adaptive scaling within `adapt`'s bounds, or off (None)."""
        # The lifecycle fills a missing maximum before it records one (lifecycle.adapt_cluster).
        most = adapt.maximum if adapt else None
        workers = most if most is not None else claimed.spec.workers if claimed else 0
        return self._resized(name, "adapt", {"adapt": adapt.model_dump()} if adapt else {},
                             () if adapt else ("adapt",), holder, claimed, workers)

    def begin_rollback(self, name: str, state: str, error: str) -> ClusterRecord | None:
        """A failed create starts removing what it made; None when a destroy already runs."""
        return self._write(name, "begin_rollback", {"step": state, "error": error, **CLEAR_TOKENS})

    def request_destroy(self, name: str, notify: list[Notify] | None,
                        execution_arn: str, reason: str = "") -> ClusterRecord:
        """`notify`, when given, replaces who hears the outcome (the destroy's requester);
        `reason` says why the system destroys it (the owner is told)."""
        fields: dict[str, Any] = {"step": "Queued", "execution_arn": execution_arn,
                                  **CLEAR_TOKENS, **({"destroy_reason": reason} if reason
                                                     else {})}
        if notify is not None:
            fields["notify"] = [n.model_dump() for n in notify]
        record = self._write(name, "request_destroy", fields)
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
        fields = {"step": state, **({"error": error} if error else {})}
        return self._write(name, "finish", fields, status=status)

    # Last: below this, `list` in an annotation would name this method.
    def list(self) -> list[ClusterRecord]:
        """Every record, by Scan: for tests and the operator's tools only; no request
        path calls it (tests/functional/test_registry_scale.py records the calls)."""
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table, ConsistentRead=True,
            FilterExpression="attribute_exists(#s)", ExpressionAttributeNames={"#s": "spec"})
        return sorted((_record(i) for page in pages for i in page["Items"]),
                      key=lambda r: r.name)
