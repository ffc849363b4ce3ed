"""`POST /webhooks`: another system creates, destroys or scales a cluster with a JSON
body signed with the shared secret (see signing.py). The signature is checked before
the body is even parsed; an exact replay within the window gets the first answer and
does nothing again."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from chalicelib import lifecycle, signing
from chalicelib.api import check_size, parse
from chalicelib.errors import InvalidRequest
from chalicelib.idempotency import IdempotencyAlreadyInProgressError, once
from chalicelib.models import ClusterSpec, Notify, Strict
from chalicelib.naming import CLUSTER_NAME
from chalicelib.runtime import Runtime, logger
from chalicelib.settings import Settings

Name = Annotated[str, Field(pattern=CLUSTER_NAME.pattern)]
Url = Annotated[str, Field(max_length=2048)]


class CreateHook(ClusterSpec):
    action: Literal["create"]
    callback_url: Url | None = None


class DestroyHook(Strict):
    action: Literal["destroy"]
    name: Name
    callback_url: Url | None = None


class ScaleHook(Strict):
    action: Literal["scale"]
    name: Name
    workers: Annotated[int, Field(ge=0)]


class WebhookRequest(RootModel[Annotated[CreateHook | DestroyHook | ScaleHook,
                                         Field(discriminator="action")]]):
    pass


def callback(url: str | None, settings: Settings) -> list[Notify]:
    if url is None:
        return []
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if settings.allow_http_callbacks else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidRequest(f"callback_url: must be an {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise InvalidRequest("callback_url: must not carry credentials")
    return [Notify(kind="webhook", url=url)]


def handle(rt: Runtime, body: bytes | None, headers: Mapping[str, str],
           context: Any = None) -> tuple[dict[str, Any], int]:
    """Returns (response body, status code)."""
    body = check_size(body)
    signing.verify(signing.secret(rt.clients, rt.settings.webhook_secret_id), headers, body)
    request = parse(WebhookRequest, body).root
    notify = callback(getattr(request, "callback_url", None), rt.settings)
    logger.info("webhook", action=request.action, cluster=request.name)
    signed = {"timestamp": headers.get(signing.TIMESTAMP_HEADER), "body": body.decode()}
    try:
        out = once(rt.clients, rt.settings.idempotency_table, "webhook", signed,
                   lambda _: run(rt, request, notify), signing.REPLAY_WINDOW * 2, context)
    except IdempotencyAlreadyInProgressError:
        return {"error": "this request is already being handled"}, 409
    return out["body"], out["status"]


def run(rt: Runtime, request: CreateHook | DestroyHook | ScaleHook,
        notify: list[Notify]) -> dict[str, Any]:
    if isinstance(request, CreateHook):
        spec = ClusterSpec.model_validate(request.model_dump(exclude={"action", "callback_url"}))
        record = lifecycle.create_cluster(rt, spec, "webhook", notify)
        return {"status": 202, "body": record.public()}
    if isinstance(request, DestroyHook):
        record = lifecycle.destroy_cluster(rt, request.name, notify or None)
        return {"status": 202, "body": record.public()}
    record = lifecycle.scale_cluster(rt, request.name, request.workers)
    return {"status": 200, "body": record.public()}
