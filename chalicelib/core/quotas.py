"""The account's AWS quotas a cluster uses (Service Quotas), read the same way by the
create's preflight (chalicelib.lifecycle) and the doctor (chalicelib.doctor)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core.launch_types import FARGATE_ON_DEMAND, FARGATE_SPOT, LAUNCH_TYPES
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime

NAMES = {FARGATE_ON_DEMAND: "Fargate On-Demand vCPU", FARGATE_SPOT: "Fargate Spot vCPU"}


def quota(rt: Runtime, service: str, code: str) -> tuple[float, bool]:
    """(value, whether it is AWS's default): the account's applied quota, or AWS's
    default where Service Quotas has no applied value for it (NoSuchResourceException:
    some quotas have only their defaults there)."""
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
