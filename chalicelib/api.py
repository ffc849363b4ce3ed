"""The HTTP API's domain side: parse and validate a request, call lifecycle, map named
errors to status codes. Every refusal happens before anything is created."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from botocore.exceptions import ClientError
from chalice import Response
from pydantic import BaseModel, Field, ValidationError

from chalicelib import lifecycle
from chalicelib.errors import (
    ClusterBusy,
    ClusterExists,
    ClusterNotFound,
    DaskyardError,
    InvalidRequest,
    Unauthorized,
)
from chalicelib.models import ClusterSpec, Strict
from chalicelib.naming import CLUSTER_NAME
from chalicelib.runtime import Runtime, logger

MAX_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)
STATUS = {InvalidRequest: 400, Unauthorized: 401, ClusterNotFound: 404, ClusterExists: 409,
          ClusterBusy: 409}


class ScaleRequest(Strict):
    workers: Annotated[int, Field(ge=0)]


class PayloadTooLarge(InvalidRequest):
    pass


def describe(exc: ValidationError) -> str:
    """'workers: Input should be greater than or equal to 0; name: ...'"""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def check_size(body: bytes | None) -> bytes:
    """The body, or PayloadTooLarge before anything reads it."""
    body = body or b""
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"body: larger than {MAX_BODY} bytes")
    return body


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`; a ValidationError becomes an InvalidRequest naming each field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from exc


def parse(model: type[M], body: bytes | None) -> M:
    if body is None or not body.strip():
        raise InvalidRequest("body: a JSON object is required")
    check_size(body)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    return validate(model, data)


def check_name(name: str) -> str:
    if not CLUSTER_NAME.match(name):
        raise InvalidRequest(f"name: must match {CLUSTER_NAME.pattern}")
    return name


def respond(action: Callable[[], Any], status: int = 200) -> Response:
    """Run `action`; named errors become 4xx with {"error": message}. An action may
    return (body, status) to choose its own status."""
    try:
        body = action()
        if isinstance(body, tuple):
            body, status = body
        return Response(body=body, status_code=status,
                        headers={"Content-Type": "application/json"})
    except PayloadTooLarge as exc:
        return Response(body={"error": str(exc)}, status_code=413)
    except DaskyardError as exc:
        code = next((c for t, c in STATUS.items() if isinstance(exc, t)), 400)
        return Response(body={"error": str(exc)}, status_code=code)
    except ClientError as exc:
        logger.exception("AWS call failed")
        return Response(body={"error": f"AWS error {exc.response['Error']['Code']}"},
                        status_code=502)


def create(rt: Runtime, body: bytes | None) -> dict[str, Any]:
    return lifecycle.create_cluster(rt, parse(ClusterSpec, body)).public()


def get(rt: Runtime, name: str) -> dict[str, Any]:
    return rt.registry.require(check_name(name)).public()


def list_all(rt: Runtime) -> dict[str, Any]:
    return {"clusters": [r.public() for r in rt.registry.list()]}


def scale(rt: Runtime, name: str, body: bytes | None) -> dict[str, Any]:
    request = parse(ScaleRequest, body)
    return lifecycle.scale_cluster(rt, check_name(name), request.workers).public()


def delete(rt: Runtime, name: str) -> dict[str, Any]:
    return lifecycle.destroy_cluster(rt, check_name(name)).public()
