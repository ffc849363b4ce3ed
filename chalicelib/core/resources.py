"""Every kind of AWS resource a cluster has, once: its name (from naming), its ARN, which
step makes it and which deletes it, the launch types that have it, the IAM actions its
makers' policies must allow on it, the record's field that keeps it, and how it is
found, by listing its service stage-wide.

The listing is the one truth about what exists. The nightly sweep (chalicelib.teardown)
reads it for every kind, the leftover check of the tests, local mode and the smoke run
(`leftovers`) reads the same, and tests/functional/test_resource_kinds.py makes each
kind with a real create, finds it here, destroys it and asks local IAM whether its
policies cover its actions. Listing, not the tagging API: that API misses some
kinds (Auto Scaling groups, IAM roles; the emulator more) and lists deleted ECS
resources for a while.

A new kind: its create and delete in a step, and a row in KINDS. No cluster's kinds:
the images (ECR repositories and CodeBuild builds), the account's, shared by every stage
and cluster; named drives and the stage's spare drives, with their security groups and
claim parameters, which outlive clusters by design (establish_shared_drive.py,
spare_drives.py). A cluster's access point on a named drive is its own kind's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.naming import Names


@dataclass(frozen=True)
class Hit:
    """One resource of a cluster, as its service lists it."""

    cluster: str
    id: str  # its name or id, as its delete takes it
    # The sweep may act on it: it carries the stage's managed tags (and no named drive's),
    # or its name is in a namespace only the stage's policies write (SSM, secrets, logs).
    sweepable: bool


@dataclass(frozen=True)
class Found(Hit):
    kind: str  # its Kind's label


Finder = Callable[["Listing"], Iterable[Hit]]
# (names, region, account, id) -> its ARN; the id is what Found.id holds.
ArnOf = Callable[[Names, str, str, str], str]


@dataclass(frozen=True)
class Kind:
    name: str  # one of its own
    label: str  # as leftovers are reported: "<label> <id>"
    arn: ArnOf
    creates: tuple[str, ...]  # the states (chalicelib/steps/table.py) that make it
    deletes: tuple[str, ...]  # the states of their delete twins
    find: Finder
    # The IAM actions its makers' policies allow on it (.chalice/policy-<group>.json, with
    # the cluster's tags as made), by policy group: the steps' unless said.
    actions: Mapping[str, tuple[str, ...]]
    # Its name, derived (None: AWS gives it an id); another stage's is out of reach of
    # this stage's policies by its ARN alone (tests/deploy/test_policy.py).
    derived: Callable[[Names, str], str] | None = None  # (names, region) -> name
    # Only clusters of these launch types have it (None: all).
    launch_types: frozenset[str] | None = None
    # Made by a task event or the API during the cluster's life rather than by a step.
    by: str = ""
    # The field of the record's Resources (core/models.py) that keeps it, if any: later
    # steps read it there; the delete finds it by its name and tags, never only so.
    record: str = ""


# --- how each service lists a stage's resources -----------------------------------------

def tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """EC2/EFS/Auto Scaling `Key`/`Value` and ECS `key`/`value` tags as a dict."""
    return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", ""))
            for t in tags or []}


def _cluster_of_base(stage: str, name: str) -> str | None:
    """'daskyard-<stage>-demo' -> 'demo'; None for another stage's, a named drive's
    (a dot) or a name that is no cluster's."""
    prefix = f"daskyard-{stage}-"
    cluster = name[len(prefix):] if name.startswith(prefix) else ""
    return cluster if naming.CLUSTER_NAME.match(cluster) else None


def _found(stage: str, name: str, ident: str,
           tags: list[dict[str, str]] | None) -> Hit | None:
    """A resource named as a cluster's (`daskyard-<stage>-<cluster>`) or tagged for one
    of `stage` (a stage tag missing by mistake still counts, so a leftover is found);
    the sweep takes it only when it carries the stage's managed tags and no drive's."""
    found = tag_map(tags)
    cluster = found.get(naming.TAG_CLUSTER) if found.get(naming.TAG_STAGE, stage) == stage \
        else None
    cluster = cluster or _cluster_of_base(stage, name)
    if not cluster:
        return None
    sweepable = found.get(naming.TAG_MANAGED) == "true" and \
        found.get(naming.TAG_STAGE) == stage and naming.TAG_DRIVE not in found and \
        found.get(naming.TAG_CLUSTER) == cluster
    return Hit(cluster, ident, sweepable)


def _pages(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page[key]


class Listing:
    """One look at a stage's resources: what several kinds read (file systems, ECS
    clusters, Auto Scaling groups, parameters) is listed once."""

    def __init__(self, clients: Clients, stage: str) -> None:
        self.clients, self.stage = clients, stage

    def hit(self, name: str, ident: str, tags: list[dict[str, str]] | None) -> Hit | None:
        return _found(self.stage, name, ident, tags)

    @cached_property
    def file_systems(self) -> list[dict[str, Any]]:
        """Every file system of the account: a cluster's access point may be on a named
        drive, which is no cluster's."""
        return list(_pages(self.clients.efs, "describe_file_systems", "FileSystems"))

    @cached_property
    def own_file_systems(self) -> list[tuple[Hit, str]]:
        """(hit, file system id) of the clusters' own file systems."""
        return [(hit, fs["FileSystemId"]) for fs in self.file_systems
                if (hit := self.hit(fs["CreationToken"], fs["FileSystemId"], fs.get("Tags")))]

    @cached_property
    def ecs_clusters(self) -> list[dict[str, Any]]:
        """The stage's ECS clusters that are not deleted (ECS lists a deleted cluster as
        INACTIVE for a while), with their tags."""
        ecs = self.clients.ecs
        names = [arn.rsplit("/", 1)[-1] for arn in _pages(ecs, "list_clusters", "clusterArns")]
        ours = [name for name in names if _cluster_of_base(self.stage, name)]
        out: list[dict[str, Any]] = []
        for start in range(0, len(ours), 100):  # DescribeClusters takes 100 at most
            out += [c for c in ecs.describe_clusters(clusters=ours[start:start + 100],
                                                     include=["TAGS"])["clusters"]
                    if c["status"] != "INACTIVE"]
        return out

    @cached_property
    def auto_scaling_groups(self) -> list[Hit]:
        return [hit for group in _pages(self.clients.autoscaling,
                                        "describe_auto_scaling_groups", "AutoScalingGroups")
                if (hit := self.hit(group["AutoScalingGroupName"],
                                    group["AutoScalingGroupName"], group.get("Tags")))]

    @cached_property
    def parameters(self) -> list[tuple[str, str]]:
        """(cluster, name) of the parameters under a cluster's path: their names only
        are kept (a private key's value, encrypted, is never read decrypted)."""
        out = []
        for parameter in _pages(self.clients.ssm, "get_parameters_by_path", "Parameters",
                                Path=f"/daskyard/{self.stage}/", Recursive=True):
            if cluster := _in_path(self.stage, parameter["Name"], "/daskyard/"):
                out.append((cluster, parameter["Name"]))
        return out


def _key_pairs(ls: Listing) -> Iterator[Hit]:
    for pair in ls.clients.ec2.describe_key_pairs()["KeyPairs"]:
        if found := ls.hit(pair["KeyName"], pair["KeyName"], pair.get("Tags")):
            yield found


def _security_groups(ls: Listing) -> Iterator[Hit]:
    for group in _pages(ls.clients.ec2, "describe_security_groups", "SecurityGroups"):
        if found := ls.hit(group["GroupName"], group["GroupId"], group.get("Tags")):
            yield found


def _launch_templates(ls: Listing) -> Iterator[Hit]:
    for template in _pages(ls.clients.ec2, "describe_launch_templates", "LaunchTemplates"):
        if found := ls.hit(template["LaunchTemplateName"], template["LaunchTemplateId"],
                           template.get("Tags")):
            yield found


def _auto_scaling_groups(ls: Listing) -> Iterator[Hit]:
    return iter(ls.auto_scaling_groups)


def _own_file_systems(ls: Listing) -> Iterator[Hit]:
    return (hit for hit, _ in ls.own_file_systems)


def _mount_targets(ls: Listing) -> Iterator[Hit]:
    """Those of a cluster's own file system: a mount target has no tags; it goes with
    its file system (a named drive's stay with the drive). Only file systems with the
    stage's tags are asked for theirs: the teardown's policy allows no other."""
    for hit, fs_id in ls.own_file_systems:
        if hit.sweepable:
            for target in ls.clients.efs.describe_mount_targets(FileSystemId=fs_id)[
                    "MountTargets"]:
                yield Hit(hit.cluster, target["MountTargetId"], True)


def _access_points(ls: Listing) -> Iterator[Hit]:
    """A cluster's access point may be on a named drive: every file system's are listed."""
    for fs in ls.file_systems:
        for point in ls.clients.efs.describe_access_points(FileSystemId=fs["FileSystemId"])[
                "AccessPoints"]:
            tags = point.get("Tags")
            if tag_map(tags).get(naming.TAG_CLUSTER) and (
                    found := ls.hit("", point["AccessPointId"], tags)):
                yield found


def _ecs_clusters(ls: Listing) -> Iterator[Hit]:
    for cluster in ls.ecs_clusters:
        if found := ls.hit(cluster["clusterName"], cluster["clusterArn"], cluster.get("tags")):
            yield found


def _services(ls: Listing) -> Iterator[Hit]:
    """The services of the stage's ECS clusters, but those deleted (INACTIVE)."""
    ecs = ls.clients.ecs
    for cluster in ls.ecs_clusters:
        arns = list(_pages(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"]))
        for start in range(0, len(arns), 10):  # DescribeServices takes 10 at most
            for service in ecs.describe_services(cluster=cluster["clusterArn"],
                                                 services=arns[start:start + 10],
                                                 include=["TAGS"])["services"]:
                if service["status"] != "INACTIVE" and (found := ls.hit(
                        cluster["clusterName"], service["serviceArn"],
                        service.get("tags") or cluster.get("tags"))):
                    yield found


def _capacity_providers(ls: Listing) -> Iterator[Hit]:
    """Asked for by the names of the stage's Auto Scaling groups: a capacity provider is
    made after its group and deleted before it (set_up_ecs_cluster), so one that exists
    has its group, and the account's other providers (AWS's Fargate ones) are not read."""
    names = [hit.id for hit in ls.auto_scaling_groups]
    for start in range(0, len(names), 100):  # DescribeCapacityProviders takes 100 at most
        for provider in ls.clients.ecs.describe_capacity_providers(
                capacityProviders=names[start:start + 100], include=["TAGS"])[
                "capacityProviders"]:
            if provider.get("status") == "ACTIVE" and (found := ls.hit(
                    provider["name"], provider["name"], provider.get("tags"))):
                yield found


def _task_definitions(ls: Listing) -> Iterator[Hit]:
    """Active ones of a family `daskyard-<stage>-<cluster>-<role>`: the stage's policy
    registers no other name there, so they are the sweep's. ListTaskDefinitions takes
    a whole family's name."""
    family = re.compile(rf"daskyard-{re.escape(ls.stage)}-(.+)-({'|'.join(naming.ROLES)})")
    ecs = ls.clients.ecs
    for name in _pages(ecs, "list_task_definition_families", "families",
                       familyPrefix=f"daskyard-{ls.stage}-", status="ACTIVE"):
        match = family.fullmatch(name)
        if not (match and naming.CLUSTER_NAME.match(match.group(1))):
            continue
        for arn in _pages(ecs, "list_task_definitions", "taskDefinitionArns",
                          familyPrefix=name, status="ACTIVE"):
            if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == name:
                yield Hit(match.group(1), arn, True)


def _in_path(stage: str, name: str, prefix: str) -> str | None:
    """The cluster of a name `<prefix><stage>/<cluster>...`."""
    head = f"{prefix}{stage}/"
    cluster = name[len(head):].split("/", 1)[0] if name.startswith(head) else ""
    return cluster if naming.CLUSTER_NAME.match(cluster) else None


def _private_key_parameters(ls: Listing) -> Iterator[Hit]:
    for cluster, name in ls.parameters:
        if name == Names(ls.stage, cluster).private_key_parameter():
            yield Hit(cluster, name, True)


def _scheduler_parameters(ls: Listing) -> Iterator[Hit]:
    for cluster, name in ls.parameters:
        if name != Names(ls.stage, cluster).private_key_parameter():
            yield Hit(cluster, name, True)


def _secrets(ls: Listing) -> Iterator[Hit]:
    for secret in _pages(ls.clients.secrets, "list_secrets", "SecretList",
                         Filters=[{"Key": "name", "Values": [f"daskyard/{ls.stage}/"]}]):
        cluster = _in_path(ls.stage, secret["Name"], "daskyard/")
        if cluster and secret["Name"] == Names(ls.stage, cluster).credentials_secret():
            yield Hit(cluster, secret["Name"], True)


def _roles(ls: Listing) -> Iterator[Hit]:
    """The roles under the stage's path, by their cluster tag (a long name is hashed)."""
    iam = ls.clients.iam
    for role in _pages(iam, "list_roles", "Roles", PathPrefix=f"/daskyard/{ls.stage}/"):
        tags = iam.list_role_tags(RoleName=role["RoleName"])["Tags"]
        cluster = tag_map(tags).get(naming.TAG_CLUSTER, "")
        if naming.CLUSTER_NAME.match(cluster) and \
                role["RoleName"] == Names(ls.stage, cluster).scheduler_role(ls.clients.region):
            yield Hit(cluster, role["RoleName"], True)


def _log_groups(ls: Listing) -> Iterator[Hit]:
    for group in _pages(ls.clients.logs, "describe_log_groups", "logGroups",
                        logGroupNamePrefix=f"/daskyard/{ls.stage}/"):
        cluster = _in_path(ls.stage, group["logGroupName"], "/daskyard/")
        if cluster and group["logGroupName"] == Names(ls.stage, cluster).log_group():
            yield Hit(cluster, group["logGroupName"], True)


# --- the table --------------------------------------------------------------------------

def _arn(service: str, rest: str, region: bool = True) -> ArnOf:
    """An ArnOf from a template: `{base}`, `{id}` and `{path}` (IAM's) filled in; an id
    that is an ARN already (ECS lists ARNs) is its own."""
    def arn(names: Names, where: str, account: str, ident: str) -> str:
        if ident.startswith("arn:"):
            return ident
        text = rest.format(base=names.base(), id=ident, path=names.role_path())
        return f"arn:aws:{service}:{where if region else ''}:{account}:{text}"
    return arn


EC2 = frozenset({"EC2"})


def steps(*actions: str) -> Mapping[str, tuple[str, ...]]:
    return {"steps": actions}


KINDS: tuple[Kind, ...] = (
    Kind("credentials secret", "secret", _arn("secretsmanager", "secret:{id}-AbCdEf"),
         ("GenerateSecurityKey",), ("DeleteSecurityKey",), _secrets,
         steps("secretsmanager:CreateSecret", "secretsmanager:GetSecretValue",
               "secretsmanager:DeleteSecret"),
         derived=lambda names, region: names.credentials_secret(), record="credentials_secret"),
    Kind("key pair", "key pair", _arn("ec2", "key-pair/{id}"),
         ("GenerateSecurityKey",), ("DeleteSecurityKey",), _key_pairs,
         steps("ec2:CreateKeyPair", "ec2:DeleteKeyPair"),
         derived=lambda names, region: names.base(), launch_types=EC2, record="key_pair"),
    Kind("private key parameter", "parameter", _arn("ssm", "parameter{id}"),
         ("GenerateSecurityKey",), ("DeleteSecurityKey",), _private_key_parameters,
         steps("ssm:PutParameter", "ssm:DeleteParameter"),
         derived=lambda names, region: names.private_key_parameter(), launch_types=EC2,
         record="private_key_parameter"),
    Kind("security group", "security group", _arn("ec2", "security-group/{id}"),
         ("ArrangeNetwork",), ("DeleteNetwork",), _security_groups,
         steps("ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
               "ec2:DeleteSecurityGroup"), record="network"),
    Kind("file system", "file system", _arn("elasticfilesystem", "file-system/{id}"),
         ("EstablishSharedDrive",), ("DeleteSharedDrive",), _own_file_systems,
         steps("elasticfilesystem:CreateFileSystem", "elasticfilesystem:DeleteFileSystem"),
         record="drive"),
    # Made and deleted by actions on its file system (whichever: `*`), it has no ARN.
    Kind("mount targets", "mount target", _arn("elasticfilesystem", "file-system/*"),
         ("EstablishSharedDrive",), ("DeleteSharedDrive",), _mount_targets,
         steps("elasticfilesystem:CreateMountTarget", "elasticfilesystem:DeleteMountTarget"),
         record="drive"),
    Kind("access point", "access point", _arn("elasticfilesystem", "access-point/{id}"),
         ("EstablishSharedDrive",), ("DeleteSharedDrive",), _access_points,
         steps("elasticfilesystem:DeleteAccessPoint"), record="drive"),
    Kind("launch template", "launch template", _arn("ec2", "launch-template/{id}"),
         ("SetUpEcsCluster",), ("DeleteEcsCluster",), _launch_templates,
         steps("ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate"), launch_types=EC2,
         record="launch_template"),
    # Its ARN has a UUID AWS picks; the policy scopes it by name.
    Kind("auto scaling group", "auto scaling group",
         _arn("autoscaling", "autoScalingGroup:1a2b3c4d-0000-1111-2222-333344445555:"
                             "autoScalingGroupName/{id}"),
         ("SetUpEcsCluster",), ("DeleteEcsCluster",), _auto_scaling_groups,
         steps("autoscaling:CreateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup"),
         derived=lambda names, region: names.base(), launch_types=EC2, record="auto_scaling_group"),
    Kind("capacity provider", "capacity provider", _arn("ecs", "capacity-provider/{id}"),
         ("SetUpEcsCluster",), ("DeleteEcsCluster",), _capacity_providers,
         steps("ecs:CreateCapacityProvider", "ecs:DeleteCapacityProvider"),
         derived=lambda names, region: names.base(), launch_types=EC2, record="capacity_provider"),
    Kind("ECS cluster", "ECS cluster", _arn("ecs", "cluster/{id}"),
         ("SetUpEcsCluster",), ("DeleteEcsCluster",), _ecs_clusters,
         steps("ecs:CreateCluster", "ecs:DeleteCluster"),
         derived=lambda names, region: names.base(), record="ecs_cluster"),
    Kind("log group", "log group", _arn("logs", "log-group:{id}"),
         ("RegisterTaskDefinitions",), ("DeleteTaskDefinitions",), _log_groups,
         steps("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"),
         derived=lambda names, region: names.log_group(), record="log_group"),
    Kind("task definitions", "task definition", _arn("ecs", "task-definition/{id}:1"),
         ("RegisterTaskDefinitions",), ("DeleteTaskDefinitions",), _task_definitions,
         steps("ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition",
               "ecs:DeleteTaskDefinitions"),
         derived=lambda names, region: names.task_family("worker"), record="task_definitions"),
    Kind("scheduler role", "role", _arn("iam", "role{path}{id}", region=False),
         ("RegisterTaskDefinitions",), ("DeleteTaskDefinitions",), _roles,
         steps("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
               "iam:DeleteRole"),
         derived=lambda names, region: names.scheduler_role(region), record="scheduler_role"),
    Kind("services", "service", _arn("ecs", "service/{base}/{id}"),
         ("StartScheduler", "StartWorkers"), ("DeleteScheduler", "DeleteWorkers"), _services,
         steps("ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService"),
         derived=lambda names, region: names.service("worker"), record="services"),
    # The scheduler's address, written on its task's RUNNING event; its adaptive bounds
    # (the API) and the worker count it asks for (the scheduler) are beside it. All go
    # with DeleteScheduler.
    Kind("scheduler parameters", "parameter", _arn("ssm", "parameter{id}"),
         (), ("DeleteScheduler",), _scheduler_parameters,
         {"events": ("ssm:PutParameter", "ssm:DeleteParameter"),
          "steps": ("ssm:DeleteParameter",)},
         derived=lambda names, region: names.scheduler_parameter(),
         by="the scheduler task's RUNNING event (chalicelib.scheduler)"),
)


BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}


def find(clients: Clients, stage: str, kinds: Iterable[Kind] = KINDS) -> list[Found]:
    """Every resource of `kinds` (all by default) of every cluster of `stage`."""
    listing = Listing(clients, stage)
    return [Found(hit.cluster, hit.id, hit.sweepable, kind.label)
            for kind in kinds for hit in kind.find(listing)]


def leftovers(clients: Clients, stage: str, cluster: str) -> list[str]:
    """What exists of `cluster` of `stage`, as `<kind> <id>`: a same-named cluster of
    another stage is not its leftover."""
    return [f"{f.kind} {f.id}" for f in find(clients, stage) if f.cluster == cluster]
