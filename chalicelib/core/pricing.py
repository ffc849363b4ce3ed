"""What a cluster costs per hour, estimated from the stage's dated price table: the
scheduler, the workers and the notebook as sized in the task definitions; EC2 clusters
by the instances their tasks fill. An estimate to keep cost in sight, not a bill: EFS,
data transfer, logs and the control plane (cents a day) are left out."""

from __future__ import annotations

from chalicelib.core.launch_types import LAUNCH_TYPES
from chalicelib.core.models import ClusterSpec
from chalicelib.core.settings import Prices


def hourly(spec: ClusterSpec, prices: Prices, public_ips: bool = False) -> float:
    """Estimated USD per hour for `spec` while it runs, by its launch type, rounded to a
    tenth of a cent; `public_ips`: each Fargate task has one (the stage's
    assign_public_ip)."""
    return round(LAUNCH_TYPES[spec.launch_type].hourly(spec, prices, public_ips), 3)
