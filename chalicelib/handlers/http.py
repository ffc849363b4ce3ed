"""The HTTP API: the cluster routes (IAM-authorized when deployed), the Slack slash
command and signed webhooks (authenticated by signature in the triggers). Views raise
named errors; app.py's middleware turns them into responses.

Every Lambda of the app imports app.py, and so this module: the routes import the
triggers they call, so that the step and event Lambdas do not pay for them (nor the
cluster routes for Slack's)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, IAMAuthorizer, Response
from chalice.app import CaseInsensitiveMapping

from chalicelib.core import identity
from chalicelib.core.errors import UnsupportedMediaType
from chalicelib.core.identity import Caller
from chalicelib.core.runtime import Runtime, runtime

bp = Blueprint(__name__)
iam = IAMAuthorizer()  # deployed stages: callers sign with SigV4


def _body() -> bytes | None:
    request = bp.current_request
    raw = request.raw_body if request is not None else None
    return raw.encode() if isinstance(raw, str) else raw


def _json_body() -> bytes | None:
    """The body of a route that takes JSON, declared so: Chalice (as API Gateway) takes a
    request without a Content-Type for JSON, which would parse whatever was sent."""
    declared = _headers().get("content-type", "").split(";", 1)[0].strip().lower()
    if declared != "application/json":
        raise UnsupportedMediaType("Content-Type: must be application/json")
    return _body()


def _headers() -> CaseInsensitiveMapping:
    request = bp.current_request
    return request.headers if request is not None else CaseInsensitiveMapping({})


def _caller(rt: Runtime) -> Caller:
    """The IAM principal API Gateway verified the request's SigV4 signature for, by its
    unique id (the local API does the same check against the emulator's IAM)."""
    request = bp.current_request
    context = (request.context if request is not None else None) or {}
    return identity.iam_caller(context.get("identity") or {}, rt.settings)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


@bp.route("/clusters", methods=["POST"], authorizer=iam)
def create_cluster() -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.create(rt, _caller(rt), _json_body()), 202)


@bp.route("/clusters", methods=["GET"], authorizer=iam)
def list_clusters() -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.list_all(rt, _caller(rt)))


@bp.route("/clusters/{name}", methods=["GET"], authorizer=iam)
def get_cluster(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.get(rt, _caller(rt), name))


@bp.route("/clusters/{name}/events", methods=["GET"], authorizer=iam)
def cluster_events(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.events(rt, _caller(rt), name))


@bp.route("/clusters/{name}/credentials", methods=["GET"], authorizer=iam)
def cluster_credentials(name: str) -> Response:
    # Key material: no cache may keep it (and nothing here logs a response).
    from chalicelib.triggers import api

    rt = runtime()
    return Response(body=api.credentials(rt, _caller(rt), name), status_code=200, headers={
        "Content-Type": "application/json", "Cache-Control": "no-store"})


@bp.route("/clusters/{name}/logs", methods=["GET"], authorizer=iam)
def cluster_logs(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    request = bp.current_request
    query = dict((request.query_params if request is not None else None) or {})
    return _json(api.logs(rt, _caller(rt), name, query))


@bp.route("/clusters/{name}/workers", methods=["PUT"], authorizer=iam)
def scale_cluster(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.scale(rt, _caller(rt), name, _json_body()))


@bp.route("/clusters/{name}/adapt", methods=["PUT"], authorizer=iam)
def adapt_cluster(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.adapt(rt, _caller(rt), name, _json_body()))


@bp.route("/clusters/{name}/adapt", methods=["DELETE"], authorizer=iam)
def adapt_off(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.adapt_off(rt, _caller(rt), name))


@bp.route("/clusters/{name}", methods=["DELETE"], authorizer=iam)
def delete_cluster(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.delete(rt, _caller(rt), name), 202)


@bp.route("/drives/{name}", methods=["GET"], authorizer=iam)
def get_drive(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.drive(rt, _caller(rt), name))


@bp.route("/drives/{name}/shares", methods=["PUT"], authorizer=iam)
def share_drive(name: str) -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.share_drive(rt, _caller(rt), name, _json_body()))


@bp.route("/doctor", methods=["GET"], authorizer=iam)
def doctor() -> Response:
    from chalicelib.triggers import api

    rt = runtime()
    return _json(api.doctor(rt, _caller(rt)))


@bp.route("/slack/commands", methods=["POST"],
          content_types=["application/x-www-form-urlencoded"])
def slack_command() -> Response:
    from chalicelib.triggers import slack

    return _json(slack.handle(runtime(), _body(), _headers(), bp.lambda_context))


@bp.route("/webhooks", methods=["POST"])
def webhook() -> Response:
    from chalicelib.triggers import webhooks

    answer = webhooks.handle(runtime(), _json_body(), _headers(), bp.lambda_context)
    return _json(answer.body, answer.status)
