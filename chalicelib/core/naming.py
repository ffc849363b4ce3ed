"""Names and tags that other parts rely on (docs/architecture.md, "Names and tags").
Every resource name is derived from the stage and the cluster name, so a delete twin can
find what its create made even if the create crashed before recording it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, get_args

CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
# No hyphen, so `daskyard-dev-` can never be a prefix of another stage's names; at most 12
# characters, as the tightest name, a named drive's EFS creation token
# (`daskyard-<stage>.drive-<31>`, 64 at most), leaves room for 17.
STAGE_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
TAG_CLUSTER = "daskyard:cluster"
TAG_STAGE = "daskyard:stage"
TAG_MANAGED = "daskyard:managed"
TAG_DRIVE = "daskyard:drive"
# A stage's spare drive (chalicelib/steps/spare_drives.py): "ready", or "removing" once
# the stage wants fewer. Taken by a cluster, it loses this tag for the cluster's.
TAG_SPARE = "daskyard:spare"
# A task's role, one spelling everywhere (the container's name, the record's crashes);
# only the workers' ECS service is named in the plural.
Role = Literal["scheduler", "worker", "notebook"]
ROLES: tuple[str, ...] = get_args(Role)
# Role -> the end of its ECS service's name (the workers' is plural), and back.
SERVICE_OF_ROLE = {role: "workers" if role == "worker" else role for role in ROLES}
ROLE_OF_SERVICE: dict[str, Role] = {SERVICE_OF_ROLE[role]: role for role in get_args(Role)}
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
NOTEBOOK_PORT = 8888
# A worker's own port in its container (bridge mode maps it to a host port ECS picks;
# images/entrypoint.py advertises that one). Elsewhere the worker picks its port.
WORKER_PORT = 8790
# IAM names are unique per account, whatever the path (roles 64 characters at most).
ROLE_NAME_MAX = 64
# The scheduler exits with this when its idle timeout fired (the same number is in
# images/daskyard_scheduler.py): the task event handler then destroys the cluster.
EXIT_IDLE = 75


def repository(prefix: str, role: str) -> str:
    """ECR repositories (and the image tag) are shared by every stage in an account:
    images are the same code whatever the stage, so they carry no stage."""
    return f"{prefix}/{role}"


# The last part of the parameter a scheduler asks for its worker count in.
DESIRED_WORKERS = "desired-workers"


@dataclass(frozen=True)
class Names:
    """Every name of one cluster in one stage. The stage leads each name (right after
    `daskyard`), so IAM can scope a stage by prefix and one stage never reaches
    another's resources even when their cluster names are the same."""

    stage: str
    cluster: str

    def base(self) -> str:
        """ECS cluster, security group, EFS token, key pair, launch template, ASG,
        capacity provider."""
        return f"daskyard-{self.stage}-{self.cluster}"

    def service(self, role: str) -> str:
        """ECS service name; role 'worker' maps to the '-workers' service."""
        return f"{self.base()}-{SERVICE_OF_ROLE[role]}"

    def task_family(self, role: str) -> str:
        return f"{self.base()}-{role}"

    def scheduler_parameter(self) -> str:
        return f"/daskyard/{self.stage}/{self.cluster}/scheduler-address"

    def adapt_parameter(self) -> str:
        """The adaptive scaling bounds the scheduler reads, as JSON; absent = off."""
        return f"/daskyard/{self.stage}/{self.cluster}/adapt"

    def desired_workers_parameter(self) -> str:
        """The worker count the scheduler asks for (the only thing it may write): the
        orchestrator applies it within the adaptive bounds (chalicelib.worker_requests)."""
        return f"/daskyard/{self.stage}/{self.cluster}/{DESIRED_WORKERS}"

    def role_path(self) -> str:
        """IAM path of the roles made per cluster (the template's roles have none)."""
        return f"/daskyard/{self.stage}/"

    def scheduler_role(self, region: str) -> str:
        """The scheduler's task role: it may scale its own workers service, nothing else.
        IAM is global, so the region is in the name: the same stage and cluster name in
        two regions of an account would otherwise make the same role. A name over IAM's
        64 characters (a long stage, region and cluster) keeps its start and ends with a
        hash of the whole, so it stays unique and derivable by the delete twin."""
        name = f"daskyard-{self.stage}-{region}-{self.cluster}"
        suffix = "-scheduler"
        if len(name) + len(suffix) > ROLE_NAME_MAX:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            name = f"{name[:ROLE_NAME_MAX - len(suffix) - len(digest) - 1]}-{digest}"
        return name + suffix

    def private_key_parameter(self) -> str:
        return f"/daskyard/{self.stage}/{self.cluster}/ssh-private-key"

    def credentials_secret(self) -> str:
        """The cluster's CA, certificates and Jupyter token (chalicelib.core.tls), one
        JSON secret."""
        return f"daskyard/{self.stage}/{self.cluster}/credentials"

    def log_group(self) -> str:
        return f"/daskyard/{self.stage}/{self.cluster}"

    @staticmethod
    def log_stream(role: str, task_id: str) -> str:
        """A task's stream, as awslogs names it: `<prefix>/<container name>/<task id>`,
        the role being both (RegisterTaskDefinitions)."""
        return f"{role}/{role}/{task_id}"

    def drive(self, name: str) -> str:
        """EFS creation token (and security group) of a named drive: shared by the stage's
        clusters naming it. The dot keeps it apart from a cluster named `drive-<name>`,
        whose own drive's token is `daskyard-<stage>-drive-<name>`."""
        return f"daskyard-{self.stage}.drive-{name}"

    @staticmethod
    def drive_root(owner: str) -> str:
        """The root of `owner`'s clusters' access points on a named drive: one per owner,
        so that no owner reads or writes another's files on a drive they share. Hashed:
        an owner's id (an ARN, `slack:T/U`) is not a path, and need not be shown."""
        return f"/owners/{hashlib.sha256(owner.encode()).hexdigest()[:32]}"

    def tags(self, **extra: str) -> dict[str, str]:
        return tags(self.stage, self.cluster, **extra)


def regional(stage: str, region: str, name: str) -> str:
    """A stage-wide IAM name (the template's roles, instance profile and boundary policy):
    IAM is global, so the region is in it, after the stage, so the Lambdas' policies still
    scope on `daskyard-<stage>-*` and two regions of one account never collide."""
    return f"daskyard-{stage}-{region}-{name}"


# A stage's spare drives. The dot after the stage keeps these names apart from every
# cluster's (`daskyard-<stage>-<cluster>`: a cluster name has no dot).
def spare_token_prefix(stage: str) -> str:
    """EFS creation tokens of the stage's spare drives start with this."""
    return f"daskyard-{stage}.spare-"


def spares_group(stage: str) -> str:
    """The security group of the spares' mount targets: it lets nothing in."""
    return f"daskyard-{stage}.spare-drives"


def spare_claim(stage: str, file_system: str) -> str:
    """SSM parameter made (only if absent) by whoever takes the spare: the one lock."""
    return f"/daskyard/{stage}/_spares/{file_system}"


def cluster_from_group(stage: str, group: str) -> tuple[str, Role] | None:
    """'service:daskyard-dev-demo-scheduler' -> ('demo', 'scheduler') for stage 'dev',
    '...-demo-workers' -> ('demo', 'worker'): the cluster and the role; None if not ours,
    another stage's included."""
    match = re.fullmatch(rf"service:daskyard-{re.escape(stage)}-([a-z][a-z0-9-]{{1,30}})-"
                         f"({'|'.join(ROLE_OF_SERVICE)})", group or "")
    if not match:
        return None
    return match.group(1), ROLE_OF_SERVICE[match.group(2)]


def tags(stage: str, cluster: str | None = None, **extra: str) -> dict[str, str]:
    """The tags of everything made for a stage (and a cluster): the sweeper and teardown
    find resources by managed, stage and cluster together."""
    out = {TAG_MANAGED: "true", TAG_STAGE: stage, **extra}
    if cluster:
        out[TAG_CLUSTER] = cluster
    return out


def kv(tag_map: dict[str, str]) -> list[dict[str, str]]:
    """EC2/EFS/SSM/Secrets Manager/ECR style: [{'Key':..., 'Value':...}]."""
    return [{"Key": k, "Value": v} for k, v in tag_map.items()]


def ecs_kv(tag_map: dict[str, str]) -> list[dict[str, str]]:
    """ECS style: [{'key':..., 'value':...}]."""
    return [{"key": k, "value": v} for k, v in tag_map.items()]
