"""What the scheduler's task gets beyond the other roles': its own task role, made per
cluster, and the settings of its plugin (images/daskyard_scheduler.py).

The role lets the scheduler do what adaptive scaling needs and nothing more: read its
cluster's adapt parameter, read its cluster's workers service, and write the worker
count it asks for to its own parameter, which the orchestrator applies within the
cluster's adaptive bounds (chalicelib.worker_requests): it never changes the service
itself, so no task definition, network, exec setting, capacity provider or count past
the bounds the owner's quota allowed (and it mounts the stage's drives, as every task
does). It is made per cluster
because IAM cannot tell one cluster's task from another's under a shared role. Its name
and path are the stage's and region's
(`/daskyard/<stage>/daskyard-<stage>-<region>-<cluster>-scheduler`: IAM is global),
and it carries the template's permissions boundary, which the steps' policy requires
for every role it makes: a role made here can never do more than that boundary allows,
whatever policy it is given."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import NotReady
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, error_code, gone_ok

POLICY = "scheduler"


def trust(boundary: str, region: str) -> dict[str, Any]:
    """ECS tasks of this account and region only (the confused-deputy guard AWS
    recommends for task roles)."""
    partition, account = boundary.split(":")[1], boundary.split(":")[4]
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:{partition}:ecs:{region}:{account}:*"},
                      "StringEquals": {"aws:SourceAccount": account}}}]}


def policy(boundary: str, region: str, names: naming.Names) -> dict[str, Any]:
    """The role's own policy: its cluster's parameter and workers service only. The
    partition and account are the boundary's (`arn:aws:iam::123456789012:policy/...`)."""
    partition, account = boundary.split(":")[1], boundary.split(":")[4]
    base = f"arn:{partition}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": f"{base}:ssm:{region}:{account}:parameter{names.adapt_parameter()}"},
        {"Effect": "Allow", "Action": ["ssm:PutParameter"],
         "Resource": f"{base}:ssm:{region}:{account}:parameter"
                     f"{names.desired_workers_parameter()}"},
        {"Effect": "Allow", "Action": ["ecs:DescribeServices"],
         "Resource": f"{base}:ecs:{region}:{account}:service/{names.base()}/"
                     f"{names.service('worker')}"},
        {"Effect": "Allow",
         "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
         "Resource": f"{base}:elasticfilesystem:{region}:{account}:file-system/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/daskyard:managed": "true",
                                        "aws:ResourceTag/daskyard:stage": names.stage}}}]}


def ensure_role(rt: Runtime, call: StepCall) -> str:
    """The cluster's scheduler role, made (or found, on a retry) with its policy."""
    boundary = rt.settings.scheduler_role_boundary_arn
    if not boundary:
        raise NotReady("no scheduler_role_boundary_arn in the stage's settings")
    names, iam = call.names, rt.clients.iam
    role = names.scheduler_role(rt.clients.region)
    try:
        arn = iam.create_role(
            RoleName=role, Path=names.role_path(),
            AssumeRolePolicyDocument=json.dumps(trust(boundary, rt.clients.region)),
            PermissionsBoundary=boundary,
            Description=f"Daskyard scheduler of {names.cluster} ({names.stage})",
            Tags=naming.kv(names.tags()))["Role"]["Arn"]
    except ClientError as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
        arn = f"{boundary.split(':policy/')[0]}:role{names.role_path()}{role}"
    call.remember(scheduler_role=arn)  # recorded before anything else may fail
    iam.put_role_policy(RoleName=role, PolicyName=POLICY,
                        PolicyDocument=json.dumps(policy(boundary, rt.clients.region, names)))
    return str(arn)


def delete_role(rt: Runtime, call: StepCall) -> None:
    iam, names = rt.clients.iam, call.names
    role = names.scheduler_role(rt.clients.region)
    # Listed first: IAM authorizes a role's actions by its ARN, path included, which it
    # cannot know for a role that is not there: deleting one is refused, not "not found".
    found = [r for page in iam.get_paginator("list_roles").paginate(
        PathPrefix=names.role_path()) for r in page["Roles"] if r["RoleName"] == role]
    if not found:
        return
    with gone_ok("NoSuchEntity"):
        iam.delete_role_policy(RoleName=role, PolicyName=POLICY)
    with gone_ok("NoSuchEntity"):
        iam.delete_role(RoleName=role)


def environment(rt: Runtime, call: StepCall) -> list[dict[str, str]]:
    """The plugin's settings: where its bounds are, which service it scales, how often
    it decides; the idle timeout (the cluster's, else the stage's; 0 = none)."""
    settings, names = rt.settings, call.names
    scale = settings.scheduler_time_scale
    minutes = call.spec.idle_timeout_minutes
    minutes = settings.idle_timeout_minutes if minutes is None else minutes
    env = {"DASKYARD_ADAPT_PARAMETER": names.adapt_parameter(),
           "DASKYARD_DESIRED_PARAMETER": names.desired_workers_parameter(),
           "DASKYARD_ECS_CLUSTER": names.base(),
           "DASKYARD_WORKER_SERVICE": names.service("worker"),
           "DASKYARD_ADAPT_INTERVAL": f"{settings.adapt_interval_seconds * scale:g}"}
    if minutes:
        env["DASKYARD_IDLE_TIMEOUT"] = f"{minutes * 60 * scale:g}s"
    return [{"name": k, "value": v} for k, v in env.items()]
