"""What is left of a cluster, found by listing each AWS service, never by trusting the
registry or the tagging API (the emulator lists deleted ECS resources there)."""

from __future__ import annotations

from chalicelib.core import naming
from chalicelib.core.aws import Clients


def _tagged(tags: list[dict[str, str]] | None, cluster: str) -> bool:
    return any(t.get("Key", t.get("key")) == naming.TAG_CLUSTER
               and t.get("Value", t.get("value")) == cluster for t in tags or [])


def leftovers(clients: Clients, cluster: str) -> list[str]:
    base = naming.base(cluster)
    found: list[str] = []
    ec2 = clients.ec2
    found += [f"key pair {k['KeyName']}" for k in ec2.describe_key_pairs()["KeyPairs"]
              if k["KeyName"] == base or _tagged(k.get("Tags"), cluster)]
    found += [f"security group {g['GroupId']}" for g in
              ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"] == base or _tagged(g.get("Tags"), cluster)]
    found += [f"launch template {t['LaunchTemplateName']}" for t in
              ec2.describe_launch_templates()["LaunchTemplates"]
              if t["LaunchTemplateName"] == base or _tagged(t.get("Tags"), cluster)]
    found += [f"auto scaling group {g['AutoScalingGroupName']}" for g in
              clients.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
              if g["AutoScalingGroupName"] == base or _tagged(g.get("Tags"), cluster)]
    for fs in clients.efs.describe_file_systems()["FileSystems"]:
        if fs["CreationToken"] == base or _tagged(fs.get("Tags"), cluster):
            found.append(f"file system {fs['FileSystemId']}")
        for ap in clients.efs.describe_access_points(FileSystemId=fs["FileSystemId"])[
                "AccessPoints"]:
            if _tagged(ap.get("Tags"), cluster):
                found.append(f"access point {ap['AccessPointId']}")
    ecs = clients.ecs
    for c in ecs.describe_clusters(clusters=[base])["clusters"]:
        if c["status"] != "INACTIVE":  # ECS lists a deleted cluster as INACTIVE for a while
            found.append(f"ECS cluster {c['clusterArn']}")
    for cp in ecs.describe_capacity_providers(capacityProviders=[base])["capacityProviders"]:
        if cp["name"] == base and cp.get("status") == "ACTIVE":
            found.append(f"capacity provider {cp['name']}")
    for role in ("scheduler", "worker", "notebook"):
        family = f"{base}-{role}"
        found += [f"task definition {a}" for a in
                  ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")[
                      "taskDefinitionArns"] if a.split("/")[-1].rsplit(":", 1)[0] == family]
    found += [f"parameter {p['Name']}" for p in clients.ssm.get_parameters_by_path(
        Path=f"/daskyard/{cluster}/", Recursive=True)["Parameters"]]
    found += [f"secret {s['Name']}" for s in clients.secrets.list_secrets()["SecretList"]
              if s["Name"].startswith(f"daskyard/{cluster}/") or _tagged(s.get("Tags"), cluster)]
    found += [f"log group {g['logGroupName']}" for g in clients.logs.describe_log_groups(
        logGroupNamePrefix=f"/daskyard/{cluster}")["logGroups"]
              if g["logGroupName"] == f"/daskyard/{cluster}"]
    return found
