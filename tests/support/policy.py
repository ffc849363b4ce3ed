"""The Lambda policies as .chalice/ holds them: which group each function is in, and
each group's statements as deploy/policies.py renders them for a stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.policies import render

CHALICE = Path(__file__).resolve().parents[2] / ".chalice"
# AWS supports no resource-level permission for these (Service Authorization Reference).
UNSCOPABLE = {
    "states:SendTaskSuccess", "states:SendTaskFailure", "tag:GetResources",
    "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:ListTaskDefinitions",
    "ecs:DescribeTaskDefinition", "ecs:DescribeCapacityProviders",
    "autoscaling:DescribeAutoScalingGroups", "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeAccessPoints",
    "elasticfilesystem:CreateFileSystem", "iam:ListRoles", "ecs:ListClusters",
    "ecs:ListServices", "ecs:ListTaskDefinitionFamilies", "secretsmanager:ListSecrets",
    "logs:DescribeLogGroups",
    *(f"ec2:Describe{x}" for x in ("Vpcs", "Subnets", "SecurityGroups", "NetworkInterfaces",
                                   "LaunchTemplates", "Instances", "KeyPairs",
                                   "NetworkInterfaceAttribute", "RouteTables",
                                   "VpcEndpoints")),
    # The account-wide reads of the doctor and the account quotas' preflight and
    # headroom (chalicelib/core/quotas.py). A quota's own value (GetServiceQuota) is
    # granted on that quota's ARN; its default has no resource type to scope to.
    "iam:GetAccountSummary", "servicequotas:GetAWSDefaultServiceQuota",
}


def stages() -> list[str]:
    return sorted(json.loads((CHALICE / "config.json").read_text())["stages"])


def group_of(stage: str = "dev") -> dict[str, str]:
    """Chalice function name -> its policy group, as .chalice/config.json sets it."""
    config = json.loads((CHALICE / "config.json").read_text())["stages"][stage]
    default = config["iam_policy_file"]
    files = {name: fn["iam_policy_file"] for name, fn in config["lambda_functions"].items()}
    return {"*": _group(default, stage),
            **{name: _group(f, stage) for name, f in files.items()}}


def _group(policy_file: str, stage: str) -> str:
    return policy_file.removeprefix(f"policy-{stage}-").removesuffix(".json")


def statements(group: str, stage: str = "dev") -> list[dict[str, Any]]:
    return list(render(group, stage)["Statement"])
