"""Names and tags that other parts rely on (see DESIGN.md, "Names that other parts rely on").
Every resource name is derived from the cluster name, so a delete twin can find what
its create made even if the create crashed before recording it."""

from __future__ import annotations

import re

CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
TAG_CLUSTER = "daskyard:cluster"
TAG_MANAGED = "daskyard:managed"
TAG_DRIVE = "daskyard:drive"
ROLES = ("scheduler", "worker", "notebook")
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
NOTEBOOK_PORT = 8888


def base(cluster: str) -> str:
    return f"daskyard-{cluster}"


def service(cluster: str, role: str) -> str:
    """ECS service name; role 'worker' maps to the '-workers' service."""
    return f"daskyard-{cluster}-{'workers' if role == 'worker' else role}"


def task_family(cluster: str, role: str) -> str:
    return f"daskyard-{cluster}-{role}"


def scheduler_parameter(cluster: str) -> str:
    return f"/daskyard/{cluster}/scheduler-address"


def private_key_parameter(cluster: str) -> str:
    return f"/daskyard/{cluster}/ssh-private-key"


def token_secret(cluster: str) -> str:
    return f"daskyard/{cluster}/jupyter-token"


def tls_secret(cluster: str) -> str:
    """The cluster's CA and certificates (chalicelib.core.tls), one JSON secret."""
    return f"daskyard/{cluster}/tls"


def log_group(cluster: str) -> str:
    return f"/daskyard/{cluster}"


def repository(prefix: str, role: str) -> str:
    return f"{prefix}/{role}"


def cluster_from_group(group: str) -> tuple[str, str] | None:
    """'service:daskyard-demo-scheduler' -> ('demo', 'scheduler'); None if not ours."""
    match = re.fullmatch(r"service:daskyard-([a-z][a-z0-9-]{1,30})-(scheduler|workers|notebook)",
                         group or "")
    if not match:
        return None
    return match.group(1), match.group(2)


def tags(cluster: str | None = None, **extra: str) -> dict[str, str]:
    out = {TAG_MANAGED: "true", **extra}
    if cluster:
        out[TAG_CLUSTER] = cluster
    return out


def kv(tag_map: dict[str, str]) -> list[dict[str, str]]:
    """EC2/EFS/SSM/Secrets Manager/ECR style: [{'Key':..., 'Value':...}]."""
    return [{"Key": k, "Value": v} for k, v in tag_map.items()]


def ecs_kv(tag_map: dict[str, str]) -> list[dict[str, str]]:
    """ECS style: [{'key':..., 'value':...}]."""
    return [{"key": k, "value": v} for k, v in tag_map.items()]
