"""Stage settings, read once from the Lambda environment (set in .chalice/config.json
and, for deployed stacks, by the template)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import get_origin

from pydantic import BaseModel, Field, field_validator, model_validator

from chalicelib.core.naming import STAGE_NAME


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# Fargate accepts only these CPU units -> memory (MiB) combinations.
FARGATE_SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: [1024 * m for m in range(1, 5)],
    1024: [1024 * m for m in range(2, 9)],
    2048: [1024 * m for m in range(4, 17)],
    4096: [1024 * m for m in range(8, 31)],
    8192: [1024 * m for m in range(16, 61, 4)],
    16384: [1024 * m for m in range(32, 121, 8)],
}


# EC2 instance types a stage may allow -> (CPU units, MiB an ECS task can reserve there):
# the instance's memory less 256 MiB for the OS and the ECS agent (the ECS-optimized AMI
# registers a little less than the instance has; a task asking for all of it never runs).
EC2_SIZES: dict[str, tuple[int, int]] = {
    "t3.medium": (2048, 4096 - 256),
    "t3.large": (2048, 8192 - 256),
    "m5.large": (2048, 8192 - 256),
    "m5.xlarge": (4096, 16384 - 256),
    "c5.xlarge": (4096, 8192 - 256),
}
# Task sizes (CPU units, MiB) of the roles whose size the owner does not choose.
SCHEDULER_SIZE = (1024, 4096)
NOTEBOOK_SIZE = (1024, 4096)


class Prices(BaseModel):
    """On-demand USD prices, us-east-1, Linux/x86, from the AWS price list as of
    `as_of` (Fargate: aws.amazon.com/fargate/pricing; EC2: aws.amazon.com/ec2/pricing),
    for cost estimates (core/pricing.py). A stage in another region, or on later prices,
    sets its own: DASKYARD_PRICES, JSON."""

    as_of: str = "2025-01-01"
    fargate_vcpu_hour: float = 0.04048
    fargate_gb_hour: float = 0.004445
    public_ipv4_hour: float = 0.005  # each Fargate task with a public IP
    # Fargate Spot has run at about 70% below on-demand; it varies by the hour.
    fargate_spot_discount: float = Field(default=0.7, ge=0, le=1)
    ec2_hour: dict[str, float] = Field(default_factory=lambda: {
        "t3.medium": 0.0416, "t3.large": 0.0832, "m5.large": 0.096, "m5.xlarge": 0.192,
        "c5.xlarge": 0.17})


# AWS limits no request may pass: tasks per ECS service, inbound rules per security group.
MAX_SERVICE_TASKS = 5000
MAX_GROUP_RULES = 60


class Settings(BaseModel):
    # Leads every name, SSM path, secret and tag (chalicelib.core.naming.STAGE_NAME).
    stage: str = Field("dev", pattern=STAGE_NAME.pattern)
    region: str = "us-east-1"
    # "" = the stage's own (see _stage_defaults), as the template names them.
    table: str = ""
    idempotency_table: str = ""
    drives_table: str = ""  # named drives' owners and shares (chalicelib/core/drives.py)
    create_state_machine_arn: str = ""
    destroy_state_machine_arn: str = ""
    image_tag: str = "2026.8.0"
    ecr_prefix: str = "daskyard"
    # CodeBuild project that builds images/ into ECR when a tag is missing ("" = none).
    image_build_project: str = ""
    # Image URIs a create may name instead of the stage's build (`image`): images built
    # FROM Daskyard's, in repositories the task execution role may pull from.
    allowed_images: list[str] = Field(default_factory=list)
    task_execution_role_arn: str = ""
    task_role_arn: str = ""
    instance_profile_arn: str = ""
    vpc_id: str = ""
    subnet_ids: list[str] = Field(default_factory=list)
    assign_public_ip: bool = True
    allow_public_ingress: bool = False
    max_workers: int = 50
    allowed_instance_types: list[str] = Field(
        default_factory=lambda: ["t3.medium", "t3.large", "m5.large", "m5.xlarge", "c5.xlarge"]
    )
    allowed_cidrs: list[str] = Field(default_factory=lambda: ["10.0.0.0/8"])
    log_retention_days: int = 14
    slack_secret_id: str = ""
    webhook_secret_id: str = ""
    # Secrets Manager id of a Slack incoming-webhook URL for the teardown summary ("" = off).
    summary_webhook_secret_id: str = ""
    # Slack's response_url always starts here; anything else is refused.
    slack_response_prefix: str = "https://hooks.slack.com/"
    # Webhook callbacks must be https unless this is set (local mode only).
    allow_http_callbacks: bool = False
    # Callbacks to private, loopback and link-local addresses (local mode only).
    allow_private_callbacks: bool = False
    # Who may see and act on every cluster: IAM principal ids (`AIDA...` a user,
    # `AROA...` every session of a role, `AROA...:<name>` a session of a trusted role),
    # or ARNs of users and roles (a role's covers its sessions), `slack:<team>/<user>`
    # and `webhook:<key id>`. Everyone else sees their own only (core/identity.py).
    admins: list[str] = Field(default_factory=list)
    # Roles (ids `AROA...`, or ARNs) whose trust policies pin the session name to the
    # person (IAM Identity Center does; else an `sts:RoleSessionName` condition such as
    # `${aws:username}`): each session is its own owner, `<role id>:<session name>`.
    # Any other role's sessions are one owner, the role's id: its session names are
    # whatever the caller passed to AssumeRole.
    trusted_session_roles: list[str] = Field(default_factory=list)
    # The form a trusted role's session name must have (a regex, matched whole); a
    # session named otherwise is refused.
    trusted_session_name: str = r"[\w+=,.@-]{2,64}"
    # Per owner: live clusters, and workers over all of them.
    quota_clusters: int = Field(default=5, ge=0)
    quota_workers: int = Field(default=100, ge=0)
    # Slack workspaces (team ids) allowed to use the command; empty refuses every one.
    slack_teams: list[str] = Field(default_factory=list)
    # Channels the command may be used in; empty allows any channel of an allowed team.
    slack_channels: list[str] = Field(default_factory=list)
    prices: Prices = Field(default_factory=Prices)
    # Minutes a cluster may sit without tasks and without a client before it is
    # destroyed (0 = never); a create may set its own (ClusterSpec.idle_timeout_minutes).
    idle_timeout_minutes: int = Field(default=60, ge=0)
    # Spare drives the stage keeps ready (EFS with their mount targets made), so that a
    # cluster without a named drive does not wait the 90 s AWS takes to make mount
    # targets; an empty file system costs nothing (chalicelib/steps/spare_drives.py).
    spare_drives: int = Field(default=0, ge=0, le=5)
    # Seconds between two adaptive scaling decisions of a scheduler.
    adapt_interval_seconds: float = Field(default=10.0, gt=0)
    # Multiplies the scheduler's idle timeout and adapt interval: tests shorten them.
    scheduler_time_scale: float = Field(default=1.0, gt=0, le=1)
    # The permissions boundary of every per-cluster scheduler role (the template's).
    scheduler_role_boundary_arn: str = ""
    # The Lambda that runs the preflight checks (chalicelib/doctor.py) with the steps'
    # permissions ("" = the stage's, as Chalice names it).
    doctor_function: str = ""
    teardown_schedule: str = "cron(0 2 * * ? *)"
    expiry_schedule: str = "rate(15 minutes)"

    @field_validator("trusted_session_name")
    @classmethod
    def _a_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _stage_defaults(self) -> Settings:
        """Unset tables and secrets are the stage's: two stages never share them."""
        self.table = self.table or f"daskyard-{self.stage}-clusters"
        self.idempotency_table = self.idempotency_table or f"daskyard-{self.stage}-idempotency"
        self.drives_table = self.drives_table or f"daskyard-{self.stage}-drives"
        self.slack_secret_id = self.slack_secret_id or f"daskyard/{self.stage}/slack-signing-secret"
        self.webhook_secret_id = self.webhook_secret_id or f"daskyard/{self.stage}/webhook-secret"
        self.doctor_function = self.doctor_function or f"daskyard-{self.stage}-Doctor"
        return self

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(f"DASKYARD_{name.upper()}")
            if raw is None:
                continue
            if get_origin(field.annotation) is list:
                values[name] = _csv(raw)
            elif field.annotation is Prices:
                values[name] = Prices.model_validate_json(raw)
            else:
                values[name] = raw
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        values.setdefault("region", region)
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
