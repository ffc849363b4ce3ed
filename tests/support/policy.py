"""The Lambda policies as .chalice/ holds them: which group each function is in, and
each group's statements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHALICE = Path(__file__).resolve().parents[2] / ".chalice"
# AWS supports no resource-level permission for these (Service Authorization Reference).
UNSCOPABLE = {
    "states:SendTaskSuccess", "states:SendTaskFailure", "tag:GetResources",
    "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:ListTaskDefinitions",
    "ecs:DescribeTaskDefinition", "ecs:DescribeCapacityProviders",
    "autoscaling:DescribeAutoScalingGroups", "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeAccessPoints",
    *(f"ec2:Describe{x}" for x in ("Vpcs", "Subnets", "SecurityGroups", "NetworkInterfaces",
                                   "LaunchTemplates", "Instances")),
}


def group_of() -> dict[str, str]:
    """Chalice function name -> its policy group, as .chalice/config.json sets it."""
    config = json.loads((CHALICE / "config.json").read_text())["stages"]["dev"]
    default = config["iam_policy_file"]
    files = {name: fn["iam_policy_file"] for name, fn in config["lambda_functions"].items()}
    return {"*": _group(default), **{name: _group(f) for name, f in files.items()}}


def _group(policy_file: str) -> str:
    return policy_file.removeprefix("policy-").removesuffix(".json")


def statements(group: str) -> list[dict[str, Any]]:
    return list(json.loads((CHALICE / f"policy-{group}.json").read_text())["Statement"])
