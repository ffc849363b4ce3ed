"""What is left of a cluster, found by listing each AWS service, never by trusting the
registry or the tagging API (the emulator lists deleted ECS resources there)."""

from __future__ import annotations

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from daskyard.local.deploy import STAGE


def _tagged(tags: list[dict[str, str]] | None, cluster: str, stage: str) -> bool:
    """Tagged for `cluster` and not for another stage (a stage tag missing by mistake
    still counts: a finder of leftovers errs on the side of finding)."""
    found = {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in tags or []}
    return found.get(naming.TAG_CLUSTER) == cluster and found.get(naming.TAG_STAGE,
                                                                     stage) == stage


def leftovers(clients: Clients, cluster: str, stage: str = STAGE) -> list[str]:
    """`cluster` of `stage` (local mode's own by default): a same-named cluster of
    another stage is not its leftover."""
    names = naming.Names(stage, cluster)
    base = names.base()
    found: list[str] = []
    ec2 = clients.ec2

    def tagged(tags: list[dict[str, str]] | None) -> bool:
        return _tagged(tags, cluster, stage)

    found += [f"key pair {k['KeyName']}" for k in ec2.describe_key_pairs()["KeyPairs"]
              if k["KeyName"] == base or tagged(k.get("Tags"))]
    found += [f"security group {g['GroupId']}" for g in
              ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"] == base or tagged(g.get("Tags"))]
    found += [f"launch template {t['LaunchTemplateName']}" for t in
              ec2.describe_launch_templates()["LaunchTemplates"]
              if t["LaunchTemplateName"] == base or tagged(t.get("Tags"))]
    found += [f"auto scaling group {g['AutoScalingGroupName']}" for g in
              clients.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
              if g["AutoScalingGroupName"] == base or tagged(g.get("Tags"))]
    for fs in clients.efs.describe_file_systems()["FileSystems"]:
        if fs["CreationToken"] == base or tagged(fs.get("Tags")):
            found.append(f"file system {fs['FileSystemId']}")
        for ap in clients.efs.describe_access_points(FileSystemId=fs["FileSystemId"])[
                "AccessPoints"]:
            if tagged(ap.get("Tags")):
                found.append(f"access point {ap['AccessPointId']}")
    ecs = clients.ecs
    for c in ecs.describe_clusters(clusters=[base])["clusters"]:
        if c["status"] != "INACTIVE":  # ECS lists a deleted cluster as INACTIVE for a while
            found.append(f"ECS cluster {c['clusterArn']}")
    for cp in ecs.describe_capacity_providers(capacityProviders=[base])["capacityProviders"]:
        if cp["name"] == base and cp.get("status") == "ACTIVE":
            found.append(f"capacity provider {cp['name']}")
    for role in naming.ROLES:
        family = names.task_family(role)
        found += [f"task definition {a}" for a in
                  ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")[
                      "taskDefinitionArns"] if a.split("/")[-1].rsplit(":", 1)[0] == family]
    found += [f"parameter {p['Name']}" for p in clients.ssm.get_parameters_by_path(
        Path=f"/daskyard/{stage}/{cluster}/", Recursive=True)["Parameters"]]
    found += [f"secret {s['Name']}" for s in clients.secrets.list_secrets()["SecretList"]
              if s["Name"].startswith(f"daskyard/{stage}/{cluster}/") or tagged(s.get("Tags"))]
    found += [f"role {r['RoleName']}" for r in clients.client("iam").list_roles(
        PathPrefix=names.role_path())["Roles"]
        if r["RoleName"] == names.scheduler_role(clients.region)]
    found += [f"log group {g['logGroupName']}" for g in clients.logs.describe_log_groups(
        logGroupNamePrefix=names.log_group())["logGroups"]
              if g["logGroupName"] == names.log_group()]
    return found
