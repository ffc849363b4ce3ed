"""Cluster records in DynamoDB, and the one place their status changes.

Callers say what happened (`mark_ready`, `begin_rollback`, `request_destroy`, ...);
`TRANSITIONS` says from which statuses each intent is allowed and which status it
sets, and every write that must not race is a conditional write built from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.core.errors import ClusterBusy, ClusterExists, ClusterNotFound
from chalicelib.core.models import (
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
# Tokens die with the create: a late event must not complete a wait of a destroyed cluster.
CLEAR_TOKENS = {"task_token": "", "image_token": ""}  # nosec B105  # empty: clears the tokens


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


class Registry:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

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

    # --- the one write path --------------------------------------------------------

    def _write(self, name: str, intent: str | None = None, fields: dict[str, Any] | None = None,
               *, status: Status | None = None, condition: str = "",
               values: dict[str, Any] | None = None, remove: tuple[str, ...] = (),
               paths: dict[str, str] | None = None, returns: bool = True) -> \
            ClusterRecord | None:
        """Set `fields` (and `paths`, nested names like 'inflight.X' -> value key) when
        `intent` is allowed from the current status and `condition` holds; returns the
        new record (with `returns`), or None when either did not hold. Writes whose
        caller needs no record ask for none: the whole item is the bulk of a reply."""
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
        try:
            out = self.dynamodb.update_item(
                TableName=self.table, Key=_to_item({"name": name}), UpdateExpression=expr,
                ConditionExpression=" AND ".join(cond), ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item(vals),
                ReturnValues="ALL_NEW" if returns else "NONE")
        except ClientError as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _record(out["Attributes"]) if returns else None

    # --- intents ---------------------------------------------------------------------

    def create(self, spec: ClusterSpec, owner: str, notify: list[Notify],
               execution_arn: str, cost_per_hour: float = 0.0) -> ClusterRecord:
        """Record a new cluster as CREATING; a name exists once while it is live."""
        at = now()
        record = ClusterRecord(
            name=spec.name, status=S.CREATING, step="Queued", spec=spec, created_at=at,
            updated_at=at, expires_at=at + timedelta(hours=spec.ttl_hours) if spec.ttl_hours
            else None, owner=owner, notify=notify, execution_arn=execution_arn,
            cost_per_hour=cost_per_hour)
        reusable = {f":r{i}": s.value for i, s in enumerate(sorted(REUSABLE))}
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=_to_item(record.model_dump(mode="json")),
                ConditionExpression=f"attribute_not_exists(#n) OR #s IN ({', '.join(reusable)})",
                ExpressionAttributeNames={"#n": "name", "#s": "status"},
                ExpressionAttributeValues=_to_item(reusable))
        except ClientError as exc:
            if _conditional_failure(exc):
                raise ClusterExists(f"cluster {spec.name!r} already exists") from exc
            raise
        return record

    def withdraw(self, name: str, execution_arn: str) -> None:
        """Forget a record `create` just wrote whose execution never started (a quota
        passed by concurrent creates): the name is free again, nothing was made."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table, Key=_to_item({"name": name}),
                ConditionExpression="#s = :s AND execution_arn = :arn",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_to_item({":s": S.CREATING.value,
                                                    ":arn": execution_arn}))
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

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

    def claim(self, name: str, claim: Claim, at: int) -> ClusterRecord:
        """Claim workers for a scale or adapt of a READY cluster, written before its
        owner's workers are counted (as `create` writes the record first); the record
        with the claim. ClusterBusy when it is not READY or another change of it holds
        a claim that has not lapsed by `at`: one change of a cluster at a time."""
        record = self._write(name, "claim", {"claim": claim.model_dump()},
                             condition="attribute_not_exists(claim) OR claim.lapses < :at",
                             values={":at": at})
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is not READY or is being scaled")
        return record

    def release(self, name: str, holder: str) -> None:
        """Withdraw a claim whose change was refused or failed, if it is still `holder`'s."""
        self._write(name, remove=("claim",), condition="claim.holder = :h",
                    values={":h": holder}, returns=False)

    def _resized(self, name: str, intent: str, fields: dict[str, Any],
                 remove: tuple[str, ...], holder: str) -> ClusterRecord:
        """A new size recorded, ending `holder`'s claim (when given) in the same write."""
        record = self._write(name, intent, fields, remove=remove + (("claim",) if holder else ()),
                             condition="claim.holder = :h" if holder else "",
                             values={":h": holder} if holder else None)
        if record is None:
            raise ClusterBusy(f"cluster {name!r} is not READY")
        return record

    def scale(self, name: str, spec: ClusterSpec, cost_per_hour: float,
              holder: str = "") -> ClusterRecord:
        """A fixed size: adaptive scaling, if on, is off from now on."""
        return self._resized(name, "scale", {"spec": spec.model_dump(mode="json"),
                                             "cost_per_hour": cost_per_hour},
                             ("adapt",), holder)

    def adapt(self, name: str, adapt: Adapt | None, holder: str = "") -> ClusterRecord:
        """Adaptive scaling within `adapt`'s bounds, or off (None)."""
        return self._resized(name, "adapt", {"adapt": adapt.model_dump()} if adapt else {},
                             () if adapt else ("adapt",), holder)

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
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table,
                                                             ConsistentRead=True)
        return sorted((_record(i) for page in pages for i in page["Items"]),
                      key=lambda r: r.name)
