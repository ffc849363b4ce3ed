"""What IAM authorizes for one AWS call: the action, the resource ARN(s) the Service
Authorization Reference names for it (iam-data's resource types and ARN formats), the
condition context from the request and the emulator's state, and the permissions AWS
checks behind the call on the caller's behalf (botocore's "also requires permissions
for ...", tag-on-create, the roles a call passes, what an Auto Scaling group launches).

Pure mapping: it reads the emulator's state through `State` and decides nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

IAM_DATA = (Path(__file__).resolve().parents[2] / "node_modules" / "@cloud-copilot"
            / "iam-data" / "data")
# IAM's service prefix where it differs from the API's signing name.
PREFIX = {"tagging": "tag", "monitoring": "cloudwatch", "service-quotas": "servicequotas"}
Context = dict[str, "str | list[str]"]


@dataclass(frozen=True)
class IamRequest:
    action: str
    resource: str
    context: Context = field(default_factory=dict, compare=False, hash=False)
    because: str = ""  # the call that needs it, when AWS checks it behind that call


@dataclass
class Call:
    """One API call as the emulator received it."""
    prefix: str  # IAM's service prefix: "elasticfilesystem", "ec2", ...
    operation: str  # "CreateMountTarget"
    params: dict[str, Any]
    region: str
    account: str


class State(Protocol):
    """What the emulator holds that IAM reads: tags, and ids behind other ids."""

    def tags(self, arn: str) -> dict[str, str]: ...

    def mount_target_file_system(self, mount_target: str) -> str | None: ...

    def launch_template(self, id_or_name: str) -> dict[str, Any] | None: ...

    def secret_arn(self, secret_id: str) -> str | None: ...

    def role_boundary(self, role_name: str) -> str | None: ...

    def role_path(self, role_name: str) -> str | None: ...

    def instance_profile_role(self, profile: str) -> str | None: ...


@cache
def _actions(prefix: str) -> dict[str, Any]:
    return dict(json.loads((IAM_DATA / "actions" / f"{prefix}.json").read_text()))


@cache
def _resource_types(prefix: str) -> dict[str, Any]:
    return dict(json.loads((IAM_DATA / "resourceTypes" / f"{prefix}.json").read_text()))


def resource_types(action: str) -> list[tuple[str, bool]]:
    """(resource type, required) for an action, from the Service Authorization Reference."""
    prefix, name = action.split(":", 1)
    entry = _actions(prefix).get(name.lower())
    if entry is None:
        raise Unmodelled(f"{action} is no IAM action (iam-data knows no such action)")
    return [(t["name"], bool(t["required"])) for t in entry["resourceTypes"]]


def _name(value: str) -> str:
    """The last part of an ARN (ECS and others take a name or an ARN)."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _arn(call: Call, service: str, rest: str, region: bool = True,
         account: bool = True) -> str:
    return (f"arn:aws:{service}:{call.region if region else ''}:"
            f"{call.account if account else ''}:{rest}")


def _ecs_cluster(call: Call) -> str:
    return _name(str(call.params.get("cluster") or "default"))


def _ecs(call: Call, state: State, kind: str) -> list[str]:
    p, cluster = call.params, _ecs_cluster(call)
    if kind == "cluster":
        names = _list(p.get("clusters")) or _list(p.get("clusterName") or p.get("cluster"))
        if not names and call.operation in ("ListServices", "ListTasks", "DescribeServices"):
            names = [cluster]
        return [_arn(call, "ecs", f"cluster/{_name(str(n))}") for n in names or ["default"]]
    if kind == "service":
        names = _list(p.get("services")) or _list(p.get("serviceName") or p.get("service"))
        return [n if str(n).startswith("arn:") and str(n).count("/") == 2
                else _arn(call, "ecs", f"service/{cluster}/{_name(str(n))}") for n in names]
    if kind == "task":
        return [t if str(t).startswith("arn:") and str(t).count("/") == 2
                else _arn(call, "ecs", f"task/{cluster}/{_name(str(t))}")
                for t in _list(p.get("tasks") or p.get("task"))]
    if kind == "task-definition":
        found = []
        for td in _list(p.get("taskDefinition")) + _list(p.get("taskDefinitions")):
            family = _name(str(td))
            found.append(_arn(call, "ecs", "task-definition/"
                              + (family if ":" in family else f"{family}:*")))
        if p.get("family") and call.operation == "RegisterTaskDefinition":
            found.append(_arn(call, "ecs", f"task-definition/{p['family']}:*"))
        return found
    if kind == "capacity-provider":
        names = _list(p.get("name") or p.get("capacityProvider")) or _list(
            p.get("capacityProviders"))
        return [_arn(call, "ecs", f"capacity-provider/{_name(str(n))}") for n in names]
    if kind == "container-instance":
        return [c if str(c).startswith("arn:") else
                _arn(call, "ecs", f"container-instance/{cluster}/{c}")
                for c in _list(p.get("containerInstances"))]
    return []


def _resource_arns(call: Call, state: State, prefix: str, kind: str) -> list[str]:
    """The ARNs of `kind` this call acts on, or [] when the call names none."""
    p = call.params
    if prefix == "ecs":
        return _ecs(call, state, kind)
    if prefix == "elasticfilesystem":
        if kind == "file-system":
            fs = p.get("FileSystemId")
            if fs is None and str(p.get("ResourceId", "")).startswith("fs-"):
                fs = p["ResourceId"]
            if fs is None and p.get("MountTargetId"):
                fs = state.mount_target_file_system(p["MountTargetId"])
            if fs is None and call.operation == "CreateFileSystem":
                fs = "fs-new"
            return [_arn(call, prefix, f"file-system/{fs}")] if fs else []
        if kind == "access-point":
            ap = p.get("AccessPointId") or (p.get("ResourceId") if str(
                p.get("ResourceId", "")).startswith("fsap-") else None)
            return [_arn(call, prefix, f"access-point/{ap}")] if ap else []
    if prefix == "ec2":
        ids = {"security-group": _list(p.get("GroupId")) + _list(p.get("GroupIds")),
               "key-pair": _list(p.get("KeyName")),
               "vpc": _list(p.get("VpcId")),
               "subnet": _list(p.get("SubnetId")) + _list(p.get("SubnetIds")),
               "network-interface": _list(p.get("NetworkInterfaceId")),
               "launch-template": _list(p.get("LaunchTemplateId"))}.get(kind, [])
        if kind == "launch-template" and not ids and p.get("LaunchTemplateName"):
            template = state.launch_template(p["LaunchTemplateName"])
            ids = [template["id"] if template else "lt-new"]
        if not ids and call.operation == f"Create{_EC2_CREATES.get(kind, '-')}":
            ids = [p.get("KeyName") if kind == "key-pair" else f"{kind}-new"]
        return [_arn(call, "ec2", f"{kind}/{i}") for i in ids]
    if prefix == "ssm" and kind == "parameter":
        names = _list(p.get("Name")) + _list(p.get("Names")) + _list(p.get("Path"))
        # AWS's public parameters (/aws/service/...) are named with no account in
        # examples and with the caller's in others: the policy matches either (`*`).
        return [_arn(call, "ssm", "parameter/" + str(n).lstrip("/")) for n in names]
    if prefix == "secretsmanager" and kind == "secret":
        secret = p.get("SecretId") or p.get("Name")
        if not secret:
            return []
        return [str(secret) if str(secret).startswith("arn:") else
                state.secret_arn(str(secret)) or _arn(call, prefix, f"secret:{secret}-AbCdEf")]
    if prefix == "dynamodb":
        tables = _list(p.get("TableName"))
        for item in _list(p.get("TransactItems")):
            tables += [op["TableName"] for op in item.values() if "TableName" in op]
        tables += list((p.get("RequestItems") or {}).keys())
        if kind == "table":
            return [_arn(call, prefix, f"table/{t}") for t in dict.fromkeys(tables)]
        if kind == "index" and p.get("IndexName"):
            return [_arn(call, prefix, f"table/{tables[0]}/index/{p['IndexName']}")]
        return []
    if prefix == "states":
        if kind == "statemachine" and p.get("stateMachineArn"):
            return [str(p["stateMachineArn"])]
        if kind == "statemachine" and call.operation == "CreateStateMachine":
            return [_arn(call, prefix, f"stateMachine:{p['name']}")]
        if kind == "execution" and p.get("executionArn"):
            return [str(p["executionArn"])]
        return []
    if prefix == "logs":
        group = p.get("logGroupName") or p.get("logGroupIdentifier")
        if group is None and p.get("logGroupNamePrefix") is not None:
            group = f"{p['logGroupNamePrefix']}*"
        if group is None:
            return []
        group = _name_of_group(str(group))
        if kind == "log-group":
            return [_arn(call, prefix, f"log-group:{group}")]
        if kind == "log-stream" and p.get("logStreamName"):
            return [_arn(call, prefix, f"log-group:{group}:log-stream:{p['logStreamName']}")]
        return []
    if prefix == "codebuild" and kind == "project":
        names = _list(p.get("projectName") or p.get("name")) + [
            str(b).split(":", 1)[0] for b in _list(p.get("ids"))]
        return [_arn(call, prefix, f"project/{_name(str(n))}") for n in dict.fromkeys(names)]
    if prefix == "autoscaling" and kind == "autoscalinggroup":
        names = _list(p.get("AutoScalingGroupName")) + _list(p.get("AutoScalingGroupNames"))
        return [_arn(call, prefix, f"autoScalingGroup:0:autoScalingGroupName/{n}")
                for n in names]
    if prefix == "iam":
        if kind == "role" and p.get("RoleName"):
            path = p.get("Path") or state.role_path(str(p["RoleName"])) or "/"
            return [_arn(call, prefix, f"role{path}{p['RoleName']}", region=False)]
        if kind == "policy" and p.get("PolicyArn"):
            return [str(p["PolicyArn"])]
        if kind == "policy" and p.get("PolicyName") and call.operation == "CreatePolicy":
            return [_arn(call, prefix, f"policy{p.get('Path') or '/'}{p['PolicyName']}",
                         region=False)]
        if kind == "user" and p.get("UserName"):
            return [_arn(call, prefix, f"user/{p['UserName']}", region=False)]
        return []
    if prefix == "lambda" and kind == "function" and p.get("FunctionName"):
        name = str(p["FunctionName"])
        return [name if name.startswith("arn:") else _arn(call, prefix, f"function:{name}")]
    if prefix == "ecr" and kind == "repository":
        names = _list(p.get("repositoryName")) + _list(p.get("repositoryNames"))
        return [_arn(call, prefix, f"repository/{n}") for n in names]
    if prefix == "events" and kind == "rule-on-default-event-bus":
        names = _list(p.get("Name") or p.get("Rule"))
        return [_arn(call, prefix, f"rule/{n}") for n in names]
    if prefix == "events" and kind == "event-bus":
        return [_arn(call, prefix, "event-bus/default")]
    if prefix == "servicequotas" and kind == "quota" and p.get("QuotaCode"):
        return [_arn(call, prefix, f"{p.get('ServiceCode')}/{p['QuotaCode']}")]
    return []


_EC2_CREATES = {"security-group": "SecurityGroup", "key-pair": "KeyPair",
                "launch-template": "LaunchTemplate"}


def _name_of_group(group: str) -> str:
    if group.startswith("arn:"):
        return group.split(":log-group:", 1)[1].removesuffix(":*")
    return group


def request_tags(params: dict[str, Any], resource_type: str | None = None) -> dict[str, str]:
    """The tags a request sets, whatever shape its service spells them in."""
    out: dict[str, str] = {}
    for spec in _list(params.get("TagSpecifications")):
        if resource_type is None or spec.get("ResourceType") == resource_type:
            out.update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    for key in ("Tags", "tags"):
        tags = params.get(key)
        if isinstance(tags, dict):
            out.update({str(k): str(v) for k, v in tags.items()})
        for tag in _list(tags) if not isinstance(tags, dict) else []:
            k = tag.get("Key", tag.get("key"))
            v = tag.get("Value", tag.get("value", ""))
            if k is not None:
                out[str(k)] = str(v)
    return out


def _tag_context(tags: dict[str, str]) -> Context:
    if not tags:
        return {}
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()},
            "aws:TagKeys": sorted(tags)}


def _service_context(call: Call, state: State, arn: str) -> Context:
    """Service condition keys our policies and AWS use, from the request."""
    p = call.params
    context: Context = {}
    if call.prefix == "ecs" and (":service/" in arn or ":task/" in arn):
        context["ecs:cluster"] = _arn(call, "ecs", f"cluster/{_ecs_cluster(call)}")
    if call.prefix == "elasticfilesystem" and call.operation == "CreateFileSystem":
        context["elasticfilesystem:Encrypted"] = str(bool(p.get("Encrypted"))).lower()
    if call.prefix == "iam" and call.operation in ("CreateRole", "PutRolePermissionsBoundary") \
            and p.get("PermissionsBoundary"):
        context["iam:PermissionsBoundary"] = str(p["PermissionsBoundary"])
    if call.prefix == "iam" and call.operation in ("PutRolePolicy", "DeleteRole",
                                                   "DeleteRolePolicy") and p.get("RoleName"):
        boundary = state.role_boundary(str(p["RoleName"]))
        if boundary:  # the role's own boundary, as IAM reads it for these actions
            context["iam:PermissionsBoundary"] = boundary
    if call.prefix == "ec2" and p.get("VpcId"):
        context["ec2:Vpc"] = _arn(call, "ec2", f"vpc/{p['VpcId']}")
    if call.prefix == "ecs" and call.operation == "UpdateService" and p.get("taskDefinition"):
        context["ecs:task-definition"] = _resource_arns(
            call, _NO_STATE, "ecs", "task-definition")[0]
    return context


class NoState:
    """A State that holds nothing: what a request names of a resource not made yet."""

    def tags(self, arn: str) -> dict[str, str]:
        return {}

    def mount_target_file_system(self, mount_target: str) -> str | None:
        return None

    def launch_template(self, id_or_name: str) -> dict[str, Any] | None:
        return None

    def secret_arn(self, secret_id: str) -> str | None:
        return None

    def role_boundary(self, role_name: str) -> str | None:
        return None

    def role_path(self, role_name: str) -> str | None:
        return None

    def instance_profile_role(self, profile: str) -> str | None:
        return None


_NO_STATE = NoState()


def _with_resource_tags(context: Context, state: State, arn: str) -> Context:
    tags = state.tags(arn) if arn != "*" else {}
    return {**context, **{f"aws:ResourceTag/{k}": v for k, v in tags.items()}}


def authorize(call: Call, state: State, action: str | None = None,
              extra: Context | None = None, because: str = "",
              only: Iterable[str] = ()) -> list[IamRequest]:
    """The requests IAM evaluates for `action` (default: the call's own) made with this
    call's parameters: one per resource the call names (each must be allowed)."""
    action = action or f"{call.prefix}:{call.operation}"
    prefix = action.split(":", 1)[0]
    kinds = resource_types(action)
    wanted = {k.lower() for k in only}
    arns: list[str] = []
    for kind, _required in kinds:
        if wanted and kind.lower() not in wanted:
            continue
        arns += _resource_arns(call, state, prefix, kind.lower())
    if not kinds:
        arns = ["*"]
    elif not arns:
        required = [k for k, r in kinds if r]
        if required:
            raise Unmodelled(f"{action}: cannot tell its {required[0]} from the request "
                             f"({sorted(call.params)})")
        arns = ["*"]
    base = {**_tag_context(request_tags(call.params)), **(extra or {})}
    return [IamRequest(action, arn, _with_resource_tags(
        {**base, **_service_context(call, state, arn)}, state, arn), because)
        for arn in dict.fromkeys(arns)]


class Unmodelled(LookupError):
    """Local IAM cannot tell what a call acts on: a gap in this table, not a deny."""


# Tag-on-create: a create call that carries tags is also authorized for the service's
# tagging action on the new resource, with its create action as a condition key.
TAG_ON_CREATE: dict[tuple[str, str], tuple[str, str | None]] = {
    ("elasticfilesystem", "CreateFileSystem"): ("elasticfilesystem:TagResource",
                                                "elasticfilesystem:CreateAction"),
    ("elasticfilesystem", "CreateAccessPoint"): ("elasticfilesystem:TagResource",
                                                 "elasticfilesystem:CreateAction"),
    ("ecs", "CreateCluster"): ("ecs:TagResource", "ecs:CreateAction"),
    ("ecs", "CreateService"): ("ecs:TagResource", "ecs:CreateAction"),
    ("ecs", "CreateCapacityProvider"): ("ecs:TagResource", "ecs:CreateAction"),
    ("ecs", "RegisterTaskDefinition"): ("ecs:TagResource", "ecs:CreateAction"),
    ("ec2", "CreateSecurityGroup"): ("ec2:CreateTags", "ec2:CreateAction"),
    ("ec2", "CreateKeyPair"): ("ec2:CreateTags", "ec2:CreateAction"),
    ("ec2", "CreateLaunchTemplate"): ("ec2:CreateTags", "ec2:CreateAction"),
    ("secretsmanager", "CreateSecret"): ("secretsmanager:TagResource", None),
    ("ssm", "PutParameter"): ("ssm:AddTagsToResource", None),
    ("iam", "CreateRole"): ("iam:TagRole", None),
    ("iam", "CreatePolicy"): ("iam:TagPolicy", None),
    ("logs", "CreateLogGroup"): ("logs:TagResource", None),
    ("ecr", "CreateRepository"): ("ecr:TagResource", None),
    ("autoscaling", "CreateAutoScalingGroup"): ("autoscaling:CreateOrUpdateTags", None),
}
# The new resource's type, where the tagging action can act on several.
_NEW_RESOURCE = {("elasticfilesystem", "CreateAccessPoint"): "access-point",
                 ("elasticfilesystem", "CreateFileSystem"): "file-system",
                 ("ecs", "CreateCluster"): "cluster", ("ecs", "CreateService"): "service",
                 ("ecs", "CreateCapacityProvider"): "capacity-provider",
                 ("ecs", "RegisterTaskDefinition"): "task-definition",
                 ("ec2", "CreateSecurityGroup"): "security-group",
                 ("ec2", "CreateKeyPair"): "key-pair",
                 ("ec2", "CreateLaunchTemplate"): "launch-template",
                 ("logs", "CreateLogGroup"): "log-group"}


def _tag_on_create(call: Call, state: State) -> list[IamRequest]:
    entry = TAG_ON_CREATE.get((call.prefix, call.operation))
    if entry is None or not request_tags(call.params):
        return []
    action, create_key = entry
    kind = _NEW_RESOURCE.get((call.prefix, call.operation))
    extra: Context = {create_key: call.operation} if create_key else {}
    if call.prefix == "elasticfilesystem" and kind == "access-point":
        new = Call(call.prefix, call.operation, {**call.params, "AccessPointId": "fsap-new"},
                   call.region, call.account)
        return authorize(new, _NO_STATE, action, extra, f"{call.prefix}:{call.operation}",
                         only=[kind])
    return authorize(call, _NO_STATE, action, extra, f"{call.prefix}:{call.operation}",
                     only=[kind] if kind else ())


def _pass_role(call: Call, role_arn: str, service: str) -> IamRequest:
    return IamRequest("iam:PassRole", role_arn, {"iam:PassedToService": service},
                      f"{call.prefix}:{call.operation}")


def _ec2_subcall(call: Call, operation: str, params: dict[str, Any]) -> Call:
    return Call("ec2", operation, params, call.region, call.account)


def _behind_efs(call: Call, state: State) -> list[IamRequest]:
    """EFS makes and changes a mount target's network interface with the caller's
    permissions (botocore: "also requires permissions for ..."), on the subnet and the
    security groups the request names."""
    p, because = call.params, f"elasticfilesystem:{call.operation}"
    out: list[IamRequest] = []
    if call.operation == "CreateMountTarget":
        eni = _ec2_subcall(call, "CreateNetworkInterface", {
            "SubnetId": p.get("SubnetId"), "GroupIds": _list(p.get("SecurityGroups")),
            "NetworkInterfaceId": "eni-new"})
        out += authorize(eni, state, "ec2:CreateNetworkInterface", because=because)
        out += [IamRequest("ec2:DescribeSubnets", "*", {}, because),
                IamRequest("ec2:DescribeNetworkInterfaces", "*", {}, because)]
    if call.operation == "DeleteMountTarget":
        eni = _ec2_subcall(call, "DeleteNetworkInterface", {"NetworkInterfaceId": "eni-0"})
        out += authorize(eni, state, "ec2:DeleteNetworkInterface", because=because)
    if call.operation == "ModifyMountTargetSecurityGroups":
        eni = _ec2_subcall(call, "ModifyNetworkInterfaceAttribute", {
            "NetworkInterfaceId": "eni-0", "GroupIds": _list(p.get("SecurityGroups"))})
        out += authorize(eni, state, "ec2:ModifyNetworkInterfaceAttribute", because=because)
    if call.operation == "DescribeMountTargetSecurityGroups":
        out += authorize(_ec2_subcall(call, "DescribeNetworkInterfaceAttribute",
                                      {"NetworkInterfaceId": "eni-0"}), state,
                         "ec2:DescribeNetworkInterfaceAttribute", because=because)
    return out


def _behind_register_task_definition(call: Call, state: State) -> list[IamRequest]:
    roles = [call.params.get(k) for k in ("taskRoleArn", "executionRoleArn")]
    return [_pass_role(call, str(r), "ecs-tasks.amazonaws.com") for r in roles if r]


def _behind_auto_scaling_group(call: Call, state: State) -> list[IamRequest]:
    """An Auto Scaling group launches its instances with the caller's permissions
    (ec2:RunInstances on everything the launch template names, tag-on-create of the
    instances and volumes, the instance profile's role passed to EC2)."""
    spec = call.params.get("LaunchTemplate") or {}
    template = state.launch_template(str(spec.get("LaunchTemplateId")
                                         or spec.get("LaunchTemplateName") or ""))
    if template is None:
        return []
    data, because = template["data"], "autoscaling:CreateAutoScalingGroup"
    subnets = [s.strip() for s in str(call.params.get("VPCZoneIdentifier", "")).split(",")
               if s.strip()]
    resources = [_arn(call, "ec2", f"launch-template/{template['id']}"),
                 _arn(call, "ec2", "instance/i-new"), _arn(call, "ec2", "volume/vol-new"),
                 _arn(call, "ec2", "network-interface/eni-new"),
                 *(_arn(call, "ec2", f"subnet/{s}") for s in subnets),
                 *(_arn(call, "ec2", f"security-group/{g}")
                   for g in _list(data.get("SecurityGroupIds"))),
                 _arn(call, "ec2", f"image/{data.get('ImageId')}", account=False)]
    if data.get("KeyName"):
        resources.append(_arn(call, "ec2", f"key-pair/{data['KeyName']}"))
    out = [IamRequest("ec2:RunInstances", arn,
                      _with_resource_tags({}, state, arn), because) for arn in resources]
    for spec_tags in _list(data.get("TagSpecifications")):
        kind = {"instance": "instance/i-new", "volume": "volume/vol-new"}.get(
            spec_tags.get("ResourceType"))
        if kind:
            tags = {t["Key"]: t["Value"] for t in spec_tags.get("Tags", [])}
            out.append(IamRequest("ec2:CreateTags", _arn(call, "ec2", kind), {
                **_tag_context(tags), "ec2:CreateAction": "RunInstances"}, because))
    profile = (data.get("IamInstanceProfile") or {}).get("Arn") or (
        data.get("IamInstanceProfile") or {}).get("Name")
    role = state.instance_profile_role(str(profile)) if profile else None
    if role:
        out.append(_pass_role(call, role, "ec2.amazonaws.com"))
    return out


# Permissions AWS checks behind a call, for the same principal, by (prefix, operation).
BEHIND: dict[tuple[str, str], Callable[[Call, State], list[IamRequest]]] = {
    ("elasticfilesystem", "CreateMountTarget"): _behind_efs,
    ("elasticfilesystem", "DeleteMountTarget"): _behind_efs,
    ("elasticfilesystem", "ModifyMountTargetSecurityGroups"): _behind_efs,
    ("elasticfilesystem", "DescribeMountTargetSecurityGroups"): _behind_efs,
    ("ecs", "RegisterTaskDefinition"): _behind_register_task_definition,
    ("autoscaling", "CreateAutoScalingGroup"): _behind_auto_scaling_group,
}
# What each entry of BEHIND (with tag-on-create) adds, by action: the test of
# botocore's documented extra permissions reads it.
DOCUMENTED_BEHIND: dict[str, set[str]] = {
    "elasticfilesystem:CreateMountTarget": {"ec2:CreateNetworkInterface",
                                            "ec2:DescribeNetworkInterfaces",
                                            "ec2:DescribeSubnets"},
    "elasticfilesystem:DeleteMountTarget": {"ec2:DeleteNetworkInterface"},
    "elasticfilesystem:ModifyMountTargetSecurityGroups": {
        "ec2:ModifyNetworkInterfaceAttribute"},
    "elasticfilesystem:DescribeMountTargetSecurityGroups": {
        "ec2:DescribeNetworkInterfaceAttribute"},
    "elasticfilesystem:CreateFileSystem": {"elasticfilesystem:TagResource"},
    "elasticfilesystem:CreateAccessPoint": {"elasticfilesystem:TagResource"},
}
# TransactWriteItems has no IAM action of its own: IAM authorizes each of its items as
# that item's action on its table.
TRANSACT_ITEM_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                        "ConditionCheck": "ConditionCheckItem"}


def _transact_items(call: Call, state: State) -> list[IamRequest]:
    return [request for item in _list(call.params.get("TransactItems"))
            for kind, op in item.items()
            for request in authorize(replace(call, params=op), state,
                                     f"dynamodb:{TRANSACT_ITEM_ACTION[kind]}",
                                     because=f"an item of {call.operation}")]


# Calls IAM authorizes only as the actions of their parts.
AS_PARTS: dict[tuple[str, str], Callable[[Call, State], list[IamRequest]]] = {
    ("dynamodb", "TransactWriteItems"): _transact_items,
}
# API operations whose IAM action has another name.
ACTION = {("lambda", "Invoke"): "InvokeFunction",
          ("lambda", "InvokeAsync"): "InvokeFunction"}
# Calls IAM does not authorize (AWS: "No permissions are required").
FREE = {"sts:GetCallerIdentity"}
_OPERATION = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def requests_for(call: Call, state: State) -> list[IamRequest]:
    """Every request IAM evaluates for `call`: its own, then those behind it."""
    if f"{call.prefix}:{call.operation}" in FREE or not _OPERATION.match(call.operation):
        return []
    parts = AS_PARTS.get((call.prefix, call.operation))
    if parts is not None:
        return parts(call, state)
    own = authorize(call, state, f"{call.prefix}:"
                    + ACTION.get((call.prefix, call.operation), call.operation))
    behind = BEHIND.get((call.prefix, call.operation))
    return [*own, *_tag_on_create(call, state), *(behind(call, state) if behind else [])]
