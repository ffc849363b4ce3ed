"""The Slack slash command: `/dask up NAME [workers=N] [notebook=yes] [ttl=8h]
[teardown=never] [cidr=X.X.X.X/N ...]`, `down NAME`, `scale NAME N`, `ls`,
`status NAME`, `help`.

Only the stage's Slack teams (and channels, when listed) are served. The caller is
`slack:<team>/<user>`: users see and act on their own clusters, Slack admins (the
stage's `admins`) on all. A cluster opens no CIDR unless the command names one.

A request is answered at once (Slack waits 3 s) with an ephemeral message; the outcome
of a create or destroy is posted later to the command's response_url. A request that
fails its signature is a 401; a command the user mistyped is answered in Slack with
the usage, since Slack shows users nothing useful for an HTTP error."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from slack_sdk.signature import SignatureVerifier

from chalicelib import lifecycle
from chalicelib.core import callbacks, identity, signing
from chalicelib.core.errors import DaskyardError, Forbidden, InvalidRequest, Unauthorized
from chalicelib.core.models import ClusterRecord, ClusterSpec, Notify
from chalicelib.core.numbers import whole_number
from chalicelib.core.observability import logger
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.triggers.idempotency import IdempotencyAlreadyInProgressError, once
from chalicelib.triggers.requests import check_name, check_size, describe, validate

TIMESTAMP = "X-Slack-Request-Timestamp"
SIGNATURE = "X-Slack-Signature"
RETRY = "X-Slack-Retry-Num"
# Slack retries within minutes; an hour covers every retry of a command.
REMEMBER_SECONDS = 3600
USAGE = """Usage:
`{c} up NAME [workers=N] [notebook=yes] [ttl=8h] [teardown=never] [cidr=CIDR]` create one
`{c} down NAME` destroy it
`{c} scale NAME N` set the number of workers
`{c} ls` list your live clusters
`{c} status NAME` show one cluster
`{c} help` this text"""
COUNT_DIGITS, TTL_DIGITS = 4, 3
YES = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


class SlashCommand(BaseModel):
    """The fields of Slack's form post that we use (Slack sends more)."""

    model_config = ConfigDict(extra="ignore")

    command: str
    text: str = ""
    response_url: str
    user_id: str
    team_id: str
    channel_id: str = ""


class Usage(InvalidRequest):
    """A command the user mistyped; answered with the usage."""


class SlackReply(BaseModel):
    """The answer to a slash command: a message only its user sees."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)
    response_type: Literal["ephemeral"] = "ephemeral"
    text: str


def ephemeral(text: str) -> dict[str, Any]:
    return SlackReply(text=text).model_dump()


def verify(rt: Runtime, body: bytes, headers: Mapping[str, str]) -> None:
    timestamp, signature = headers.get(TIMESTAMP), headers.get(SIGNATURE)
    if not timestamp or not signature:
        raise Unauthorized(f"{TIMESTAMP} and {SIGNATURE} headers are required")
    signing.fresh(timestamp, TIMESTAMP)
    key = signing.secret(rt.clients, rt.settings.slack_secret_id)
    if not SignatureVerifier(key).is_valid(body, timestamp, signature):
        raise Unauthorized(f"{SIGNATURE}: does not match the body")


def allowed(command: SlashCommand, settings: Settings) -> None:
    """Forbidden unless the stage serves this Slack team (and channel, when listed): a
    valid signature only proves the request came from our Slack app, which any
    workspace it is installed in can use."""
    if command.team_id not in settings.slack_teams:
        raise Forbidden(f"team_id: Slack team {command.team_id!r} is not allowed on this stage")
    if settings.slack_channels and command.channel_id not in settings.slack_channels:
        raise Forbidden(f"channel_id: channel {command.channel_id!r} is not allowed on this "
                        "stage")


def parse(body: bytes) -> dict[str, str]:
    try:
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("body: not a form-encoded Slack command") from exc
    return {key: values[0] for key, values in form.items()}


def handle(rt: Runtime, body: bytes | None, headers: Mapping[str, str],
           context: Any = None) -> dict[str, Any]:
    """Check, then run the command once however often Slack retries it."""
    body = check_size(body)
    verify(rt, body, headers)
    form = parse(body)
    command = validate(SlashCommand, form)
    if not command.response_url.startswith(rt.settings.slack_response_prefix):
        raise InvalidRequest(f"response_url: must start with {rt.settings.slack_response_prefix}")
    callbacks.check(command.response_url, rt.settings, "response_url")
    allowed(command, rt.settings)
    logger.info("slack command", user=command.user_id, team=command.team_id,
                text=command.text[:200], retry=headers.get(RETRY))
    try:
        return once(rt.clients, rt.settings.idempotency_table, "slack", form,
                    lambda _: run(rt, command),
                    REMEMBER_SECONDS, context)
    except IdempotencyAlreadyInProgressError:
        return ephemeral("Still working on that command.")


def run(rt: Runtime, command: SlashCommand) -> dict[str, Any]:
    verb, *args = command.text.split() or ["help"]
    caller = identity.caller(f"slack:{command.team_id}/{command.user_id}", rt.settings)
    notify = [Notify(kind="slack", url=command.response_url)]
    usage = USAGE.format(c=command.command)
    try:
        if verb == "up":
            spec = up_spec(args)
            lifecycle.create_cluster(rt, spec, caller=caller, notify=notify)
            return ephemeral(f"Creating *{spec.name}* with {spec.workers} workers. "
                             "I will post here when it is ready.")
        if verb == "down":
            record = lifecycle.destroy_cluster(rt, one_name(args), caller=caller,
                                               notify=notify)
            return ephemeral(f"Destroying *{record.name}*. I will post here when it is gone.")
        if verb == "scale":
            name, workers = two_args(args)
            record = lifecycle.scale_cluster(rt, name, workers, caller=caller)
            return ephemeral(f"*{record.name}* now has {workers} workers.")
        if verb == "ls":
            live = lifecycle.visible_live(rt, caller)
            return ephemeral("\n".join(line(r) for r in live) or "No live clusters.")
        if verb == "status":
            return ephemeral(line(lifecycle.owned(rt, one_name(args), caller), detail=True))
        if verb == "help":
            return ephemeral(usage)
        raise Usage(f"unknown command {verb!r}")
    except Usage as exc:
        return ephemeral(f"{exc}\n{usage}")
    except DaskyardError as exc:
        return ephemeral(f"Sorry: {exc}")


def line(record: ClusterRecord, detail: bool = False) -> str:
    text = f"*{record.name}* {record.status.value} ({record.spec.workers} workers)"
    if record.step and record.status.value == "CREATING":
        text += f", step {record.step}"
    if detail:
        text += "".join(f"\n{label}: {value}" for label, value in (
            ("Scheduler", record.scheduler.address), ("Dashboard", record.scheduler.dashboard_url),
            ("Notebook", record.notebook.url), ("Expires", record.expires_at),
            ("Error", record.error)) if value)
    return text


def one_name(args: list[str]) -> str:
    if len(args) != 1:
        raise Usage("give exactly one cluster name")
    return check_name(args[0])


def number(text: str, field: str, digits: int) -> int:
    """A number the user typed (chalicelib.core.numbers' one rule); else Usage."""
    try:
        return whole_number(text, field, digits)
    except InvalidRequest as exc:
        raise Usage(str(exc)) from exc


def two_args(args: list[str]) -> tuple[str, int]:
    if len(args) != 2:
        raise Usage("give a cluster name and a number of workers")
    return check_name(args[0]), number(args[1], "workers", COUNT_DIGITS)


def up_spec(args: list[str]) -> ClusterSpec:
    """`demo workers=4 notebook=yes ttl=8h cidr=10.1.0.0/16` -> a checked ClusterSpec.
    No CIDR unless named: the stage's whole allow-list is far wider than one user
    needs (the stage limits still apply to what is named)."""
    if not args:
        raise Usage("give a cluster name")
    cidrs: list[str] = []
    values: dict[str, Any] = {"name": args[0], "allowed_cidrs": cidrs}
    for option in args[1:]:
        key, sep, value = option.partition("=")
        if not sep:
            raise Usage(f"{option!r}: options are key=value")
        if key == "workers":
            values["workers"] = number(value, "workers", COUNT_DIGITS)
        elif key == "notebook" and value.lower() in YES:
            values["notebook"] = YES[value.lower()]
        elif key == "ttl":  # hours: "8h" or "8"
            values["ttl_hours"] = number(value.removesuffix("h"), "ttl", TTL_DIGITS)
        elif key == "teardown" and value in ("nightly", "never"):
            values["teardown"] = value
        elif key == "cidr" and value.isascii() and len(value) <= 43:
            cidrs.append(value)
        else:
            raise Usage(f"{option!r} is not a valid option")
    try:
        return ClusterSpec.model_validate(values)
    except ValidationError as exc:
        raise Usage(describe(exc)) from exc
