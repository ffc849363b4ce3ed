"""docs/openapi.json, the HTTP API's contract: every route the Chalice app serves, its
request and answer schemas from the pydantic models the handlers use, its status codes
from the named errors it may raise (each error class carries its status), and the error
shape the app's middleware gives them.

    python -m deploy.openapi           # write docs/openapi.json
    python -m deploy.openapi --check   # exit 1 if writing would change it

A route the app serves that OPERATIONS does not describe (or the reverse) stops the
generation with its name, so a new route cannot go out without its contract.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice import IAMAuthorizer
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib import lifecycle
from chalicelib import logs as task_logs
from chalicelib.core import errors, numbers, signing
from chalicelib.core.models import (
    Adapt,
    Cluster,
    ClusterList,
    ClusterSpec,
    Credentials,
    DoctorReport,
    DriveRecord,
    DriveShares,
    ErrorBody,
    LogPage,
    Status,
    Timeline,
)
from chalicelib.core.naming import CLUSTER_NAME
from chalicelib.triggers import slack
from chalicelib.triggers.api import ScaleRequest
from chalicelib.triggers.requests import MAX_BODY
from chalicelib.triggers.webhooks import WebhookRequest
from deploy import generated

DOC = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
REF = "#/components/schemas/{model}"
E = errors
Refs = dict[tuple[Any, JsonSchemaMode], dict[str, Any]]  # (model, mode) -> {"$ref": ...}


class GatewayError(BaseModel):
    """API Gateway's own refusal of an IAM route: `message` for a missing, bad or
    expired SigV4 signature (locally, daskyard.local.gateway answers the same),
    `Message` for a signer without execute-api:Invoke on the route."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": ["message"]}, {"required": ["Message"]}]})
    message: str = ""
    Message: str = ""


class UndocumentedRoute(Exception):
    """The app serves a route OPERATIONS does not describe, or the reverse."""


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    required: bool = True
    pattern: str = ""


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Op:
    """One route: what it does, what it takes, what it answers."""

    operation_id: str
    summary: str
    description: str
    tag: str
    ok: tuple[int, str, type[BaseModel]]  # status, description, body
    errors: tuple[type[errors.DaskyardError], ...]
    request: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    ok_headers: dict[str, str] = field(default_factory=dict)
    query: tuple[Query, ...] = ()


STATUSES = "|".join(s.value for s in Status)
BODY_ERRORS = (E.InvalidRequest, E.PayloadTooLarge, E.UnsupportedMediaType)
SLACK_HEADERS = (
    Header(slack.TIMESTAMP, "Unix seconds when Slack sent the request (5-minute window)",
           pattern=numbers.pattern(signing.TIMESTAMP_DIGITS)),
    Header(slack.SIGNATURE, "v0=<hex HMAC-SHA256(signing secret, 'v0:<timestamp>:<body>')>"),
    Header(slack.RETRY, "Slack's retry count: a retry is answered from the first run",
           required=False),
)
WEBHOOK_HEADERS = (
    Header(signing.TIMESTAMP_HEADER, "Unix seconds when the request was signed "
           f"(refused when more than {signing.REPLAY_WINDOW} s away), in ASCII digits "
           "without sign or leading zero: the text signed",
           pattern=numbers.pattern(signing.TIMESTAMP_DIGITS)),
    Header(signing.SIGNATURE_HEADER,
           "v1=<hex HMAC-SHA256(key, 'v1:<timestamp>:' + body)>"),
    Header(signing.KEY_ID_HEADER, "which of the stage's webhook keys signed it "
           f"(default {signing.DEFAULT_KEY_ID!r})", required=False),
)

# (method, path) -> what it is. The paths and methods must be the app's, exactly.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/clusters"): Op(
        "createCluster", "Create a cluster",
        "Validates the request and the stage's limits, records the cluster (one per name) "
        "with the caller as its owner, checks the owner's quota and the account's AWS "
        "quotas it would use (Fargate vCPUs, IAM roles, EFS file systems), and starts the "
        "create machine. Nothing is created when the request is refused.",
        "clusters", (202, "Accepted: the record, CREATING", Cluster),
        (*BODY_ERRORS, E.Unauthorized, E.QuotaExceeded, E.ClusterExists, E.DriveForbidden),
        request=ClusterSpec),
    ("GET", "/clusters"): Op(
        "listClusters", "List the caller's clusters, a page at a time",
        "The clusters the caller owns (an admin: every owner's, or `owner`'s), in status "
        "order (live ones first), `limit` a page; follow `next_token` until it is null. "
        "Read by Query on the registry's indexes, never by Scan: DELETED and FAILED records "
        "stay listed until their TTL (the stage's ended_record_days) removes them.",
        "clusters", (200, "A page of clusters", ClusterList),
        (E.InvalidRequest, E.Unauthorized, E.Forbidden),
        query=(Query("limit", f"at most this many clusters (1-{lifecycle.MAX_PAGE}, "
                     f"default {lifecycle.DEFAULT_PAGE})",
                     {"type": "string", "pattern": numbers.pattern()}),
               Query("status", "only clusters in this status, or these (comma-separated)",
                     {"type": "string", "pattern": "^(" + STATUSES + ")(,(" + STATUSES
                      + "))*$"}),
               Query("owner", "only this owner's clusters (admins; another caller's own "
                     "owner id is the only one it may name)", {"type": "string"}),
               Query("next_token", "the previous page's next_token, with the same "
                     "filters; signed: an altered one is refused", {"type": "string"}))),
    ("GET", "/clusters/{name}"): Op(
        "getCluster", "Show one cluster",
        "Its status, current step, scheduler address, dashboard and notebook URLs, "
        "workers, times and error. Someone else's cluster answers 404.",
        "clusters", (200, "The cluster", Cluster),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound)),
    ("DELETE", "/clusters/{name}"): Op(
        "deleteCluster", "Destroy a cluster",
        "Stops a create still running, then starts the destroy machine, which removes "
        "every resource of the cluster. Idempotent: destroying a FAILED or DELETE_FAILED "
        "cluster again is allowed.",
        "clusters", (202, "Accepted: the record, DELETING", Cluster),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound, E.ClusterBusy)),
    ("GET", "/clusters/{name}/credentials"): Op(
        "getClusterCredentials", "Get what a client needs to connect",
        "The scheduler's tls:// address, the cluster's CA, a client certificate and key, "
        "and the Jupyter token when the cluster has a notebook. The owner's or an admin's "
        "only, READY clusters only. Secret: never cached (Cache-Control: no-store).",
        "clusters", (200, "The credentials", Credentials),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound, E.ClusterBusy),
        ok_headers={"Cache-Control": "no-store"}),
    ("GET", "/clusters/{name}/logs"): Op(
        "getClusterLogs", "Read what the cluster's tasks printed",
        "A page of the scheduler's, workers' and notebook's output from CloudWatch Logs "
        "(the awslogs streams of the cluster's log group; locally the same), oldest "
        "first. The owner's or an admin's only.",
        "clusters", (200, "A page of lines", LogPage),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound),
        query=(Query("role", "only this role's tasks",
                     {"type": "string", "enum": ["scheduler", "worker", "notebook"]}),
               Query("since", "lines from this time on, ms since the epoch",
                     {"type": "string", "pattern": numbers.pattern()}),
               Query("limit", f"at most this many lines (1-{task_logs.MAX_LIMIT}, "
                     f"default {task_logs.DEFAULT_LIMIT})",
                     {"type": "string", "pattern": numbers.pattern()}),
               Query("next_token", "the previous page's next_token", {"type": "string"}))),
    ("GET", "/clusters/{name}/events"): Op(
        "getClusterEvents", "List the steps of the cluster's latest execution",
        "Every state its create (or, once one began, its destroy) entered, from the "
        "execution's history, in order: start, end, outcome, attempts, error. None is "
        "skipped however short. The owner's or an admin's only.",
        "clusters", (200, "The steps", Timeline),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound)),
    ("PUT", "/clusters/{name}/workers"): Op(
        "scaleCluster", "Set the number of workers",
        "A READY cluster's worker service scaled to `workers`, within the stage's limit "
        "and the owner's quota.",
        "clusters", (200, "The record with its new worker count", Cluster),
        (*BODY_ERRORS, E.Unauthorized, E.QuotaExceeded, E.ClusterNotFound, E.ClusterBusy),
        request=ScaleRequest),
    ("PUT", "/clusters/{name}/adapt"): Op(
        "adaptCluster", "Scale adaptively between bounds",
        "Recorded on the cluster and carried out by its scheduler, whatever client comes "
        "or goes: it keeps its workers between `minimum` and `maximum` after its own "
        "adaptive target. READY clusters only; `maximum` is within the stage's limit and "
        "counts against the owner's worker quota. Both null turns it off; so does "
        "DELETE, and so does setting a number of workers.",
        "clusters", (200, "The record with its adapt bounds", Cluster),
        (*BODY_ERRORS, E.Unauthorized, E.QuotaExceeded, E.ClusterNotFound, E.ClusterBusy),
        request=Adapt),
    ("DELETE", "/clusters/{name}/adapt"): Op(
        "stopAdapting", "Stop scaling adaptively",
        "The workers stay as many as they are. READY clusters only.",
        "clusters", (200, "The record, adapt null", Cluster),
        (E.InvalidRequest, E.Unauthorized, E.ClusterNotFound, E.ClusterBusy)),
    ("GET", "/drives/{name}"): Op(
        "getDrive", "Show a named drive's owner and shares",
        "The owner (the caller whose create first named the drive) and the principals it "
        "is shared with. The owner's or an admin's only: anyone else's drive answers 404.",
        "drives", (200, "The drive", DriveRecord),
        (E.InvalidRequest, E.Unauthorized, E.DriveNotFound)),
    ("PUT", "/drives/{name}/shares"): Op(
        "shareDrive", "Set whom a named drive is shared with",
        "Replaces the list of principals (IAM ARNs, `slack:<team>/<user>`, "
        "`webhook:<key id>`, exactly as they are owners) who may name the drive in a "
        "create besides its owner and admins; [] shares it with nobody. Each owner's "
        "clusters get a root of their own on the drive: a share gives no one another "
        "owner's files. The owner's or an admin's only.",
        "drives", (200, "The drive with its new shares", DriveRecord),
        (*BODY_ERRORS, E.Unauthorized, E.DriveNotFound),
        request=DriveShares),
    ("GET", "/doctor"): Op(
        "doctor", "Check the stage's account before its first cluster",
        "The preflight: the ECS and Auto Scaling service-linked roles, the Fargate "
        "On-Demand and Spot vCPU quotas against the stage's largest cluster, EFS file "
        "systems, IAM roles and security groups against their quotas, whether tasks in "
        "the stage's subnets reach SSM, ECR, CloudWatch Logs and Secrets Manager, the "
        "images in ECR and the signing secrets. Each check answers OK, WARN or FAIL with "
        "a figure and what to do. Run by the Doctor function with the steps' permissions. "
        "The stage's admins only.",
        "stage", (200, "Every check", DoctorReport),
        (E.Unauthorized, E.Forbidden, E.DoctorFailed)),
    ("POST", "/slack/commands"): Op(
        "slackCommand", "Slack slash command",
        "`/dask up NAME [workers=N] [notebook=yes] [ttl=8h] [teardown=never] [cidr=CIDR]`, "
        "`down NAME`, `scale NAME N`, `ls`, `status NAME`, `help`. Signed by Slack "
        "(checked with slack_sdk) and answered within 3 s; the outcome is posted to "
        "`response_url` later. A mistyped command is answered 200 with the usage.",
        "integrations", (200, "The message the user sees", slack.SlackReply),
        (E.InvalidRequest, E.PayloadTooLarge, E.UnsupportedMediaType, E.Unauthorized,
         E.Forbidden),
        request=slack.SlashCommand, headers=SLACK_HEADERS),
    ("POST", "/webhooks"): Op(
        "webhook", "Signed webhook: create, destroy or scale",
        "Another system's request, signed with one of the stage's webhook keys; the "
        "caller is `webhook:<key id>`. An exact replay within the window gets the first "
        "answer and does nothing. A create or destroy answers 202, a scale 200; the "
        "outcome is POSTed, signed the same way, to `callback_url`.",
        "integrations", (202, "Accepted (a scale answers 200 with the same body)", Cluster),
        (*BODY_ERRORS, E.Unauthorized, E.QuotaExceeded, E.ClusterNotFound, E.ClusterExists,
         E.ClusterBusy, E.RequestInProgress, E.DriveForbidden),
        request=WebhookRequest, headers=WEBHOOK_HEADERS),
}
# Answered by a webhook scale, with the same body as its 202.
EXTRA_OK = {("POST", "/webhooks"): (200, "Scaled")}
TAGS = [
    {"name": "clusters", "description": "IAM-authorized (SigV4) cluster routes; a caller "
     "sees and acts on their own clusters only, an admin on all."},
    {"name": "drives", "description": "IAM-authorized (SigV4) named drives: the first "
     "create naming one makes its caller the owner; only the owner, admins and whom the "
     "owner shares it with can name it."},
    {"name": "integrations", "description": "Slack and webhooks, authenticated by their "
     "request signatures."},
    {"name": "stage", "description": "IAM-authorized (SigV4) routes for the stage's "
     "admins."},
]


def app_routes() -> dict[tuple[str, str], Any]:
    """(method, path) -> Chalice RouteEntry, for every route the app serves."""
    import app

    return {(method, path): entry for path, methods in app.app.routes.items()
            for method, entry in methods.items()}


def _first_line(cls: type) -> str:
    """The docstring's first paragraph, on one line, without its full stop."""
    return " ".join((cls.__doc__ or cls.__name__).split("\n\n")[0].split()).rstrip(".")


def _error_responses(op: Op, iam: bool, refs: Refs) -> dict[str, Any]:
    by_status: dict[int, list[type[errors.DaskyardError]]] = {}
    for cls in op.errors:
        by_status.setdefault(cls.STATUS_CODE, []).append(cls)
    error = refs[(ErrorBody, "serialization")]
    out: dict[str, Any] = {}
    for status in sorted({*by_status, *([403] if iam else []), 502}):
        lines = [f"`{cls.__name__}`: {_first_line(cls)}" for cls in by_status.get(status, [])]
        schema: dict[str, Any] = error
        if status == 502:
            lines.append("`AwsError`: an AWS call failed; the answer names its error code only")
        if status == 403 and iam:
            lines.insert(0, "API Gateway refused the signature or the signer (`message`)")
            gateway = refs[(GatewayError, "serialization")]
            schema = {"anyOf": [error, gateway]} if by_status.get(403) else gateway
        out[str(status)] = {"description": "; ".join(lines),
                            "content": {"application/json": {"schema": schema}}}
    return out


def _operation(method: str, path: str, op: Op, entry: Any,
               refs: Refs) -> dict[str, Any]:
    iam = isinstance(entry.authorizer, IAMAuthorizer)
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "description": op.description, "tags": [op.tag]}
    params: list[dict[str, Any]] = [
        {"name": arg, "in": "path", "required": True,
         "schema": {"type": "string", "pattern": CLUSTER_NAME.pattern}}
        for arg in entry.view_args]
    params += [{"name": h.name, "in": "header", "required": h.required,
                "description": h.description,
                "schema": {"type": "string", **({"pattern": h.pattern} if h.pattern else {})}}
               for h in op.headers]
    params += [{"name": q.name, "in": "query", "required": False,
                "description": q.description, "schema": q.schema} for q in op.query]
    if params:
        out["parameters"] = params
    if op.request is not None:
        media = entry.content_types[0]
        out["requestBody"] = {
            "required": True,
            "description": f"At most {MAX_BODY} bytes, declared as {media}.",
            "content": {media: {"schema": refs[(op.request, "validation")]}}}
    status, description, model = op.ok
    answer: dict[str, Any] = {"description": description, "content": {
        "application/json": {"schema": refs[(model, "serialization")]}}}
    if op.ok_headers:
        answer["headers"] = {name: {"schema": {"type": "string", "const": value}}
                             for name, value in op.ok_headers.items()}
    responses = {str(status): answer}
    if (method, path) in EXTRA_OK:
        extra, why = EXTRA_OK[(method, path)]
        responses[str(extra)] = {**answer, "description": why}
    out["responses"] = {**responses, **_error_responses(op, iam, refs)}
    out["security"] = [{"sigv4": []}] if iam else []
    return out


def document() -> dict[str, Any]:
    routes = app_routes()
    missing = sorted(set(routes) - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - set(routes))
    if missing or stale:
        raise UndocumentedRoute(
            "; ".join([*(f"{m} {p} is served but not described in deploy/openapi.py "
                         "OPERATIONS" for m, p in missing),
                       *(f"{m} {p} is described but not served" for m, p in stale)]))
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (Cluster, "serialization"), (ClusterList, "serialization"),
        (Credentials, "serialization"), (DoctorReport, "serialization"),
        (ErrorBody, "serialization"),
        (DriveRecord, "serialization"), (DriveShares, "validation"),
        (LogPage, "serialization"), (Timeline, "serialization"),
        (GatewayError, "serialization"), (slack.SlackReply, "serialization"),
        (ClusterSpec, "validation"), (ScaleRequest, "validation"), (Adapt, "validation"),
        (WebhookRequest, "validation"), (slack.SlashCommand, "validation")]
    refs, schemas = models_json_schema(models, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for method, path in sorted(routes, key=lambda r: (r[1], r[0])):
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, OPERATIONS[(method, path)], routes[(method, path)], refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Daskyard", "version": "0.1.0",
            "description": "Dask clusters on AWS ECS, vended by a serverless orchestrator. "
                           "Generated by `python -m deploy.openapi`; see "
                           "docs/architecture.md.",
        },
        "servers": [
            {"url": "https://{api}.execute-api.{region}.amazonaws.com/api",
             "description": "a deployed stage",
             "variables": {"api": {"default": "API_ID"},
                           "region": {"default": "us-east-1"}}},
            {"url": "http://127.0.0.1:8000", "description": "daskyard serve --local"},
        ],
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"sigv4": {
                "type": "apiKey", "name": "Authorization", "in": "header",
                "description": "AWS Signature Version 4 (service execute-api) with the "
                               "caller's IAM credentials; locally, the keys "
                               "`daskyard serve --local` writes.",
                "x-amazon-apigateway-authtype": "awsSigv4"}},
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2) + "\n"


def main(argv: Sequence[str]) -> int:
    check = generated.check_flag(argv, "deploy.openapi")
    if check is None:
        return generated.USAGE
    try:
        text = render()
    except UndocumentedRoute as exc:
        print(exc, file=sys.stderr)
        return 1
    return generated.sync({DOC: text}, check, "deploy.openapi")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
