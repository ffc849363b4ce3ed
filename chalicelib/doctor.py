"""The preflight of a stage on a real account (`daskyard doctor`, `GET /doctor`): what
first deploys trip on, each check read-only and answered with OK, WARN or FAIL, a
figure and, when not OK, what to do.

It runs in the Doctor Lambda, in the steps' function group, so that it sees the account
with the permissions the steps will use (a check the steps' role may not make fails as
the step would). A check that had to take AWS's documented default quota, because the
account's applied value was not available, says so (`default`): it then warns rather
than fails, as the account may have more. It reads each quota afresh, not from the
cache creates use: it is what one runs after an increase."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import DaskyardError
from chalicelib.core.models import ClusterSpec, DoctorCheck, DoctorReport
from chalicelib.core.quotas import (
    EFS_FILE_SYSTEMS,
    FARGATE_ON_DEMAND,
    FARGATE_SPOT,
    IAM_ROLES,
    NEAR,
    file_systems,
    quota,
    roles,
)
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import NOTEBOOK_SIZE, SCHEDULER_SIZE

Status = Literal["OK", "WARN", "FAIL"]

# Service Quotas code (AWS's: the Service Quotas console lists them).
SECURITY_GROUPS = ("vpc", "L-E79EC296")  # VPC security groups per Region
SERVICE_LINKED_ROLES = {"ecs": ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
                        "autoscaling": ("autoscaling.amazonaws.com",
                                        "AWSServiceRoleForAutoScaling")}
# What a task reaches at start: the address (SSM), its image (ECR's API, its registry,
# and S3 where ECR keeps the layers), its logs and its secrets.
TASK_ENDPOINTS = ("ssm", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "s3")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    figure: str
    advice: str = ""
    # Answered with AWS's documented default quota, not the account's applied one.
    default: bool = False

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _service_linked_role(key: str) -> Callable[[Runtime], Check]:
    service, role = SERVICE_LINKED_ROLES[key]

    def check(rt: Runtime) -> Check:
        name = f"{key}-service-linked-role"
        try:
            rt.clients.iam.get_role(RoleName=role)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            # ECS and Auto Scaling make their role at their first use if the caller may
            # (the steps' ServiceLinkedRoles statement), unless an SCP forbids it.
            return Check(name, "WARN", f"{role} is missing",
                         f"AWS makes it at the first cluster if the steps' role may create "
                         f"it (an SCP may forbid that); make it now: aws iam "
                         f"create-service-linked-role --aws-service-name {service}")
        return Check(name, "OK", f"{role} exists")

    check.__name__ = f"{key}_service_linked_role"
    return check


ecs_service_linked_role = _service_linked_role("ecs")
autoscaling_service_linked_role = _service_linked_role("autoscaling")


def _vcpus(cpu_units: int) -> float:
    return cpu_units / 1024


def _largest_cluster(rt: Runtime) -> tuple[int, float]:
    """(workers, vCPUs per worker) of the largest cluster the stage allows at the default
    worker size."""
    return rt.settings.max_workers, _vcpus(ClusterSpec.model_fields["worker_cpu"].default)


def _fargate(rt: Runtime, name: str, code: tuple[str, str], need: float, what: str) -> Check:
    value, default = quota(rt, *code, fresh=True)
    figure = f"quota {value:g} vCPU{' (AWS default)' if default else ''}; {what} needs {need:g}"
    if value >= need:
        return Check(name, "OK", figure, default=default)
    advice = (f"request at least {need:g} vCPU for Service Quotas {code[0]} {code[1]} "
              f"(aws service-quotas request-service-quota-increase --service-code {code[0]} "
              f"--quota-code {code[1]} --desired-value {need:g}), or lower the stage's "
              "DASKYARD_MAX_WORKERS")
    if default:  # the account's own value was not readable: it may well be higher
        return Check(name, "WARN", figure, "the account's applied quota could not be read; "
                     "check it in the Service Quotas console, and if it is below: " + advice,
                     default=True)
    return Check(name, "FAIL", figure, advice)


def fargate_on_demand_quota(rt: Runtime) -> Check:
    workers, each = _largest_cluster(rt)
    need = workers * each + _vcpus(SCHEDULER_SIZE[0]) + _vcpus(NOTEBOOK_SIZE[0])
    return _fargate(rt, "fargate-on-demand-quota", FARGATE_ON_DEMAND, need,
                    f"a FARGATE cluster of {workers} workers x {each:g} vCPU, its scheduler "
                    "and notebook")


def fargate_spot_quota(rt: Runtime) -> Check:
    workers, each = _largest_cluster(rt)  # on Spot only the workers run
    return _fargate(rt, "fargate-spot-quota", FARGATE_SPOT, workers * each,
                    f"a FARGATE_SPOT cluster's {workers} workers x {each:g} vCPU")


def _usage(name: str, used: int, limit: float, default: bool, what: str,
           advice: str) -> Check:
    figure = f"{used} of {limit:g} {what}{' (AWS default quota)' if default else ''}"
    if used >= limit:  # the next cluster cannot make its own
        return Check(name, "WARN" if default else "FAIL", figure, advice, default=default)
    if used >= NEAR * limit:
        return Check(name, "WARN", figure, advice, default=default)
    return Check(name, "OK", figure, default=default)


def efs_file_systems(rt: Runtime) -> Check:
    used = len(file_systems(rt))
    limit, default = quota(rt, *EFS_FILE_SYSTEMS, fresh=True)
    return _usage("efs-file-systems", used, limit, default, "EFS file systems in the Region",
                  "each cluster without a named drive makes one: delete unused file systems "
                  "or request more (Service Quotas elasticfilesystem "
                  f"{EFS_FILE_SYSTEMS[1]})")


def iam_roles(rt: Runtime) -> Check:
    used, limit = roles(rt)
    return _usage("iam-roles", used, limit, False,
                  "IAM roles in the account",
                  "each cluster makes its scheduler's role: delete unused roles or request "
                  f"more (Service Quotas {IAM_ROLES[0]} {IAM_ROLES[1]}, Roles per account)")


def security_groups(rt: Runtime) -> Check:
    used = sum(len(page["SecurityGroups"]) for page in
               rt.clients.ec2.get_paginator("describe_security_groups").paginate())
    limit, default = quota(rt, *SECURITY_GROUPS, fresh=True)
    return _usage("security-groups", used, limit, default, "security groups in the Region",
                  "each cluster makes one: delete unused groups or request more (Service "
                  f"Quotas vpc {SECURITY_GROUPS[1]})")


def _route_out(table: dict[str, Any]) -> str:
    """"nat" or "igw" for an active default route of the table, else ""."""
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        if route.get("NatGatewayId"):
            return "nat"
        if str(route.get("GatewayId", "")).startswith("igw-"):
            return "igw"
    return ""


def network(rt: Runtime) -> Check:
    """Whether a task in each of the stage's subnets reaches SSM, ECR, CloudWatch Logs
    and Secrets Manager: through a NAT gateway, an internet gateway with a public IP
    (a Fargate task's, or an EC2 cluster's instance's, which its bridge-mode tasks go out
    through), or VPC endpoints for all of them."""
    from chalicelib.steps.arrange_network import stage_network

    try:
        vpc, subnets = stage_network(rt)
    except DaskyardError as exc:
        return Check("network", "FAIL", "no subnets", str(exc))
    ec2 = rt.clients.ec2
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc]}]
    tables = ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]
    main: dict[str, Any] = next((t for t in tables for a in t.get("Associations", [])
                                 if a.get("Main")), {})
    table_of = {a["SubnetId"]: t for t in tables for a in t.get("Associations", [])
                if a.get("SubnetId")}
    # com.amazonaws.<region>.ecr.api -> ecr.api
    endpoints = {e["ServiceName"].split(f".{rt.settings.region}.", 1)[-1]
                 for e in ec2.describe_vpc_endpoints(Filters=vpc_filter)["VpcEndpoints"]
                 if str(e.get("State", "available")).lower() == "available"}
    missing = [s for s in TASK_ENDPOINTS if s not in endpoints]
    ways, blocked = [], []
    for subnet in subnets:
        out = _route_out(table_of.get(subnet, main))
        if out == "nat" or not missing:
            ways.append(f"{subnet}: {'NAT' if out == 'nat' else 'VPC endpoints'}")
        elif out == "igw" and rt.settings.assign_public_ip:
            ways.append(f"{subnet}: internet gateway, public IP")
        else:
            blocked.append(subnet)
            ways.append(f"{subnet}: no way out")
    figure = f"{vpc}, {len(subnets)} subnets: " + "; ".join(ways)
    reach = ("give them a way to SSM, ECR, CloudWatch Logs and Secrets Manager: a NAT "
             "gateway route (0.0.0.0/0 -> nat-...), an internet gateway route with "
             "DASKYARD_ASSIGN_PUBLIC_IP=true, or VPC endpoints for "
             f"{', '.join(missing)} (S3 as a gateway endpoint)")
    if blocked:
        return Check("network", "FAIL", figure,
                     f"tasks in {', '.join(blocked)} cannot start: {reach}")
    return Check("network", "OK", figure)


def images(rt: Runtime) -> Check:
    tag, missing = rt.settings.image_tag, []
    for role in naming.ROLES:
        repository = naming.repository(rt.settings.ecr_prefix, role)
        try:
            rt.clients.ecr.describe_images(repositoryName=repository,
                                           imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if _code(exc) not in ("ImageNotFoundException", "RepositoryNotFoundException"):
                raise
            missing.append(repository)
    if not missing:
        return Check("images", "OK", f"{tag} in {len(naming.ROLES)} repositories")
    figure = f"{tag} missing in {', '.join(missing)}"
    if rt.settings.image_build_project:  # PrepareImages builds them, up to 30 minutes
        return Check("images", "WARN", figure,
                     f"the first cluster builds them with CodeBuild "
                     f"({rt.settings.image_build_project}), up to 30 minutes; or start it now: "
                     f"aws codebuild start-build --project-name "
                     f"{rt.settings.image_build_project}")
    return Check("images", "FAIL", figure,
                 f"no image build project is set (DASKYARD_IMAGE_BUILD_PROJECT): push "
                 f"{tag} of images/ to each repository, or deploy with `make deploy`")


def _secret(rt: Runtime, name: str, secret_id: str, how: str,
            generated_is_set: bool) -> Check:
    try:
        found = rt.clients.secrets.describe_secret(SecretId=secret_id)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        return Check(name, "FAIL", f"{secret_id} does not exist",
                     f"deploy the stack again (make deploy) to make it, then {how}")
    if found.get("DeletedDate"):
        return Check(name, "FAIL", f"{secret_id} is scheduled for deletion",
                     f"aws secretsmanager restore-secret --secret-id {secret_id}")
    versions = found.get("VersionIdsToStages") or {}
    if not any("AWSCURRENT" in stages for stages in versions.values()):
        return Check(name, "FAIL", f"{secret_id} has no current value", how)
    if not generated_is_set and len(versions) < 2:
        # Still the value the stack generated: Slack signs with its own.
        return Check(name, "WARN", f"{secret_id} still holds the generated value",
                     f"Slack commands are refused until it is set: {how} (or ignore this "
                     "if the stage does not use Slack)")
    return Check(name, "OK", f"{secret_id} is set")


def slack_secret(rt: Runtime) -> Check:
    secret_id = rt.settings.slack_secret_id
    return _secret(rt, "slack-secret", secret_id,
                   f"aws secretsmanager put-secret-value --secret-id {secret_id} "
                   "--secret-string <the Slack app's Signing Secret>", generated_is_set=False)


def webhook_secret(rt: Runtime) -> Check:
    secret_id = rt.settings.webhook_secret_id
    return _secret(rt, "webhook-secret", secret_id,
                   f"aws secretsmanager put-secret-value --secret-id {secret_id} "
                   "--secret-string <a random key of 32 bytes or more>",
                   generated_is_set=True)


CHECKS: tuple[Callable[[Runtime], Check], ...] = (
    ecs_service_linked_role, autoscaling_service_linked_role, fargate_on_demand_quota,
    fargate_spot_quota, efs_file_systems, iam_roles, security_groups, network, images,
    slack_secret, webhook_secret)


def _call_failed(name: str, exc: ClientError) -> Check:
    code = _code(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if "AccessDenied" in code or "Unauthorized" in code:
        advice = ("the steps' role may not make this check's call, nor then the steps': "
                  "deploy the stage's policy (.chalice/policy-steps.json) again, and look for "
                  "an SCP or permissions boundary that denies it")
    else:
        advice = "the stage's settings (DASKYARD_* in .chalice/config.json) name something " \
                 "the account does not have, or AWS refused the call: see the error"
    return Check(name, "FAIL", f"AWS error {code}: {message}", advice)


def run(rt: Runtime) -> dict[str, Any]:
    """Every check, in order. A check whose own AWS call fails (a permission the steps'
    role lacks, a subnet the stage names that is not there) fails with that error,
    and the others still run."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(rt))
        except ClientError as exc:
            results.append(_call_failed(check.__name__.replace("_", "-"), exc))
    return DoctorReport(stage=rt.settings.stage, region=rt.settings.region,
                        ok=all(r.status != "FAIL" for r in results),
                        checks=[DoctorCheck(**r.public()) for r in results]).model_dump()
