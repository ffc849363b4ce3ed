"""Deploy the app into the emulator as the template deploys it into AWS: tables, roles,
one Lambda per Chalice function, the state machines from stepfunctions/, the event
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
from typing import Any

from chalice.app import CloudWatchEventConfig

from chalicelib.core import naming, registry
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
    roles: Roles | None = None

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


def _put_policy(clients: Clients, name: str, document: dict[str, Any]) -> str:
    """A managed policy with `document` as its default version (made, or updated)."""
    iam = clients.client("iam")
    text = json.dumps(document)
    try:
        return str(iam.create_policy(PolicyName=name, PolicyDocument=text)["Policy"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        account = clients.client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:iam::{account}:policy/{name}"
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
        return arn


def _role_with(clients: Clients, name: str, trust: dict[str, Any],
               policies: dict[str, dict[str, Any]]) -> str:
    """A role with exactly these inline policies (made, or its policies put again)."""
    iam = clients.client("iam")
    try:
        arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    for policy, document in policies.items():
        iam.put_role_policy(RoleName=name, PolicyName=policy,
                            PolicyDocument=json.dumps(document))
    return arn


@dataclass
class Roles:
    """The stage's roles as AWS gets them: each Lambda group's, with its
    `.chalice/policy-<group>.json` rendered for the stage, and the template's
    (deploy/template.py: task, execution, instance, state machines, image build, and the
    scheduler roles' permissions boundary), with their policies."""
    groups: dict[str, str] = field(default_factory=dict)  # group -> role ARN
    template: dict[str, str] = field(default_factory=dict)  # logical id -> ARN


def _roles(clients: Clients, stage: str) -> Roles:
    # deploy/ is the checkout's (not installed with the wheel): the very documents the
    # deploy gives AWS. Imported here: deploy.template imports this package.
    from deploy import policies
    from deploy.scan_policies import plain
    from deploy.template import merge_template

    out = Roles()
    for group in policies.GROUPS:
        out.groups[group] = _role_with(clients, f"daskyard-{stage}-{group}", TRUST,
                                       {"daskyard": policies.render(group, stage)})
    resources = merge_template(stage)["Resources"]

    def name(value: Any) -> str:
        """An IAM name of the template, its region substituted (naming.regional)."""
        return str(plain(value, resources, stage))

    for logical, resource in resources.items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            out.template[logical] = _put_policy(clients, name(props["ManagedPolicyName"]), plain(
                props["PolicyDocument"], resources, stage))
    for logical, resource in resources.items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::IAM::Role":
            out.template[logical] = _role_with(
                clients, name(props["RoleName"]), props["AssumeRolePolicyDocument"],
                {p["PolicyName"]: plain(p["PolicyDocument"], resources, stage)
                 for p in props.get("Policies", [])})
        if resource["Type"] == "AWS::IAM::InstanceProfile":
            iam = clients.client("iam")
            role = name(resources[props["Roles"][0]["Ref"]]["Properties"]["RoleName"])
            profile = name(props["InstanceProfileName"])
            with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                iam.create_instance_profile(InstanceProfileName=profile)
                iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
            out.template[logical] = str(iam.get_instance_profile(
                InstanceProfileName=profile)["InstanceProfile"]["Arn"])
    return out


def group_of(function: str) -> str:
    """The policy group of a Chalice function, as .chalice/config.json maps it (the
    stages map their functions alike; `dev`'s is read)."""
    from deploy import policies

    config = json.loads((policies.CHALICE / "config.json").read_text())["stages"]["dev"]
    named = config["lambda_functions"].get(function, {}).get("iam_policy_file",
                                                              config["iam_policy_file"])
    return str(named).removeprefix("policy-dev-").removesuffix(".json")


# The service-linked roles an account has from its first ECS and Auto Scaling use, as
# AWS names them (moto's CreateServiceLinkedRole would name ECS's AWSServiceRoleForecs).
SERVICE_LINKED_ROLES = {"ecs.amazonaws.com": "AWSServiceRoleForECS",
                        "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling"}


def _service_linked_roles(clients: Clients) -> None:
    for service, name in SERVICE_LINKED_ROLES.items():
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        with contextlib.suppress(clients.iam.exceptions.EntityAlreadyExistsException):
            clients.iam.create_role(RoleName=name, Path=f"/aws-service-role/{service}/",
                                    AssumeRolePolicyDocument=json.dumps(trust))


def default_vpc_way_out(clients: Clients) -> None:
    """AWS's default VPC has an internet gateway and a 0.0.0.0/0 route to it in its main
    route table (moto's has neither): tasks with a public IP reach AWS through it."""
    ec2 = clients.ec2
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        attached = [{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
        if ec2.describe_internet_gateways(Filters=attached)["InternetGateways"]:
            continue
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc["VpcId"])
        tables = ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
        for table in tables:
            if any(a.get("Main") for a in table.get("Associations", [])):
                ec2.create_route(RouteTableId=table["RouteTableId"],
                                 DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)


def user_id(clients: Clients, user: str) -> str:
    """The unique id of IAM user `user` (made if it is not there): what a stage's admins
    and owners are (`aws:userid`), not the ARN, which a user made again would share."""
    iam = clients.client("iam")
    try:
        raw = iam.get_user(UserName=user)["User"]["UserId"]
    except iam.exceptions.NoSuchEntityException:
        raw = iam.create_user(UserName=user)["User"]["UserId"]
    return aws_user_id(str(raw))


def aws_user_id(moto_id: str) -> str:
    """IAM's form of a user's id (`aws:userid`: AIDA and capitals and digits) for moto's
    (lower case, no prefix); the local gateway names callers by the same."""
    return moto_id if moto_id.startswith("AIDA") else f"AIDA{moto_id.upper()}"


def _tables(clients: Clients, settings: Settings) -> None:
    db = clients.dynamodb
    with contextlib.suppress(db.exceptions.ResourceInUseException):
        db.create_table(TableName=settings.table, BillingMode="PAY_PER_REQUEST",
                        **registry.schema())
    for table, key in ((settings.idempotency_table, "id"), (settings.drives_table, "name")):
        with contextlib.suppress(db.exceptions.ResourceInUseException):
            db.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    # As the template sets it (the emulator keeps expired items: nothing reads them).
    ttl = db.describe_time_to_live(TableName=settings.table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") != "ENABLED":
        db.update_time_to_live(TableName=settings.table, TimeToLiveSpecification={
            "AttributeName": registry.TTL_ATTRIBUTE, "Enabled": True})


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
    if user == ADMIN_USER:  # the operator's keys administer the emulator, as an admin's would
        iam.attach_user_policy(UserName=user,
                               PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for old in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(arn), str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def _pattern(pattern: dict[str, object], stage: str) -> str:
    """The app's rule pattern for `stage`. Its patterns name the stage it was loaded for
    (local mode loads it for STAGE); chalice, loading it for another stage, would name
    that one."""
    text = json.dumps(pattern)
    ours = (f"daskyard-{STAGE}-", f"/daskyard/{STAGE}/")  # resource names, parameter paths
    if not any(prefix in text for prefix in ours):
        raise RuntimeError(f"the app was loaded for another stage than {STAGE!r}: {text}")
    return text.replace(ours[0], f"daskyard-{stage}-").replace(ours[1], f"/daskyard/{stage}/")


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
        "DASKYARD_ADMINS": user_id(clients, ADMIN_USER),
        **(extra_env or {}),
    }
    if own:
        os.environ.update(env)
    settings = Settings.from_env({**{k: v for k, v in os.environ.items()
                                      if own or not k.startswith("DASKYARD_")}, **env})
    _tables(clients, settings)
    _service_linked_roles(clients)
    default_vpc_way_out(clients)
    roles = _roles(clients, stage)
    env["DASKYARD_TASK_EXECUTION_ROLE_ARN"] = roles.template["TaskExecutionRole"]
    env["DASKYARD_TASK_ROLE_ARN"] = roles.template["TaskRole"]
    env["DASKYARD_INSTANCE_PROFILE_ARN"] = roles.template["InstanceProfile"]
    env["DASKYARD_SCHEDULER_ROLE_BOUNDARY_ARN"] = roles.template["SchedulerRoleBoundary"]
    states_role = roles.template["StatesRole"]
    out.roles = roles

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("app.py", "# routed in-process by daskyard.local\n")
    lam = clients.client("lambda")
    app = app_module.app
    for fn in [*app.pure_lambda_functions, *app.event_sources]:
        name = f"daskyard-{stage}-{fn.name}"
        try:
            arn = lam.create_function(FunctionName=name, Runtime="python3.11",
                                      Role=roles.groups[group_of(fn.name)],
                                      Handler=fn.handler_string,
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
    # The rollback machine before the create machine, which starts it.
    for kind in ("destroy_cluster", "rollback_cluster", "create_cluster", "teardown"):
        arn = sfn.create_state_machine(
            name=f"daskyard-{stage}-{kind.replace('_', '-')}", roleArn=states_role,
            definition=asl.definition(kind, values, time_scale))["stateMachineArn"]
        values[f"{kind.title().replace('_', '')}StateMachineArn"] = arn
        if kind != "rollback_cluster":  # no Lambda starts it
            env[f"DASKYARD_{kind.removesuffix('_cluster').upper()}_STATE_MACHINE_ARN"] = arn

    for secret_id in (settings.slack_secret_id, settings.webhook_secret_id):
        with contextlib.suppress(clients.secrets.exceptions.ResourceExistsException):
            clients.secrets.create_secret(Name=secret_id, SecretString=secrets.token_hex(32))
    env["DASKYARD_IMAGE_BUILD_PROJECT"] = _image_build_project(
        clients, roles.template["ImageBuildRole"], stage)
    push_images(clients, settings)
    if own:
        os.environ.update(env)
    out.env = env
    return out
