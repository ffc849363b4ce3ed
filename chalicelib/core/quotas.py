"""The account's AWS quotas a cluster uses (Service Quotas), read the same way by the
create's preflight (chalicelib.lifecycle), the nightly summary (chalicelib.teardown) and
the doctor (chalicelib.doctor).

Quota values are cached per Lambda container for QUOTA_TTL (Clients.quota_cache): a
burst of creates asks Service Quotas once per quota, not once per create. That is sound
because a quota changes only when AWS approves an increase (minutes to days after it is
asked for, and never downward on its own): the cache at worst refuses a create for up to
QUOTA_TTL after an increase landed, and each new container reads afresh. What counts
against a quota (file systems, roles) is read on every create: it moves with every
create and destroy, by this stage and by anything else in the account."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from cachetools import TTLCache

from chalicelib.core.launch_types import FARGATE_ON_DEMAND, FARGATE_SPOT, LAUNCH_TYPES
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime

# Service Quotas codes (AWS's: the Service Quotas console lists them); the Fargate vCPU
# ones are the launch types' (core/launch_types.py).
EFS_FILE_SYSTEMS = ("elasticfilesystem", "L-848C634D")  # file systems per account, per Region
IAM_ROLES = ("iam", "L-FE177D64")  # roles per account (IAM is global: every Region's)
NAMES = {FARGATE_ON_DEMAND: "Fargate On-Demand vCPU", FARGATE_SPOT: "Fargate Spot vCPU",
         EFS_FILE_SYSTEMS: "EFS file systems", IAM_ROLES: "IAM roles"}
# Seconds a quota value is kept (see the module's docstring).
QUOTA_TTL = 600
# Share of a quota in use from which the doctor and the nightly summary warn: a few
# clusters more pass it.
NEAR = 0.8


class QuotaCache(TTLCache[tuple[str, str, str], tuple[float, bool]]):
    """(Region, service, quota code) -> (value, default), each kept QUOTA_TTL seconds;
    with the lock its readers hold (a local runtime calls from threads)."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        super().__init__(maxsize=64, ttl=QUOTA_TTL, timer=timer)
        self.lock = threading.Lock()


def quota(rt: Runtime, service: str, code: str, *, fresh: bool = False) -> tuple[float, bool]:
    """(value, whether it is AWS's default): the account's applied quota, or AWS's
    default where Service Quotas has no applied value for it (NoSuchResourceException:
    some quotas have only their defaults there). Cached for QUOTA_TTL unless `fresh`."""
    cache = rt.clients.quota_cache
    key = (rt.clients.region, service, code)
    if not fresh:
        with cache.lock:
            found: tuple[float, bool] | None = cache.get(key)
        if found is not None:
            return found
    value = _read(rt, service, code)
    with cache.lock:
        cache[key] = value
    return value


def _read(rt: Runtime, service: str, code: str) -> tuple[float, bool]:
    client = rt.clients.quotas
    try:
        return float(client.get_service_quota(ServiceCode=service, QuotaCode=code)[
            "Quota"]["Value"]), False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
            raise
    return float(client.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)[
        "Quota"]["Value"]), True


def fargate_vcpus(spec: ClusterSpec) -> dict[tuple[str, str], float]:
    """The Fargate vCPUs a cluster holds, by quota, as its launch type places its tasks
    (nothing on EC2: instances)."""
    return LAUNCH_TYPES[spec.launch_type].vcpus(spec)


def held_vcpus(rt: Runtime) -> dict[tuple[str, str], float]:
    """The Fargate vCPUs the stage's live clusters hold, by quota (the live index)."""
    held: dict[tuple[str, str], float] = {}
    for record in rt.registry.live():
        for kind, vcpus in fargate_vcpus(record.spec).items():
            held[kind] = held.get(kind, 0.0) + vcpus
    return held


def file_systems(rt: Runtime) -> list[dict[str, Any]]:
    """Every EFS file system of the account in the stage's Region, as the quota counts
    them. EFS has no count and no usage metric: the listing, 100 a page, is the cheapest
    exact count (one call up to 100 file systems, ten at the default quota of 1,000)."""
    return [dict(fs) for page in rt.clients.efs.get_paginator("describe_file_systems")
            .paginate() for fs in page["FileSystems"]]


def roles(rt: Runtime) -> tuple[int, int]:
    """(roles in the account, the roles quota IAM enforces): both in one GetAccountSummary
    call. Its RolesQuota is the limit itself, an approved increase included, in every
    Region (Service Quotas keeps IAM's global quotas in us-east-1 only)."""
    summary = rt.clients.iam.get_account_summary()["SummaryMap"]
    return int(summary["Roles"]), int(summary["RolesQuota"])


@dataclass(frozen=True)
class Headroom:
    """One account quota the stage depends on: how much of it is in use."""

    name: str
    service: str
    code: str
    used: float
    limit: float
    default: bool  # the limit is AWS's documented default (no applied value read)
    scope: str  # what `used` counts

    @property
    def low(self) -> bool:
        return self.used >= NEAR * self.limit

    def text(self) -> str:
        figure = (f"{self.name} {self.used:g} of {self.limit:g} ({self.scope}"
                  f"{', AWS default' if self.default else ''})")
        if not self.low:
            return figure
        return (f"{figure} LOW: {max(self.limit - self.used, 0):g} left, Service Quotas "
                f"{self.service} {self.code}")


def headroom(rt: Runtime) -> list[Headroom]:
    """Each account quota the stage depends on, used / limit: the Fargate vCPUs the
    stage's live clusters hold (other stages' and other tasks' are not seen), the
    account's EFS file systems in the Region, its IAM roles."""
    held = held_vcpus(rt)
    out = [Headroom(NAMES[kind], *kind, held.get(kind, 0.0), *quota(rt, *kind),
                    "this stage's live clusters")
           for kind in (FARGATE_ON_DEMAND, FARGATE_SPOT)]
    out.append(Headroom(NAMES[EFS_FILE_SYSTEMS], *EFS_FILE_SYSTEMS, len(file_systems(rt)),
                        *quota(rt, *EFS_FILE_SYSTEMS), f"the account in {rt.clients.region}"))
    used, limit = roles(rt)
    out.append(Headroom(NAMES[IAM_ROLES], *IAM_ROLES, used, limit, False, "the account"))
    return out
