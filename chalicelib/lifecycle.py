"""Starting and stopping the state machines for a cluster. Used by every trigger and
by the scheduled teardown."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import identity, pricing
from chalicelib.core.errors import (
    ClusterBusy,
    ClusterNotFound,
    DriveForbidden,
    DriveNotFound,
    InvalidRequest,
    QuotaExceeded,
)
from chalicelib.core.identity import Caller
from chalicelib.core.models import (
    LIVE_STATUSES,
    Adapt,
    Claim,
    ClusterRecord,
    ClusterSpec,
    DriveRecord,
    Notify,
    Status,
)
from chalicelib.core.observability import count
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.scheduler import delete_adapt, put_parameter
from chalicelib.steps.services import scale

# How long a scale's or adapt's claim on its owner's quota holds should its Lambda die
# before it ends: twice the Lambdas' 60 s timeout.
CLAIM_SECONDS = 120


def _execution(machine_arn: str, cluster: str, kind: str) -> tuple[str, str]:
    """(name, ARN) of the execution about to start: Step Functions derives an execution's
    ARN from its machine's and its name, so the record can hold it before it starts."""
    name = f"{cluster}-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    return name, f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def owned(rt: Runtime, name: str, caller: Caller) -> ClusterRecord:
    """The record of `name` if `caller` may see it; someone else's cluster answers
    exactly as a missing one does, so names of others' clusters do not leak."""
    record = rt.registry.get(name)
    if record is None or not caller.owns(record.owner):
        raise ClusterNotFound(f"no cluster named {name!r}")
    return record


def visible(rt: Runtime, caller: Caller) -> list[ClusterRecord]:
    return [r for r in rt.registry.list() if caller.owns(r.owner)]


def claim_drive(rt: Runtime, name: str, caller: Caller) -> DriveRecord:
    """The named drive a create by `caller` may use: the first create naming a drive makes
    its caller the owner; after that, its owner, admins and the principals the owner
    shares it with. Anyone else is refused before anything is made, told no more than
    that (not whose it is): their code must never run beside the owner's files."""
    drive = rt.drives.claim(name, caller.id)
    if not caller.may_use(drive.owner, drive.shares):
        raise DriveForbidden(f"drive: {name!r} is not yours and not shared with you")
    return drive


def owned_drive(rt: Runtime, name: str, caller: Caller) -> DriveRecord:
    """The record of drive `name` if `caller` owns it (or is an admin); anyone else's
    drive answers as a missing one."""
    drive = rt.drives.get(name)
    if drive is None or not caller.owns(drive.owner):
        raise DriveNotFound(f"no drive named {name!r} of yours")
    return drive


def share_drive(rt: Runtime, name: str, principals: list[str], *,
                caller: Caller) -> DriveRecord:
    """Whom the drive is shared with, replaced: each of them may name it in a create
    (their clusters get a root of their own on it). Its owner's or an admin's call."""
    drive = owned_drive(rt, name, caller)
    shared = rt.drives.share(name, drive.owner, principals)
    if shared is None:  # the owner never changes: only a drive gone from the table
        raise DriveNotFound(f"no drive named {name!r} of yours")
    return shared


def most_workers(record: ClusterRecord, *, claimed: bool = True) -> int:
    """The workers a cluster may run: its adaptive maximum when it adapts; more while a
    scale or adapt of it (`claimed`) holds a claim to more that has not lapsed."""
    adapt = record.adapt
    most = adapt.maximum if adapt and adapt.maximum is not None else record.spec.workers
    claim = record.claim
    if claimed and claim is not None and claim.lapses >= time.time():
        return max(most, claim.workers)
    return most


def _check_quota(rt: Runtime, owner: Caller, workers: int, *, adding: str = "",
                 replacing: str = "") -> None:
    """QuotaExceeded if the owner's live clusters, with `adding` (a new cluster) and
    `workers` more workers on `replacing` (or the new one), pass the stage's quota.
    Admins and the stage's schedules have none."""
    if owner.admin:
        return
    settings = rt.settings
    live = [r for r in rt.registry.list()
            if r.owner == owner.id and r.status in LIVE_STATUSES and r.name != replacing]
    clusters = len({r.name for r in live} | ({adding} if adding else set()))
    total = sum(most_workers(r) for r in live if r.name != adding) + workers
    if clusters > settings.quota_clusters:
        raise QuotaExceeded(f"quota: at most {settings.quota_clusters} live clusters per "
                            f"owner; {owner.id} has {clusters - 1 if adding else clusters}")
    if total > settings.quota_workers:
        raise QuotaExceeded(f"quota: at most {settings.quota_workers} workers per owner over "
                            f"all clusters; this would make {total}")


def create_cluster(rt: Runtime, spec: ClusterSpec, *, caller: Caller,
                   notify: list[Notify] | None = None) -> ClusterRecord:
    """Check limits and the caller's right to a named drive, record the cluster (once per
    name), check the owner's quota and start the create machine. The quota is counted
    after the record is written, so that concurrent creates of one owner each see the
    others (a refused one withdraws its record; none starts anything). If the execution
    cannot start, the record is marked FAILED: nothing else was made."""
    problems = spec.check_limits(rt.settings)
    if problems:
        raise InvalidRequest("; ".join(f"{field}: {why}" for field, why in problems))
    if spec.drive:
        claim_drive(rt, spec.drive, caller)
    machine = rt.settings.create_state_machine_arn
    name, arn = _execution(machine, spec.name, "create")
    record = rt.registry.create(spec, caller.id, notify or [], arn,
                                cost_per_hour=_cost(rt, spec))
    try:
        _check_quota(rt, caller, spec.workers, adding=spec.name)
    except QuotaExceeded:
        rt.registry.withdraw(spec.name, arn)
        raise
    try:
        rt.clients.sfn.start_execution(stateMachineArn=machine, name=name,
                                       input=json.dumps({"cluster": spec.name}))
    except ClientError as exc:
        rt.registry.start_failed(spec.name, f"could not start: {exc.response['Error']['Code']}")
        raise
    count("ClustersRequested")
    return record


def destroy_cluster(rt: Runtime, name: str, *, caller: Caller,
                    notify: list[Notify] | None = None, reason: str = "") -> ClusterRecord:
    """Stop a create still running (so it makes nothing more), then start the destroy.
    `notify`, when given, replaces who hears the outcome (the destroy's requester);
    `reason`, why the system destroys it, is recorded and told to the owner."""
    before = owned(rt, name, caller)
    machine = rt.settings.destroy_state_machine_arn
    execution, arn = _execution(machine, name, "destroy")
    record = rt.registry.request_destroy(name, notify, arn, reason)
    if before.status == Status.CREATING and before.execution_arn:
        try:
            rt.clients.sfn.stop_execution(executionArn=before.execution_arn,
                                          cause="destroy requested")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
    _start_destroy(rt.clients.sfn, machine, execution, name, Status.DELETED)
    return record


def start_destroy(sfn: Any, settings: Settings, name: str, final_status: Status) -> str:
    """Start the destroy machine on what is left of `name` (the sweeper); it ends by
    setting `final_status`."""
    machine = settings.destroy_state_machine_arn
    execution, arn = _execution(machine, name, "destroy")
    _start_destroy(sfn, machine, execution, name, final_status)
    return arn


def _start_destroy(sfn: Any, machine: str, execution: str, name: str,
                   final_status: Status) -> None:
    sfn.start_execution(stateMachineArn=machine, name=execution,
                        input=json.dumps({"cluster": name, "final_status": final_status.value}))


def _resize(rt: Runtime, name: str, workers: int,
            change: Callable[[ClusterRecord, str], ClusterRecord]) -> ClusterRecord:
    """`change(record, holder)` (which applies the new size and records it, ending the
    claim) once the cluster's owner may run `workers` on it. The claim is written before
    the owner's workers are counted, as create writes its record first: of concurrent
    changes of one owner's clusters, each sees the claims of those that counted before
    it, so none passes the quota (a refused or failed one withdraws its claim). A change
    that does not raise the cluster's workers is not counted. The quota is the owner's,
    whoever scales (an admin scaling someone's cluster too)."""
    holder = uuid.uuid4().hex
    record = rt.registry.claim(name, Claim(workers=workers, holder=holder,
                                           lapses=int(time.time()) + CLAIM_SECONDS),
                               int(time.time()))
    try:
        if workers > most_workers(record, claimed=False):
            _check_quota(rt, identity.caller(record.owner, rt.settings), workers,
                         replacing=name)
        return change(record, holder)
    except BaseException:
        rt.registry.release(name, holder)
        raise


def scale_cluster(rt: Runtime, name: str, workers: int, *, caller: Caller) -> ClusterRecord:
    record = owned(rt, name, caller)
    if record.status != Status.READY:
        raise ClusterBusy(f"cluster {name!r} is {record.status.value}, not READY")
    if workers > rt.settings.max_workers:
        raise InvalidRequest(f"workers: at most {rt.settings.max_workers} workers are allowed")

    def change(record: ClusterRecord, holder: str) -> ClusterRecord:
        if record.adapt:  # a fixed size turns adaptive scaling off, as dask-gateway does
            delete_adapt(rt.clients, rt.names(name))
        scale(rt.clients.ecs, rt.names(name), "worker", workers)
        spec = record.spec.model_copy(update={"workers": workers})
        return rt.registry.scale(name, spec, _cost(rt, spec), holder)

    return _resize(rt, name, workers, change)


def _cost(rt: Runtime, spec: ClusterSpec) -> float:
    return pricing.hourly(spec, rt.settings.prices, public_ips=rt.settings.assign_public_ip)


def adapt_cluster(rt: Runtime, name: str, adapt: Adapt | None, *,
                  caller: Caller) -> ClusterRecord:
    """Adaptive scaling within `adapt` (None: off), carried out by the scheduler, which
    reads its bounds from the cluster's adapt parameter. The maximum counts against the
    owner's worker quota as if the cluster ran that many workers."""
    record = owned(rt, name, caller)
    if record.status != Status.READY:
        raise ClusterBusy(f"cluster {name!r} is {record.status.value}, not READY")
    names = rt.names(name)
    if adapt is None:
        delete_adapt(rt.clients, names)
        return rt.registry.adapt(name, None)
    if adapt.maximum is None:
        adapt = adapt.model_copy(update={"maximum": _most_allowed(rt, record, adapt.minimum)})
    assert adapt.maximum is not None
    if adapt.maximum > rt.settings.max_workers:
        raise InvalidRequest(f"maximum: at most {rt.settings.max_workers} workers are allowed")

    def change(_: ClusterRecord, holder: str) -> ClusterRecord:
        # The parameter first: should the record's write fail (a destroy began), the
        # destroy removes the parameter with the scheduler.
        put_parameter(rt.clients, names, names.adapt_parameter(), adapt.model_dump_json())
        return rt.registry.adapt(name, adapt, holder)

    return _resize(rt, name, adapt.maximum, change)


def _most_allowed(rt: Runtime, record: ClusterRecord, minimum: int) -> int:
    """An adapt without a maximum: the stage's maximum workers, less what the owner's
    other live clusters hold of their quota (admins have none); never below `minimum`,
    so a quota already spent is refused by the quota check, not by an empty range."""
    settings = rt.settings
    owner = identity.caller(record.owner, settings)
    if owner.admin:
        return settings.max_workers
    others = sum(most_workers(r) for r in rt.registry.list()
                 if r.owner == owner.id and r.status in LIVE_STATUSES and r.name != record.name)
    return max(minimum, min(settings.max_workers, settings.quota_workers - others))
