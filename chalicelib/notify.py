"""Announce a cluster's outcome (READY, FAILED, DELETED) to whoever asked: a Slack
response_url (Block Kit, through slack_sdk) or a webhook's callback_url (JSON, signed
like the requests we accept). Announcing never fails the step that calls it, and the
URLs, which are capabilities, are never logged. Every post goes through callbacks.post:
public addresses only, no redirects, bounded in time."""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.core import callbacks, signing
from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord, Status
from chalicelib.core.observability import logger
from chalicelib.core.settings import Settings

TIMEOUT = 5  # seconds per post; a step Lambda must not hang on someone else's endpoint
DEADLINE = 10  # seconds for all of a record's posts together


def summary(record: ClusterRecord) -> str:
    name, status = record.name, record.status
    if status == Status.READY:
        return (f"Cluster *{name}* is READY with {record.spec.workers} workers: "
                f"scheduler `{record.scheduler.address}`")
    if status == Status.FAILED:
        return f"Cluster *{name}* FAILED and was cleaned up: {record.error}"
    if status == Status.DELETE_FAILED:
        return (f"Cluster *{name}* could not be fully removed: {record.error}. "
                "Destroy it again: the destroy is idempotent.")
    if status == Status.DELETED and record.destroy_reason:
        return f"Cluster *{name}* is DELETED: {record.destroy_reason}."
    return f"Cluster *{name}* is {status.value}."


def slack_blocks(record: ClusterRecord) -> list[Any]:
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

    blocks: list[Any] = [SectionBlock(text=summary(record))]
    links = [("Dashboard", record.scheduler.dashboard_url), ("Notebook", record.notebook.url)]
    buttons = [ButtonElement(text=label, url=url, action_id=label.lower())
               for label, url in links if url and record.status == Status.READY]
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return blocks


def announce(clients: Clients, settings: Settings, record: ClusterRecord) -> int:
    """Post the record's outcome to each target within one deadline; returns how many
    posts succeeded. A refused, failing or slow target changes nothing else."""
    sent, deadline = 0, time.monotonic() + DEADLINE
    for target in record.notify:
        left = deadline - time.monotonic()
        if left <= 0:
            logger.warning("announce out of time", cluster=record.name, kind=target.kind)
            break
        try:
            body, headers = (slack_message(record) if target.kind == "slack"
                             else signed_event(clients, settings, record))
            status = callbacks.post(target.url, body, headers, settings, min(TIMEOUT, left))
        except Exception as exc:
            logger.warning("announce failed", cluster=record.name, kind=target.kind,
                           error=type(exc).__name__)
            continue
        if status < 300:
            sent += 1
        else:
            logger.warning("announce refused", cluster=record.name, kind=target.kind,
                           status=status)
    return sent


def slack_message(record: ClusterRecord) -> tuple[bytes, dict[str, str]]:
    """What slack_sdk's WebhookClient would send, posted through callbacks.post."""
    body = {"text": summary(record), "blocks": [b.to_dict() for b in slack_blocks(record)],
            "response_type": "ephemeral", "replace_original": False}
    return json.dumps(body).encode(), {"Content-Type": "application/json;charset=utf-8"}


def signed_event(clients: Clients, settings: Settings,
                 record: ClusterRecord) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": f"cluster.{record.status.value.lower()}",
                       "cluster": record.public()}).encode()
    key = signing.secret(clients, settings.webhook_secret_id)
    return body, signing.signed_headers(key, body)
