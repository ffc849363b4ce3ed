"""Announce a cluster's outcome (READY, FAILED, DELETED) to whoever asked: a Slack
response_url (Block Kit, through slack_sdk) or a webhook's callback_url (JSON, signed
like the requests we accept). Announcing never fails the step that calls it, and the
URLs, which are capabilities, are never logged."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from chalicelib.core import signing
from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord, Status
from chalicelib.core.observability import logger
from chalicelib.core.settings import Settings

TIMEOUT = 5  # seconds; a step Lambda must not hang on someone else's endpoint


def summary(record: ClusterRecord) -> str:
    name, status = record.name, record.status
    if status == Status.READY:
        return (f"Cluster *{name}* is READY with {record.spec.workers} workers: "
                f"scheduler `{record.scheduler_address}`")
    if status == Status.FAILED:
        return f"Cluster *{name}* FAILED and was cleaned up: {record.error}"
    if status == Status.DELETE_FAILED:
        return (f"Cluster *{name}* could not be fully removed: {record.error}. "
                "Destroy it again: the destroy is idempotent.")
    return f"Cluster *{name}* is {status.value}."


def slack_blocks(record: ClusterRecord) -> list[Any]:
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

    blocks: list[Any] = [SectionBlock(text=summary(record))]
    links = [("Dashboard", record.dashboard_url), ("Notebook", record.notebook_url)]
    buttons = [ButtonElement(text=label, url=url, action_id=label.lower())
               for label, url in links if url and record.status == Status.READY]
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return blocks


def announce(clients: Clients, settings: Settings, record: ClusterRecord) -> int:
    """Post the record's outcome to each target; returns how many posts succeeded."""
    sent = 0
    for target in record.notify:
        try:
            if target.kind == "slack":
                ok = post_slack(target.url, record)
            else:
                ok = post_callback(clients, settings, target.url, record)
        except Exception as exc:
            logger.warning("announce failed", cluster=record.name, kind=target.kind,
                           error=type(exc).__name__)
            continue
        if ok:
            sent += 1
        else:
            logger.warning("announce refused", cluster=record.name, kind=target.kind)
    return sent


def post_slack(url: str, record: ClusterRecord) -> bool:
    from slack_sdk.webhook import WebhookClient  # imported when used: a cold start saver

    response = WebhookClient(url, timeout=TIMEOUT).send(
        text=summary(record), blocks=slack_blocks(record), response_type="ephemeral",
        replace_original=False)
    return bool(response.status_code < 300)


def post_callback(clients: Clients, settings: Settings, url: str, record: ClusterRecord) -> bool:
    body = json.dumps({"event": f"cluster.{record.status.value.lower()}",
                       "cluster": record.public()}).encode()
    headers = signing.signed_headers(signing.secret(clients, settings.webhook_secret_id), body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # nosec B310  # http(s) only: checked at intake
        return bool(response.status < 300)
