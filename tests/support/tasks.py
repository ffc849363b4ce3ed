"""A standalone ECS task (RunTask) of a one-container definition, for the tests of local
mode's standalone tasks."""

from __future__ import annotations

from typing import Any


def register_and_run(clients: Any, command: list[str], public: bool = True,
                     log_group: str = "") -> dict[str, Any]:
    """A Fargate task of a one-container definition (its output to `log_group` under the
    stream prefix `task`, when given), in the default VPC's first subnet; RunTask's
    override adds `--x` to the command."""
    ecs = clients.ecs
    logs = {"logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": log_group, "awslogs-stream-prefix": "task",
        "awslogs-create-group": "true", "awslogs-region": clients.region}}} \
        if log_group else {}
    ecs.create_cluster(clusterName="standalone")
    td = ecs.register_task_definition(
        family="standalone-task", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512",
        containerDefinitions=[{"name": "main", "image": "python:3.11", "command": command,
                               "memoryReservation": 512, "essential": True, **logs}])
    subnet = clients.ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = clients.ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    [task] = ecs.run_task(
        cluster="standalone", taskDefinition=td["taskDefinition"]["taskDefinitionArn"],
        launchType="FARGATE", count=1,
        overrides={"containerOverrides": [{"name": "main", "command": [*command, "--x"]}]},
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": [subnet], "securityGroups": [group],
            "assignPublicIp": "ENABLED" if public else "DISABLED"}})["tasks"]
    return dict(task)


def described(clients: Any, arn: str) -> dict[str, Any]:
    return dict(clients.ecs.describe_tasks(cluster="standalone", tasks=[arn])["tasks"][0])
