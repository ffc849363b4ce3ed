"""What a cluster's tasks printed, read from CloudWatch Logs: the task definitions send
each container's output there with the awslogs driver (RegisterTaskDefinitions), to the
cluster's log group, one stream per task named `<role>/<role>/<task id>` (awslogs'
`<prefix>/<container name>/<task id>`). The same reader serves a deployed stage and
local mode, whose ECS agent writes the same group and streams.

Bounded: at most MAX_STREAMS streams of a role and MAX_LIMIT lines per call; a page
ends with `next_token` when more lines are there, and `since` (ms) follows new ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import InvalidRequest

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
MAX_STREAMS = 100  # FilterLogEvents takes at most 100 stream names
MAX_MESSAGE = 2000  # characters of a line in an answer: the page stays well under 6 MB
ROLES = naming.ROLES
NO_LINES: dict[str, Any] = {"events": [], "next_token": None}  # nosec B105  # a page token, none


def _streams(logs: Any, group: str, role: str) -> list[str]:
    """A role's task streams, at most MAX_STREAMS. (FilterLogEvents' own
    logStreamNamePrefix would do, but moto's ignores it; the names work on both.)"""
    request: dict[str, Any] = {"logGroupName": group, "logStreamNamePrefix": f"{role}/"}
    names: list[str] = []
    while len(names) < 10 * MAX_STREAMS:
        page = logs.describe_log_streams(**request)
        names += [s["logStreamName"] for s in page.get("logStreams", [])]
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return names[-MAX_STREAMS:]


def _line(event: dict[str, Any]) -> dict[str, Any]:
    role, _, rest = str(event.get("logStreamName", "")).partition("/")
    task = rest.rpartition("/")[2]
    stamp = int(event["timestamp"])
    return {"timestamp": stamp,
            "time": datetime.fromtimestamp(stamp / 1000, UTC).isoformat(timespec="milliseconds"),
            "role": role, "task": task, "id": str(event.get("eventId", "")),
            "message": str(event.get("message", ""))[:MAX_MESSAGE]}


def read(logs: Any, group: str, role: str | None = None, since: int | None = None,
         limit: int = DEFAULT_LIMIT, token: str | None = None) -> dict[str, Any]:
    """A page of the group's lines in time order: {"events": [...], "next_token": str|None}.
    A group that does not exist (yet, or any more) has no lines."""
    if role is not None and role not in ROLES:
        raise InvalidRequest(f"role: one of {', '.join(ROLES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: from 1 to {MAX_LIMIT}")
    if since is not None and since < 0:
        raise InvalidRequest("since: milliseconds since the epoch, not negative")
    try:
        request: dict[str, Any] = {"logGroupName": group, "limit": limit, "interleaved": True}
        if role is not None:  # else every stream: the group holds the tasks' only
            request["logStreamNames"] = _streams(logs, group, role)
            if not request["logStreamNames"]:
                return dict(NO_LINES)
        if since is not None:
            request["startTime"] = since
        if token:
            request["nextToken"] = token
        page = logs.filter_log_events(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return dict(NO_LINES)
        raise
    events = sorted(page.get("events", []), key=lambda e: int(e["timestamp"]))
    return {"events": [_line(e) for e in events], "next_token": page.get("nextToken")}


def last_lines(logs: Any, group: str, stream: str, count: int = 20) -> list[str]:
    """The last `count` lines of one task's stream (none if it has none)."""
    try:
        page = logs.get_log_events(logGroupName=group, logStreamName=stream,
                                   limit=count, startFromHead=False)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return []
        raise
    return [str(e.get("message", ""))[:MAX_MESSAGE] for e in page.get("events", [])]
