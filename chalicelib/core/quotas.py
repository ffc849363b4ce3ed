"""The account's AWS quotas a cluster uses (Service Quotas), read the same way by the
create's preflight (chalicelib.lifecycle) and the doctor (chalicelib.doctor)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import NOTEBOOK_SIZE, SCHEDULER_SIZE

# Service Quotas codes (AWS's: the Service Quotas console lists them).
FARGATE_ON_DEMAND = ("fargate", "L-3032A538")  # Fargate On-Demand vCPU resource count
FARGATE_SPOT = ("fargate", "L-36FBB829")  # Fargate Spot vCPU resource count
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
    """The Fargate vCPUs a cluster holds, by quota: the scheduler and the notebook on
    on-demand capacity, the workers on on-demand or Spot (nothing on EC2: instances)."""
    if spec.launch_type == "EC2":
        return {}
    fixed = (SCHEDULER_SIZE[0] + (NOTEBOOK_SIZE[0] if spec.notebook else 0)) / 1024
    workers = spec.workers * spec.worker_cpu / 1024
    if spec.launch_type == "FARGATE_SPOT":
        return {FARGATE_ON_DEMAND: fixed, FARGATE_SPOT: workers}
    return {FARGATE_ON_DEMAND: fixed + workers}
