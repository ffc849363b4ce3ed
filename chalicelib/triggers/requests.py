"""What every trigger (HTTP API, Slack, webhooks) does to a request before acting on it:
a size limit before reading, JSON or form parsing, and pydantic validation whose errors
name each field. Every refusal is a named error, raised before anything is created."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.core.errors import InvalidRequest, PayloadTooLarge
from chalicelib.core.naming import CLUSTER_NAME

MAX_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError) -> str:
    """'workers: Input should be greater than or equal to 0; name: ...'. Our own
    validators' messages are given as written (pydantic would prefix 'Value error, '),
    and one that names its field already is not put under 'body: '."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        message = str(err["msg"])
        if err["type"] == "value_error" and "error" in err.get("ctx", {}):
            message = str(err["ctx"]["error"])
            if where == "body" and OWN_FIELD.match(message):
                parts.append(message)
                continue
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


# 'instance_type: ...': a model validator's message that names the field it is about.
OWN_FIELD = re.compile(r"[a-z_]+: ")


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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats: which of two values a parser keeps
    differs between parsers, and a signature covers both."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise InvalidRequest(f"body: the key {key!r} appears more than once")
        seen[key] = value
    return seen


def parse(model: type[M], body: bytes | None) -> M:
    """A JSON object body as `model`."""
    if body is None or not body.strip():
        raise InvalidRequest("body: a JSON object is required")
    check_size(body)
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError as exc:  # the size limit still lets 16 KiB of brackets through
        raise InvalidRequest("body: nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    return validate(model, data)


def check_name(name: str) -> str:
    if not CLUSTER_NAME.match(name):
        raise InvalidRequest(f"name: must match {CLUSTER_NAME.pattern}")
    return name
