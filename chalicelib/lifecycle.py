"""Starting and stopping the state machines for a cluster. Used by every trigger and
by the scheduled teardown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.errors import ClusterBusy, InvalidRequest
from chalicelib.core.models import ClusterRecord, ClusterSpec, Notify, Status
from chalicelib.core.observability import count
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.steps.services import scale


def _execution(machine_arn: str, cluster: str, kind: str) -> tuple[str, str]:
    """(name, ARN) of the execution about to start: Step Functions derives an execution's
    ARN from its machine's and its name, so the record can hold it before it starts."""
    name = f"{cluster}-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    return name, f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def create_cluster(rt: Runtime, spec: ClusterSpec, requested_by: str = "api",
                   notify: list[Notify] | None = None) -> ClusterRecord:
    """Check limits, record the cluster (once per name) and start the create machine.
    If the execution cannot start, the record is marked FAILED: nothing else was made."""
    problems = spec.check_limits(rt.settings)
    if problems:
        raise InvalidRequest("; ".join(f"{field}: {why}" for field, why in problems))
    machine = rt.settings.create_state_machine_arn
    name, arn = _execution(machine, spec.name, "create")
    record = rt.registry.create(spec, requested_by, notify or [], arn)
    try:
        rt.clients.sfn.start_execution(stateMachineArn=machine, name=name,
                                       input=json.dumps({"cluster": spec.name}))
    except ClientError as exc:
        rt.registry.start_failed(spec.name, f"could not start: {exc.response['Error']['Code']}")
        raise
    count("ClustersRequested")
    return record


def destroy_cluster(rt: Runtime, name: str, notify: list[Notify] | None = None) -> ClusterRecord:
    """Stop a create still running (so it makes nothing more), then start the destroy.
    `notify`, when given, replaces who hears the outcome (the destroy's requester)."""
    before = rt.registry.require(name)
    machine = rt.settings.destroy_state_machine_arn
    execution, arn = _execution(machine, name, "destroy")
    record = rt.registry.request_destroy(name, notify, arn)
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


def scale_cluster(rt: Runtime, name: str, workers: int) -> ClusterRecord:
    record = rt.registry.require(name)
    if record.status != Status.READY:
        raise ClusterBusy(f"cluster {name!r} is {record.status.value}, not READY")
    if workers > rt.settings.max_workers:
        raise InvalidRequest(f"workers: at most {rt.settings.max_workers} workers are allowed")
    scale(rt.clients.ecs, rt.names(name), "worker", workers)
    return rt.registry.scale(name, record.spec.model_copy(update={"workers": workers}))
