"""The HTTP API's domain side: parse and validate a request, then call lifecycle. Every
refusal is a named error (carrying its HTTP status) raised before anything is created."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from chalicelib import lifecycle
from chalicelib.core.models import ClusterSpec, Strict
from chalicelib.core.runtime import Runtime
from chalicelib.triggers.requests import check_name, parse


class ScaleRequest(Strict):
    workers: Annotated[int, Field(ge=0)]


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
