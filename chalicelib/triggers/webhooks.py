"""`POST /webhooks`: another system creates, destroys or scales a cluster with a JSON
body signed with one of the stage's webhook keys (see signing.py). The signature is
checked before the body is even parsed; an exact replay within the window gets the
first answer and does nothing again (a request is its key, timestamp and signature:
the signature covers the body, and the timestamp has one spelling). The caller is
`webhook:<key id>`: a key sees and acts on the clusters it created, unless the stage
lists it among the admins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from chalicelib import lifecycle
from chalicelib.core import callbacks, identity, signing
from chalicelib.core.errors import RequestInProgress
from chalicelib.core.identity import Caller
from chalicelib.core.models import ClusterSpec, Notify, Strict
from chalicelib.core.naming import CLUSTER_NAME
from chalicelib.core.observability import logger
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.triggers.idempotency import IdempotencyAlreadyInProgressError, once
from chalicelib.triggers.requests import check_size, parse

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


class Answer(BaseModel):
    """The response to a webhook, kept so an exact replay gets the same one."""

    status: int
    body: dict[str, Any]


class WebhookRequest(RootModel[Annotated[CreateHook | DestroyHook | ScaleHook,
                                         Field(discriminator="action")]]):
    pass


def callback(url: str | None, settings: Settings) -> list[Notify]:
    if url is None:
        return []
    return [Notify(kind="webhook", url=callbacks.check(url, settings))]


def handle(rt: Runtime, body: bytes | None, headers: Mapping[str, str],
           context: Any = None) -> Answer:
    body = check_size(body)
    key_id, key = signing.webhook_key(rt.clients, rt.settings.webhook_secret_id, headers)
    timestamp, signature = signing.verify(key, headers, body)
    caller = identity.caller(f"webhook:{key_id}", rt.settings)
    request = parse(WebhookRequest, body).root
    notify = callback(getattr(request, "callback_url", None), rt.settings)
    logger.info("webhook", action=request.action, cluster=request.name)
    signed = {"key": key_id, "timestamp": timestamp, "signature": signature}
    try:
        out = once(rt.clients, rt.settings.idempotency_table, "webhook", signed,
                   lambda _: run(rt, caller, request, notify), signing.REPLAY_WINDOW * 2, context)
    except IdempotencyAlreadyInProgressError as exc:
        raise RequestInProgress("this request is already being handled") from exc
    return Answer.model_validate(out)


def run(rt: Runtime, caller: Caller, request: CreateHook | DestroyHook | ScaleHook,
        notify: list[Notify]) -> dict[str, Any]:
    if isinstance(request, CreateHook):
        spec = ClusterSpec.model_validate(request.model_dump(exclude={"action", "callback_url"}))
        record = lifecycle.create_cluster(rt, spec, caller=caller, notify=notify)
        return Answer(status=202, body=record.public()).model_dump()
    if isinstance(request, DestroyHook):
        record = lifecycle.destroy_cluster(rt, request.name, caller=caller,
                                           notify=notify or None)
        return Answer(status=202, body=record.public()).model_dump()
    record = lifecycle.scale_cluster(rt, request.name, request.workers, caller=caller)
    return Answer(status=200, body=record.public()).model_dump()
