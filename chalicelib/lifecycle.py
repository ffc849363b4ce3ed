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

from chalicelib.core import identity, pricing, quotas
from chalicelib.core.errors import (
    ClusterBusy,
    ClusterNotFound,
    DriveForbidden,
    DriveNotFound,
    Forbidden,
    InvalidRequest,
    QuotaExceeded,
)
from chalicelib.core.identity import Caller
from chalicelib.core.models import (
    Adapt,
    Claim,
    ClusterRecord,
    ClusterSpec,
    DriveRecord,
    Notify,
    Status,
)
from chalicelib.core.observability import count
from chalicelib.core.registry import Cursor, Query
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.parameters import delete_adapt, put_parameter
from chalicelib.steps import spare_drives
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


# A page of the cluster list: at most this many records (API Gateway's and Lambda's
# response limits are far above MAX_PAGE whole records).
DEFAULT_PAGE = 50
MAX_PAGE = 200


def list_clusters(rt: Runtime, caller: Caller, *, owner: str | None = None,
                  statuses: tuple[Status, ...] = (), limit: int = DEFAULT_PAGE,
                  cursor: Cursor | None = None) -> tuple[list[ClusterRecord], Cursor | None]:
    """A page of the clusters `caller` may see, by Query on the registry's indexes: a
    caller's own (under its id, and the exact ARNs it owned under before owners were
    principal ids; records under a role's session ARNs, which it owns by prefix, are
    not listed: GET them by name), or (admins) `owner`'s or every owner's; in
    `statuses` when given."""
    if owner is not None and owner != caller.id and not caller.admin:
        raise Forbidden("owner: only the stage's admins may list another owner's clusters")
    scope = (owner,) if owner is not None else \
        (None if caller.admin else tuple(dict.fromkeys((caller.id, *caller.former))))
    return rt.registry.page(Query(scope, statuses), max(1, min(limit, MAX_PAGE)), cursor)


def visible_live(rt: Runtime, caller: Caller) -> list[ClusterRecord]:
    """The live clusters `caller` may see (all of them: a Slack answer's list)."""
    return sorted(rt.registry.live(None if caller.admin else caller.id), key=lambda r: r.name)


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
    claim = record.lease.claim
    if claimed and claim is not None and claim.lapses >= time.time():
        return max(most, claim.workers)
    return most


def quota(rt: Runtime, owner: Caller) -> tuple[int, int] | None:
    """The owner's (live clusters, workers) quota; admins and the stage's schedules have
    none. The quota is the owner's, whoever acts (an admin scaling someone's cluster)."""
    return None if owner.admin else (rt.settings.quota_clusters, rt.settings.quota_workers)


def within_account_quotas(rt: Runtime, spec: ClusterSpec) -> None:
    """Refuse, before anything is made, a cluster that would pass one of the account's
    quotas it uses, where AWS would refuse it halfway through the create as an opaque
    error: its Fargate vCPUs with the stage's live clusters' against the applied Fargate
    quotas; its scheduler's role against the IAM roles quota; its file system, if it
    makes one, against the EFS file systems quota. Only an applied Fargate quota
    refuses: AWS raises an account's Fargate quota with its use, so a quota Service
    Quotas knows only the documented default of may be higher (the doctor warns of
    those); the roles and file systems quotas are hard, default or not. Fargate tasks of
    other stages or of anything else in the account are not seen here; roles and file
    systems are the account's, whoever made them."""
    need = quotas.fargate_vcpus(spec)
    held = quotas.held_vcpus(rt) if need else {}
    for kind, vcpus in need.items():
        value, default = quotas.quota(rt, *kind)
        if not default and held.get(kind, 0.0) + vcpus > value:
            raise QuotaExceeded(
                f"{quotas.NAMES[kind]}: this cluster needs {vcpus:g}, the stage's live "
                f"clusters hold {held.get(kind, 0.0):g}, and the account's quota "
                f"({kind[1]}) is {value:g} in {rt.clients.region}; fewer or smaller "
                "workers, destroy a cluster, or ask AWS for more (Service Quotas)")
    used, limit = quotas.roles(rt)
    if used + 1 > limit:  # each cluster makes its scheduler's role
        raise QuotaExceeded(
            f"{quotas.NAMES[quotas.IAM_ROLES]} ({' '.join(quotas.IAM_ROLES)}): the account "
            f"has {used} of its quota of {limit} and this cluster makes its scheduler's "
            "role; destroy a cluster, delete unused roles, or ask AWS for more "
            "(Service Quotas)")
    systems = quotas.file_systems(rt)
    if _makes_file_system(rt, spec, systems):
        value, default = quotas.quota(rt, *quotas.EFS_FILE_SYSTEMS)
        if len(systems) + 1 > value:
            raise QuotaExceeded(
                f"{quotas.NAMES[quotas.EFS_FILE_SYSTEMS]} "
                f"({' '.join(quotas.EFS_FILE_SYSTEMS)}): the account has {len(systems)} "
                f"in {rt.clients.region} of its quota of {value:g}"
                f"{' (AWS default)' if default else ''} and this cluster makes one; name "
                "an existing drive, destroy a cluster, delete unused file systems, or ask "
                "AWS for more (Service Quotas)")


def _makes_file_system(rt: Runtime, spec: ClusterSpec, systems: list[dict[str, Any]]) -> bool:
    """Whether the create makes an EFS file system (EstablishSharedDrive): not for a named
    drive that exists, nor where it takes one of the stage's spare drives (made before,
    already counted; KeepSpareDrives' replacement may fail without failing the create)."""
    if spec.drive:
        token = rt.names(spec.name).drive(spec.drive)
        return not any(fs["CreationToken"] == token for fs in systems)
    if not rt.settings.spare_drives:
        return True
    return not any(spare_drives.waiting(fs)
                   for fs in spare_drives.among(rt.settings.stage, systems))


def create_cluster(rt: Runtime, spec: ClusterSpec, *, caller: Caller,
                   notify: list[Notify] | None = None) -> ClusterRecord:
    """Check limits, the account's quotas and the caller's right to a named drive,
    record the cluster (once per
    name) and count it on its owner's quota counter in one transaction, then start the
    create machine: of concurrent creates of one owner, exactly those that fit the quota
    are made. If the execution cannot start, the record is marked FAILED (and so no
    longer counted): nothing else was made."""
    problems = spec.check_limits(rt.settings)
    if problems:
        raise InvalidRequest("; ".join(f"{field}: {why}" for field, why in problems))
    within_account_quotas(rt, spec)
    if spec.drive:
        claim_drive(rt, spec.drive, caller)
    machine = rt.settings.create_state_machine_arn
    name, arn = _execution(machine, spec.name, "create")
    record = rt.registry.create(spec, caller.id, notify or [], arn,
                                cost_per_hour=_cost(rt, spec), quota=quota(rt, caller))
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


def _resize(rt: Runtime, record: ClusterRecord, workers: int,
            change: Callable[[ClusterRecord, str], ClusterRecord]) -> ClusterRecord:
    """`change(record, holder)` (which applies the new size and records it, ending the
    claim) once the cluster's owner may run `workers` on it. The claim raises the
    cluster's count, and its owner's counter within the quota, in one transaction before
    anything is applied: concurrent changes of one owner's clusters cannot pass the
    quota together (a refused one changes nothing; a failed one gives its claim back).
    A change that does not raise the cluster's count is never refused."""
    holder = uuid.uuid4().hex
    claimed = rt.registry.scaling.claim(record, Claim(workers=workers, holder=holder,
                                              lapses=int(time.time()) + CLAIM_SECONDS),
                                int(time.time()),
                                quota(rt, identity.caller(record.owner, rt.settings)))
    try:
        return change(claimed, holder)
    except BaseException:
        rt.registry.scaling.release(claimed, holder)
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
        return rt.registry.scaling.scale(name, spec, _cost(rt, spec), holder, claimed=record)

    return _resize(rt, record, workers, change)


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
        return rt.registry.scaling.adapt(name, None, claimed=record)
    if adapt.maximum is None:
        adapt = adapt.model_copy(update={"maximum": _most_allowed(rt, record, adapt.minimum)})
    assert adapt.maximum is not None
    if adapt.maximum > rt.settings.max_workers:
        raise InvalidRequest(f"maximum: at most {rt.settings.max_workers} workers are allowed")

    def change(claimed: ClusterRecord, holder: str) -> ClusterRecord:
        # The parameter first: should the record's write fail (a destroy began), the
        # destroy removes the parameter with the scheduler.
        put_parameter(rt.clients, names, names.adapt_parameter(), adapt.model_dump_json())
        return rt.registry.scaling.adapt(name, adapt, holder, claimed=claimed)

    return _resize(rt, record, adapt.maximum, change)


def _most_allowed(rt: Runtime, record: ClusterRecord, minimum: int) -> int:
    """An adapt without a maximum: the stage's maximum workers, less what the owner's
    other live clusters hold of their quota (their counter, less this cluster's count;
    admins have none); never below `minimum`, so a quota already spent is refused by the
    quota check, not by an empty range."""
    settings = rt.settings
    owner = identity.caller(record.owner, settings)
    if owner.admin:
        return settings.max_workers
    _, counted = rt.registry.quota.counter(record.owner)
    others = counted - (record.lease.counted or 0)
    return max(minimum, min(settings.max_workers, settings.quota_workers - others))
