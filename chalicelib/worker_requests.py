"""A scheduler's request for a worker count, applied within its cluster's bounds.

The scheduler's role may not change its workers service (a role that could would also
change its task definition, network, exec setting or capacity provider, or run past
every quota): it writes the count it wants to its cluster's `desired-workers`
parameter, and the "Parameter Store Change" event brings that here. The count is applied
to the workers service only while the cluster is READY with adaptive scaling on, and
only within the adaptive bounds, which the owner set through the API under their quota
and the stage's maximum."""

from __future__ import annotations

import re

from chalicelib.core import naming
from chalicelib.core.errors import InvalidRequest
from chalicelib.core.models import Status
from chalicelib.core.numbers import whole_number
from chalicelib.core.runtime import Runtime


def cluster_of(stage: str, parameter: str) -> str | None:
    """The cluster whose scheduler asked, from the parameter's name; None if it is not a
    request of this stage's."""
    match = re.fullmatch(rf"/daskyard/{re.escape(stage)}/([a-z][a-z0-9-]{{1,30}})/"
                         f"{naming.DESIRED_WORKERS}", parameter or "")
    return match.group(1) if match else None


def apply(rt: Runtime, parameter: str) -> str:
    """Set the cluster's workers service to the count asked for, clamped to its bounds.
    Returns what was done (the handler's answer, for the logs)."""
    cluster = cluster_of(rt.settings.stage, parameter)
    if cluster is None:
        return f"ignored: {parameter} is no worker request"
    record = rt.registry.get(cluster)
    if record is None or record.status != Status.READY or record.adapt is None:
        return f"ignored: {cluster} is not READY with adaptive scaling on"
    try:
        value = rt.clients.ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        asked = whole_number(value, "desired-workers", digits=4)
    except rt.clients.ssm.exceptions.ParameterNotFound:
        return f"ignored: {parameter} is gone"
    except InvalidRequest:
        return f"refused: {cluster}'s scheduler asked for {value[:20]!r}"
    bounds = record.adapt
    most = rt.settings.max_workers if bounds.maximum is None else bounds.maximum
    count = max(bounds.minimum, min(asked, most, rt.settings.max_workers))
    names = rt.names(cluster)
    rt.clients.ecs.update_service(cluster=names.base(), service=names.service("worker"),
                                  desiredCount=count)
    return f"{cluster}: {count} workers (asked {asked}, bounds {bounds.minimum}-{bounds.maximum})"
