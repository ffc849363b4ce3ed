"""The HTTP API's domain side: parse and validate a request, then call lifecycle on the
caller's behalf. Every refusal is a named error (carrying its HTTP status) raised
before anything is created; someone else's cluster answers as a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from chalicelib import lifecycle
from chalicelib.core.identity import Caller
from chalicelib.core.models import ClusterSpec, Strict
from chalicelib.core.runtime import Runtime
from chalicelib.triggers.requests import check_name, parse


class ScaleRequest(Strict):
    workers: Annotated[int, Field(ge=0)]


def create(rt: Runtime, caller: Caller, body: bytes | None) -> dict[str, Any]:
    return lifecycle.create_cluster(rt, parse(ClusterSpec, body), caller=caller).public()


def get(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    return lifecycle.owned(rt, check_name(name), caller).public()


def list_all(rt: Runtime, caller: Caller) -> dict[str, Any]:
    return {"clusters": [r.public() for r in lifecycle.visible(rt, caller)]}


def scale(rt: Runtime, caller: Caller, name: str, body: bytes | None) -> dict[str, Any]:
    request = parse(ScaleRequest, body)
    return lifecycle.scale_cluster(rt, check_name(name), request.workers,
                                   caller=caller).public()


def delete(rt: Runtime, caller: Caller, name: str) -> dict[str, Any]:
    return lifecycle.destroy_cluster(rt, check_name(name), caller=caller).public()
