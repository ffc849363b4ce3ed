"""What a cluster costs per hour, estimated from the stage's dated price table: the
scheduler, the workers and the notebook as sized in the task definitions; EC2 clusters
by the instances their tasks fill. An estimate to keep cost in sight, not a bill: EFS,
data transfer, logs and the control plane (cents a day) are left out."""

from __future__ import annotations

import math

from chalicelib.core.models import ClusterSpec
from chalicelib.core.settings import EC2_SIZES, NOTEBOOK_SIZE, SCHEDULER_SIZE, Prices


def hourly(spec: ClusterSpec, prices: Prices, public_ips: bool = False) -> float:
    """Estimated USD per hour for `spec` while it runs, rounded to a tenth of a cent;
    `public_ips`: each Fargate task has one (the stage's assign_public_ip)."""
    sizes = [SCHEDULER_SIZE, *[(spec.worker_cpu, spec.worker_memory)] * spec.workers]
    if spec.notebook:
        sizes.append(NOTEBOOK_SIZE)
    if spec.launch_type == "EC2":
        cpu, memory = EC2_SIZES[spec.instance_type]
        fitted = [min(memory, m) for _, m in sizes]  # the task definitions cap them so
        instances = max(math.ceil(sum(c for c, _ in sizes) / cpu),
                        math.ceil(sum(fitted) / memory))
        return round(instances * prices.ec2_hour.get(spec.instance_type, 0.0), 3)
    task_hour = sum(c / 1024 * prices.fargate_vcpu_hour + m / 1024 * prices.fargate_gb_hour
                    for c, m in sizes)
    if spec.launch_type == "FARGATE_SPOT":
        worker_share = spec.workers * (spec.worker_cpu / 1024 * prices.fargate_vcpu_hour
                                       + spec.worker_memory / 1024 * prices.fargate_gb_hour)
        task_hour -= worker_share * prices.fargate_spot_discount  # workers only run on Spot
    if public_ips:
        task_hour += len(sizes) * prices.public_ipv4_hour
    return round(task_hour, 3)
