"""The HTTP API's domain side: parse and validate a request, then call lifecycle on the
caller's behalf. Every refusal is a named error (carrying its HTTP status) raised
before anything is created; someone else's cluster answers as a missing one."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from chalicelib import lifecycle, timeline
from chalicelib.core import page_tokens, signing
from chalicelib.core.errors import ClusterBusy, DoctorFailed, Forbidden, InvalidRequest
from chalicelib.core.identity import Caller
from chalicelib.core.models import (
    Adapt,
    ClusterSpec,
    Credentials,
    DriveShares,
    Status,
    Strict,
)
from chalicelib.core.numbers import whole_number
from chalicelib.core.registry import STATUS_ORDER
from chalicelib.core.runtime import Runtime
from chalicelib.core.tls import ClusterTls
from chalicelib.triggers.requests import check_name, parse


class ScaleRequest(Strict):
    workers: Annotated[int, Field(ge=0)]


def create(rt: Runtime, caller: Caller, body: bytes | None) -> dict[str, Any]:
    return lifecycle.create_cluster(rt, parse(ClusterSpec, body), caller=caller).public()


def get(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    return lifecycle.owned(rt, check_name(name), caller).public()


def credentials(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    """What a client needs to connect to a READY cluster: the scheduler's address, the
    cluster's CA, the client certificate and key, and the Jupyter token when it has a
    notebook. Owner or admin only, checked before any secret is read. Secret: the caller
    must never log it, and the record never holds it."""
    record = lifecycle.owned(rt, check_name(name), caller)
    if record.status != Status.READY:
        raise ClusterBusy(f"{name} is {record.status.value}: only a READY cluster has "
                          "credentials")
    secrets = rt.clients.secrets
    material = ClusterTls.from_json(secrets.get_secret_value(
        SecretId=record.resources.credentials_secret or rt.names(name).credentials_secret())[
        "SecretString"])
    return Credentials(
        address=record.scheduler.address, ca=material.ca, cert=material.client_cert,
        key=material.client_key,
        jupyter_token=material.jupyter_token if record.spec.notebook else None,
        dashboard_token=material.jupyter_token).model_dump()


def logs(rt: Runtime, caller: Caller, name: str, query: dict[str, str]) -> dict[str, Any]:
    """A page of what the cluster's tasks printed (chalicelib.logs), owner or admin only:
    `role`, `since` (ms since the epoch), `limit`, `next_token` from the query."""
    from chalicelib import logs as task_logs

    record = lifecycle.owned(rt, check_name(name), caller)
    unknown = set(query) - {"role", "since", "limit", "next_token"}
    if unknown:
        raise InvalidRequest(f"{sorted(unknown)[0]}: not a parameter (role, since, limit, "
                             "next_token)")
    numbers = {key: whole_number(query[key], key) for key in ("since", "limit") if key in query}
    group = record.resources.log_group or rt.names(name).log_group()
    page = task_logs.read(rt.clients.logs, group, role=query.get("role"),
                          since=numbers.get("since"),
                          limit=numbers.get("limit", task_logs.DEFAULT_LIMIT),
                          token=query.get("next_token"))
    return {"cluster": name, **page}


def events(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    """The steps of the cluster's latest execution (its create, or its destroy once one
    began), from the execution's history: every state it entered, with start, end and
    outcome. Owner or admin, as the record itself."""
    record = lifecycle.owned(rt, check_name(name), caller)
    steps, ended = timeline.read(rt.clients.sfn, record.execution_arn) \
        if record.execution_arn else ([], True)
    return {"name": record.name, "status": record.status.value,
            "execution_arn": record.execution_arn, "execution_ended": ended, "steps": steps}


LIST_PARAMETERS = ("limit", "next_token", "status", "owner")
OWNER_MAX = 512  # an IAM ARN, a Slack or webhook id: far below DynamoDB's 2,048-byte keys


def list_all(rt: Runtime, caller: Caller, query: dict[str, str] | None = None) -> \
        dict[str, Any]:
    """A page of the clusters the caller may see: `limit` (at most lifecycle.MAX_PAGE),
    `status` (one, or several comma-separated), `owner` (admins), and the `next_token`
    the previous page returned (null on the last page)."""
    query = query or {}
    unknown = set(query) - set(LIST_PARAMETERS)
    if unknown:
        raise InvalidRequest(f"{sorted(unknown)[0]}: not a parameter "
                             f"({', '.join(LIST_PARAMETERS)})")
    limit = whole_number(query["limit"], "limit") if "limit" in query else \
        lifecycle.DEFAULT_PAGE
    if not 1 <= limit <= lifecycle.MAX_PAGE:
        raise InvalidRequest(f"limit: from 1 to {lifecycle.MAX_PAGE}")
    statuses = []
    for value in filter(None, query.get("status", "").split(",")):
        try:
            statuses.append(Status(value))
        except ValueError:
            raise InvalidRequest(f"status: {value!r} is none of "
                                 f"{', '.join(s.value for s in Status)}") from None
    chosen = tuple(s for s in STATUS_ORDER if s in statuses)  # one order, whatever the spelling
    owner = query.get("owner") or None
    if owner is not None and len(owner) > OWNER_MAX:
        raise InvalidRequest(f"owner: at most {OWNER_MAX} characters (an owner id)")
    # The token is good for this caller's list with these filters only.
    scope = json.dumps([caller.id, owner, [s.value for s in chosen]])
    secret = signing.secret(rt.clients, rt.settings.webhook_secret_id)
    token = query.get("next_token")
    records, cursor = lifecycle.list_clusters(
        rt, caller, owner=owner, statuses=chosen, limit=limit,
        cursor=page_tokens.unseal(secret, scope, token) if token else None)
    return {"clusters": [r.public() for r in records],
            "next_token": page_tokens.seal(secret, scope, cursor) if cursor else None}


def scale(rt: Runtime, caller: Caller, name: str, body: bytes | None) -> dict[str, Any]:
    request = parse(ScaleRequest, body)
    return lifecycle.scale_cluster(rt, check_name(name), request.workers,
                                   caller=caller).public()


class AdaptOff(Strict):
    minimum: None
    maximum: None


def adapt(rt: Runtime, caller: Caller, name: str, body: bytes | None) -> dict[str, Any]:
    """Adaptive scaling within {"minimum", "maximum"}; both null turns it off."""
    try:
        parse(AdaptOff, body)
        bounds = None
    except InvalidRequest:
        bounds = parse(Adapt, body)  # its errors name the field and why
    return lifecycle.adapt_cluster(rt, check_name(name), bounds, caller=caller).public()


def adapt_off(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    return lifecycle.adapt_cluster(rt, check_name(name), None, caller=caller).public()


def delete(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    return lifecycle.destroy_cluster(rt, check_name(name), caller=caller).public()


def drive(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    """A named drive's owner and shares, to its owner or an admin."""
    return lifecycle.owned_drive(rt, check_name(name), caller).model_dump(mode="json")


def share_drive(rt: Runtime, caller: Caller, name: str, body: bytes | None) -> dict[str, Any]:
    request = parse(DriveShares, body)
    return lifecycle.share_drive(rt, check_name(name), request.principals,
                                 caller=caller).model_dump(mode="json")


def doctor(rt: Runtime, caller: Caller) -> dict[str, Any]:
    """The preflight checks of the stage (chalicelib/doctor.py), admins only: they run in
    the Doctor Lambda, with the steps' permissions, which this API's role has not."""
    if not caller.admin:
        raise Forbidden("the doctor is for the stage's admins (DASKYARD_ADMINS)")
    answer = rt.clients.lambda_.invoke(FunctionName=rt.settings.doctor_function,
                                       Payload=b"{}")
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise DoctorFailed(f"the doctor failed: {payload.get('errorType', 'error')}: "
                           f"{payload.get('errorMessage', '')}")
    return dict(payload)
