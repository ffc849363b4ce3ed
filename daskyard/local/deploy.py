"""Deploy the app into the emulator as the template deploys it into AWS: tables, roles,
one Lambda per Chalice function, both state machines from stepfunctions/, the event
rules from app.py's `on_cw_event` patterns, secrets, and the images in ECR."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from types import ModuleType

from chalice.app import CloudWatchEventConfig

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.settings import Settings
from chalicelib.steps.prepare_images import ensure_repositories
from daskyard.local import asl

STAGE = "local"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}


@dataclass
class Deployment:
    env: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)

    @property
    def create_arn(self) -> str:
        return self.env["DASKYARD_CREATE_STATE_MACHINE_ARN"]

    @property
    def destroy_arn(self) -> str:
        return self.env["DASKYARD_DESTROY_STATE_MACHINE_ARN"]


def _role(clients: Clients, name: str) -> str:
    iam = clients.client("iam")
    try:
        return str(iam.create_role(RoleName=name,
                                   AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def scheduler_boundary(clients: Clients, stage: str) -> str:
    """The permissions boundary of the stage's per-cluster scheduler roles, as the
    template makes it (deploy/template.py): the most any of them may ever do."""
    iam = clients.client("iam")
    name = f"daskyard-{stage}-scheduler-boundary"
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": f"arn:aws:ssm:*:*:parameter/daskyard/{stage}/*/adapt"},
        {"Effect": "Allow", "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
         "Resource": f"arn:aws:ecs:*:*:service/daskyard-{stage}-*/daskyard-{stage}-*-workers"},
        {"Effect": "Allow",
         "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
         "Resource": "arn:aws:elasticfilesystem:*:*:file-system/*"}]}
    try:
        return str(iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))[
            "Policy"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        account = clients.client("sts").get_caller_identity()["Account"]
        return f"arn:aws:iam::{account}:policy/{name}"


def iam_arn(clients: Clients, user: str) -> str:
    """The ARN IAM gives `user` (moto's account id), whether or not it exists yet."""
    account = clients.client("sts").get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:user/{user}"


def _tables(clients: Clients, settings: Settings) -> None:
    db = clients.dynamodb
    for table, key in ((settings.table, "name"), (settings.idempotency_table, "id"),
                       (settings.drives_table, "name")):
        with contextlib.suppress(db.exceptions.ResourceInUseException):
            db.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])


def _image_build_project(clients: Clients, role: str, stage: str = STAGE) -> str:
    """The CodeBuild project as the template defines it; the emulator never runs a build,
    local mode pushes the images at deploy instead."""
    name = f"daskyard-{stage}-images"
    codebuild = clients.codebuild
    with contextlib.suppress(codebuild.exceptions.ResourceAlreadyExistsException):
        codebuild.create_project(
            name=name, source={"type": "S3", "location": "daskyard-local/images.zip"},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role,
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": True})
    return name


def push_images(clients: Clients, settings: Settings) -> None:
    """Stand-in for `docker push`: an image manifest per role under the stage's tag."""
    ensure_repositories(clients.ecr, [naming.repository(settings.ecr_prefix, r)
                                      for r in naming.ROLES])
    for role in naming.ROLES:
        repo = naming.repository(settings.ecr_prefix, role)
        manifest = json.dumps({"schemaVersion": 2, "mediaType":
                               "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"digest": "sha256:" + hashlib.sha256(
                                   role.encode()).hexdigest(), "size": 1}})
        with contextlib.suppress(clients.ecr.exceptions.ImageAlreadyExistsException):
            clients.ecr.put_image(repositoryName=repo, imageManifest=manifest,
                                  imageTag=settings.image_tag)


ADMIN_USER = "daskyard-local-admin"


def user_keys(clients: Clients, user: str = ADMIN_USER) -> tuple[str, str, str]:
    """(ARN, access key id, secret key) of an IAM user in the emulator (by default the
    local stage's admin) with one fresh key; earlier keys are deleted."""
    iam = clients.client("iam")
    try:
        arn = iam.create_user(UserName=user)["User"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_user(UserName=user)["User"]["Arn"]
    for old in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(arn), str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def _pattern(pattern: dict[str, object], stage: str) -> str:
    """The app's rule pattern for `stage`. Its patterns name the stage it was loaded for
    (local mode loads it for STAGE); chalice, loading it for another stage, would name
    that one."""
    text = json.dumps(pattern)
    if f"daskyard-{STAGE}-" not in text:
        raise RuntimeError(f"the app was loaded for another stage than {STAGE!r}: {text}")
    return text.replace(f"daskyard-{STAGE}-", f"daskyard-{stage}-")


def deploy(clients: Clients, app_module: ModuleType, time_scale: float = 1.0,
           extra_env: dict[str, str] | None = None, stage: str = STAGE) -> Deployment:
    """Deploy `stage` into the emulator `clients` points at and return its Lambda
    environment. Local mode's own stage (STAGE) sets it in os.environ, which the
    in-process handlers read; another stage in the same emulator (as two stages share an
    AWS account) leaves os.environ alone: its functions run with a Runtime made from the
    returned environment (LambdaRouter.stages)."""
    out = Deployment()
    own = stage == STAGE
    env = {
        "AWS_ENDPOINT_URL": clients.endpoint_url or "",
        "DASKYARD_STAGE": stage,
        "DASKYARD_ALLOWED_CIDRS": "127.0.0.0/8,10.0.0.0/8",
        "DASKYARD_MAX_WORKERS": "16",
        "DASKYARD_ALLOWED_INSTANCE_TYPES": "t3.medium,t3.large",
        # Slack and webhook callbacks go to receivers on this machine.
        "DASKYARD_ALLOW_HTTP_CALLBACKS": "true",
        "DASKYARD_ALLOW_PRIVATE_CALLBACKS": "true",
        "DASKYARD_SLACK_RESPONSE_PREFIX": "http://127.0.0.1:",
        "DASKYARD_ADMINS": iam_arn(clients, ADMIN_USER),
        **(extra_env or {}),
    }
    if own:
        os.environ.update(env)
    settings = Settings.from_env({**{k: v for k, v in os.environ.items()
                                      if own or not k.startswith("DASKYARD_")}, **env})
    _tables(clients, settings)
    lambda_role = _role(clients, f"daskyard-{stage}-lambda")
    env["DASKYARD_TASK_EXECUTION_ROLE_ARN"] = _role(clients, f"daskyard-{stage}-task-execution")
    env["DASKYARD_TASK_ROLE_ARN"] = _role(clients, f"daskyard-{stage}-task")
    env["DASKYARD_INSTANCE_PROFILE_ARN"] = _role(clients, f"daskyard-{stage}-instance")
    env["DASKYARD_SCHEDULER_ROLE_BOUNDARY_ARN"] = scheduler_boundary(clients, stage)
    states_role = _role(clients, f"daskyard-{stage}-states")

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("app.py", "# routed in-process by daskyard.local\n")
    lam = clients.client("lambda")
    app = app_module.app
    for fn in [*app.pure_lambda_functions, *app.event_sources]:
        name = f"daskyard-{stage}-{fn.name}"
        try:
            arn = lam.create_function(FunctionName=name, Runtime="python3.11",
                                      Role=lambda_role, Handler=fn.handler_string,
                                      Code={"ZipFile": code.getvalue()})["FunctionArn"]
        except lam.exceptions.ResourceConflictException:
            arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        out.functions[fn.name] = arn
        if isinstance(fn, CloudWatchEventConfig):
            clients.events.put_rule(Name=name, EventPattern=_pattern(fn.event_pattern, stage))
            clients.events.put_targets(Rule=name, Targets=[{"Id": fn.name, "Arn": arn}])
        # Schedules get no rule here: the emulator would deliver every event to a rule
        # without a pattern. tests/functional/test_teardown.py invokes the handlers.

    values = {f"{name}Arn": arn for name, arn in out.functions.items()}
    sfn = clients.sfn
    for kind in ("destroy_cluster", "create_cluster"):
        arn = sfn.create_state_machine(
            name=f"daskyard-{stage}-{kind.replace('_', '-')}", roleArn=states_role,
            definition=asl.definition(kind, values, time_scale))["stateMachineArn"]
        values["DestroyClusterStateMachineArn" if kind == "destroy_cluster"
               else "CreateClusterStateMachineArn"] = arn
    env["DASKYARD_CREATE_STATE_MACHINE_ARN"] = values["CreateClusterStateMachineArn"]
    env["DASKYARD_DESTROY_STATE_MACHINE_ARN"] = values["DestroyClusterStateMachineArn"]

    for secret_id in (settings.slack_secret_id, settings.webhook_secret_id):
        with contextlib.suppress(clients.secrets.exceptions.ResourceExistsException):
            clients.secrets.create_secret(Name=secret_id, SecretString=secrets.token_hex(32))
    env["DASKYARD_IMAGE_BUILD_PROJECT"] = _image_build_project(clients, lambda_role, stage)
    push_images(clients, settings)
    if own:
        os.environ.update(env)
    out.env = env
    return out
