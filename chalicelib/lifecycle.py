"""Starting and stopping the state machines for a cluster. Used by every trigger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.errors import ClusterBusy, InvalidRequest
from chalicelib.models import ClusterRecord, ClusterSpec, Notify, Status
from chalicelib.runtime import Runtime
from chalicelib.services import scale
from chalicelib.settings import Settings


def _execution_name(cluster: str, kind: str) -> str:
    return f"{cluster}-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def create_cluster(rt: Runtime, spec: ClusterSpec, requested_by: str = "api",
                   notify: list[Notify] | None = None) -> ClusterRecord:
    """Check limits, record the cluster (once per name) and start the create machine.
    If the execution cannot start, the record is marked FAILED: nothing else was made."""
    problems = spec.check_limits(rt.settings)
    if problems:
        raise InvalidRequest("; ".join(f"{field}: {why}" for field, why in problems))
    record = rt.registry.create(spec, requested_by, notify)
    try:
        arn = rt.clients.sfn.start_execution(
            stateMachineArn=rt.settings.create_state_machine_arn,
            name=_execution_name(spec.name, "create"),
            input=json.dumps({"cluster": spec.name}))["executionArn"]
    except ClientError as exc:
        rt.registry.update(spec.name, status=Status.FAILED.value,
                           error=f"could not start: {exc.response['Error']['Code']}")
        raise
    return rt.registry.update(spec.name, execution_arn=arn) or record


def destroy_cluster(rt: Runtime, name: str, notify: list[Notify] | None = None) -> ClusterRecord:
    """Stop a create still running (so it makes nothing more), then start the destroy.
    `notify`, when given, replaces who hears the outcome (the destroy's requester)."""
    record = rt.registry.require(name)
    if record.status == Status.DELETED:
        raise ClusterBusy(f"cluster {name!r} is already deleted")
    extra: dict[str, Any] = {}
    if notify is not None:
        extra["notify"] = [n.model_dump() for n in notify]
    updated = rt.registry.update(
        name, condition="#status <> :deleting",
        condition_values={":deleting": Status.DELETING.value},
        status=Status.DELETING.value, step="Queued", **extra)
    if updated is None:
        raise ClusterBusy(f"cluster {name!r} is already being deleted")
    if record.status == Status.CREATING and record.execution_arn:
        try:
            rt.clients.sfn.stop_execution(executionArn=record.execution_arn,
                                          cause="destroy requested")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
    arn = start_destroy(rt.clients.sfn, rt.settings, name, Status.DELETED)
    return rt.registry.update(name, execution_arn=arn) or updated


def start_destroy(sfn: Any, settings: Settings, name: str, final_status: Status) -> str:
    """Start the destroy machine; it ends by setting `final_status` (DELETED, or FAILED
    when it is the rollback of a failed create)."""
    return str(sfn.start_execution(
        stateMachineArn=settings.destroy_state_machine_arn,
        name=_execution_name(name, "destroy"),
        input=json.dumps({"cluster": name, "final_status": final_status.value}))["executionArn"])


def scale_cluster(rt: Runtime, name: str, workers: int) -> ClusterRecord:
    record = rt.registry.require(name)
    if record.status != Status.READY:
        raise ClusterBusy(f"cluster {name!r} is {record.status.value}, not READY")
    if workers > rt.settings.max_workers:
        raise InvalidRequest(f"workers: at most {rt.settings.max_workers} workers are allowed")
    scale(rt.clients.ecs, name, "worker", workers)
    spec = record.spec.model_copy(update={"workers": workers})
    return rt.registry.update(name, spec=spec.model_dump(mode="json")) or record
