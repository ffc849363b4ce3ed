"""The CloudFormation pieces Chalice does not make, merged into `chalice package`'s
template with `--merge-template`: tables, the static IAM roles, both state machines
(their ASL read from stepfunctions/ with the placeholders substituted by the function
ARNs), the CodeBuild project that builds images/, and the signing secrets. Every name
starts with `daskyard-<stage>` so the Lambda policy can scope by prefix.

    python -m deploy.template STAGE OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from daskyard.local import asl

ARN = "arn:${AWS::Partition}"
STEP_FUNCTIONS = sorted(asl.placeholders("create_cluster") | asl.placeholders("destroy_cluster"))
BUILDSPEC = """version: 0.2
phases:
  pre_build:
    commands:
      - aws ecr get-login-password | docker login --username AWS --password-stdin $ECR_REGISTRY
  build:
    commands:
      - |
        for role in scheduler worker notebook; do
          docker build --target $role -t $ECR_REGISTRY/$ECR_PREFIX/$role:$IMAGE_TAG images/
          docker push $ECR_REGISTRY/$ECR_PREFIX/$role:$IMAGE_TAG
        done
"""


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def assume(service: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def allow(actions: list[str], resources: list[Any] | str,
          condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions,
                                 "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def role(name: str, service: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": name, "AssumeRolePolicyDocument": assume(service),
        "Policies": [{"PolicyName": "daskyard", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": statements}}]}}


def table(name: str, key: str, ttl: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True}}
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "Properties": props}


def merge_template(stage: str) -> dict[str, Any]:
    base = f"daskyard-{stage}"
    repos = sub(ARN + ":ecr:${AWS::Region}:${AWS::AccountId}:repository/daskyard/*")
    pull = allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                  "ecr:BatchCheckLayerAvailability"], [repos])
    login = allow(["ecr:GetAuthorizationToken"], "*")  # AWS offers no narrower resource
    write_logs = allow(["logs:CreateLogStream", "logs:PutLogEvents"],
                       [sub(ARN + ":logs:${AWS::Region}:${AWS::AccountId}:log-group:/daskyard/*"
                            ":log-stream:*")])
    machine_arn = ARN + ":states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + base
    resources: dict[str, Any] = {
        "ClustersTable": {**table(f"{base}-clusters", "name"),
                          "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
        "IdempotencyTable": table(f"{base}-idempotency", "id", ttl="expiration"),
        "TaskExecutionRole": role(f"{base}-task-execution", "ecs-tasks.amazonaws.com", [
            login, pull, write_logs,
            allow(["secretsmanager:GetSecretValue"], [sub(
                ARN + ":secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:daskyard/*")])]),
        "TaskRole": role(f"{base}-task", "ecs-tasks.amazonaws.com", [
            allow(["ssm:GetParameter"], [sub(
                ARN + ":ssm:${AWS::Region}:${AWS::AccountId}:parameter/daskyard/*")]),
            allow(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], [sub(
                ARN + ":elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/*")],
                {"StringEquals": {"aws:ResourceTag/daskyard:managed": "true"}})]),
        "InstanceRole": role(f"{base}-instance", "ec2.amazonaws.com", [
            allow(["ecs:DiscoverPollEndpoint"], "*"),  # AWS offers no narrower resource
            allow(["ecs:RegisterContainerInstance", "ecs:DeregisterContainerInstance",
                   "ecs:SubmitContainerStateChange", "ecs:SubmitTaskStateChange",
                   "ecs:SubmitAttachmentStateChanges", "ecs:Poll",
                   "ecs:StartTelemetrySession", "ecs:PutSystemLogEvents"],
                  [sub(ARN + ":ecs:${AWS::Region}:${AWS::AccountId}:cluster/daskyard-*"),
                   sub(ARN + ":ecs:${AWS::Region}:${AWS::AccountId}:container-instance/"
                       "daskyard-*/*")]),
            login, pull, write_logs]),
        "InstanceProfile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "InstanceProfileName": f"{base}-instance", "Roles": [{"Ref": "InstanceRole"}]}},
        "StatesRole": role(f"{base}-states", "states.amazonaws.com", [
            allow(["lambda:InvokeFunction"], [
                arn for name in STEP_FUNCTIONS for arn in (
                    {"Fn::GetAtt": [name.removesuffix("Arn"), "Arn"]},
                    sub("${" + name.removesuffix("Arn") + ".Arn}:*"))])]),
        "ImageBuildRole": role(f"{base}-image-build", "codebuild.amazonaws.com", [
            login, pull,
            allow(["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload"], [repos]),
            allow(["s3:GetObject", "s3:GetObjectVersion"],
                  [sub(ARN + ":s3:::${ImageSourceLocation}")]),
            allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [sub(
                ARN + ":logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/codebuild/"
                + base + "-images*")])]),
        "ImageBuild": {"Type": "AWS::CodeBuild::Project", "Properties": {
            "Name": f"{base}-images", "ServiceRole": {"Fn::GetAtt": ["ImageBuildRole", "Arn"]},
            "Source": {"Type": "S3", "Location": {"Ref": "ImageSourceLocation"},
                       "BuildSpec": BUILDSPEC},
            "Artifacts": {"Type": "NO_ARTIFACTS"}, "TimeoutInMinutes": 30,
            "Environment": {
                "Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL",
                "Image": "aws/codebuild/standard:7.0", "PrivilegedMode": True,
                "EnvironmentVariables": [
                    {"Name": "ECR_REGISTRY",
                     "Value": sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com")},
                    {"Name": "ECR_PREFIX", "Value": "daskyard"},
                    {"Name": "IMAGE_TAG", "Value": "latest"}]}}},
        "SlackSigningSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Name": f"daskyard/{stage}/slack-signing-secret",
            "Description": "Slack app signing secret: set it with put-secret-value",
            "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True}}},
        "WebhookSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Name": f"daskyard/{stage}/webhook-secret",
            "Description": "HMAC key for POST /webhooks and the callbacks",
            "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True}}},
    }
    for kind, logical in (("create_cluster", "CreateClusterStateMachine"),
                          ("destroy_cluster", "DestroyClusterStateMachine")):
        resources[logical] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": f"{base}-{kind.replace('_', '-')}",
            "RoleArn": {"Fn::GetAtt": ["StatesRole", "Arn"]},
            "DefinitionString": asl.raw(kind),
            "DefinitionSubstitutions": {
                name: {"Fn::GetAtt": [name.removesuffix("Arn"), "Arn"]}
                for name in sorted(asl.placeholders(kind))}}}
    env = {
        "DASKYARD_TABLE": {"Ref": "ClustersTable"},
        "DASKYARD_IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
        # Built from the name, not Ref'd: the machines reference the functions.
        "DASKYARD_CREATE_STATE_MACHINE_ARN": sub(machine_arn + "-create-cluster"),
        "DASKYARD_DESTROY_STATE_MACHINE_ARN": sub(machine_arn + "-destroy-cluster"),
        "DASKYARD_TASK_EXECUTION_ROLE_ARN": {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]},
        "DASKYARD_TASK_ROLE_ARN": {"Fn::GetAtt": ["TaskRole", "Arn"]},
        "DASKYARD_INSTANCE_PROFILE_ARN": {"Fn::GetAtt": ["InstanceProfile", "Arn"]},
        "DASKYARD_IMAGE_BUILD_PROJECT": {"Ref": "ImageBuild"},
        "DASKYARD_SLACK_SECRET_ID": {"Ref": "SlackSigningSecret"},
        "DASKYARD_WEBHOOK_SECRET_ID": {"Ref": "WebhookSecret"},
    }
    return {
        "Parameters": {"ImageSourceLocation": {
            "Type": "String", "Description": "bucket/key of images.zip (make deploy uploads it)"}},
        "Globals": {"Function": {"Environment": {"Variables": env}}},
        "Resources": resources,
        "Outputs": {"CreateClusterStateMachineArn": {"Value": {"Ref": "CreateClusterStateMachine"}},
                    "SlackSigningSecretArn": {"Value": {"Ref": "SlackSigningSecret"}},
                    "WebhookSecretArn": {"Value": {"Ref": "WebhookSecret"}}},
    }


def main(argv: list[str]) -> None:
    stage, out = argv
    Path(out).write_text(json.dumps(merge_template(stage), indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
