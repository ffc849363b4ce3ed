"""`chalice package` with the merged template builds offline, lints clean, holds what a
deployment needs (with the bytecode `make package` adds, which the Lambdas use from a
read-only extraction), and grants nothing broader than it must."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from deploy import asl, bytecode, policies
from deploy.template import merge_template
from tests.support.policy import UNSCOPABLE, group_of, statements

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Outside the Lambda policy, AWS offers no narrower resource for these either.
ALSO_UNSCOPABLE = {"ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint"}


# One worker runs these: the package they share takes 10 s to build.
pytestmark = pytest.mark.xdist_group("package")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    (out / "merge.json").write_text(json.dumps(merge_template("ci")))
    policies.write("dev")  # as `make package` does: chalice reads the stage's policy files
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run([str(BIN / "chalice"), "package", "--stage", "dev", "--pkg-format",
                    "cloudformation", "--merge-template", str(out / "merge.json"),
                    str(out / "pkg")], cwd=ROOT, env=env, check=True, capture_output=True)
    # As `make package` does next (3 s).
    bytecode.add(out / "pkg" / "deployment.zip", bytecode.runtime_of(out / "pkg" / "sam.json"))
    return out / "pkg"


@pytest.fixture(scope="module")
def template(package: Path) -> dict[str, Any]:
    return dict(json.loads((package / "sam.json").read_text()))


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_no_errors(package: Path) -> None:
    result = subprocess.run([str(BIN / "cfn-lint"), "--format", "parseable",
                             str(package / "sam.json")], capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], result.stdout
    assert result.returncode in (0, 4, 8), result.stdout + result.stderr  # 4/8: warnings only


def test_state_machines_substitute_every_placeholder_with_a_function_or_machine(
        template: dict[str, Any], tmp_path: Path) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    kinds = {"CreateClusterStateMachine": "create_cluster",
             "RollbackClusterStateMachine": "rollback_cluster",
             "DestroyClusterStateMachine": "destroy_cluster", "TeardownStateMachine": "teardown"}
    assert set(machines) == set(kinds)
    for logical, machine in machines.items():
        props = machine["Properties"]
        kind = kinds[logical]
        subs = props["DefinitionSubstitutions"]
        assert set(subs) == asl.placeholders(kind)
        targets = {v["Fn::GetAtt"][0] for v in subs.values()}
        # The create machine starts the rollback machine; every other target is a Lambda.
        assert targets <= set(functions) | {"RollbackClusterStateMachine"}, targets - set(
            functions)
        # As CloudFormation will substitute them, then validated as ASL.
        filled = asl.PLACEHOLDER.sub(
            lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:daskyard-ci-"
                      f"{m.group(1).removesuffix('Arn')}", props["DefinitionString"])
        (tmp_path / f"{kind}.json").write_text(filled)
    # All in one run of the validator `make install` put here (npx would only find this
    # one, 1.3 s later each time); it fails when any is invalid.
    paths = [arg for kind in kinds.values()
             for arg in ("--json-path", str(tmp_path / f"{kind}.json"))]
    out = subprocess.run([str(ROOT / "node_modules" / ".bin" / "asl-validator"), *paths],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("is valid") == len(kinds), out.stdout


def test_tables_have_point_in_time_recovery(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"ClustersTable", "IdempotencyTable", "DrivesTable"}
    for table in tables.values():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True}


def table_stack(template: dict[str, Any]) -> str:
    """The packaged template's tables, with the parameters and conditions that adopt the
    kept ones (the clusters and drives tables)."""
    return json.dumps({
        "Parameters": {k: template["Parameters"][k]
                       for k in ("ExistingClustersTable", "ExistingDrivesTable")},
        "Conditions": template["Conditions"],
        "Resources": {k: template["Resources"][k]
                      for k in ("ClustersTable", "DrivesTable", "IdempotencyTable")}})


# Run in a fresh interpreter: moto's backends are the process's, which local mode's
# emulator (other tests here) serves from and guards with its own IAM.
ADOPTION = """
import json, sys
import boto3
from moto import mock_aws

body = sys.stdin.read()
adopt = [{"ParameterKey": key, "ParameterValue": "true"}
         for key in ("ExistingClustersTable", "ExistingDrivesTable")]
out = {}
with mock_aws():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    db = boto3.client("dynamodb", region_name="us-east-1")
    cfn.create_stack(StackName="daskyard-ci", TemplateBody=body)
    db.put_item(TableName="daskyard-ci-clusters", Item={"name": {"S": "kept"}})
    cfn.delete_stack(StackName="daskyard-ci")
    out["kept"] = db.list_tables()["TableNames"]
    try:
        cfn.create_stack(StackName="daskyard-ci", TemplateBody=body)
        out["again"] = "created"
    except Exception as exc:  # moto answers DynamoDB's error within CloudFormation's
        out["again"] = str(exc)
    cfn.delete_stack(StackName="daskyard-ci")
    cfn.create_stack(StackName="daskyard-ci", TemplateBody=body, Parameters=adopt)
    out["status"] = cfn.describe_stacks(StackName="daskyard-ci")["Stacks"][0]["StackStatus"]
    out["held"] = sorted(r.get("LogicalResourceId", "") for r in cfn.describe_stack_resources(
        StackName="daskyard-ci")["StackResources"])
    out["items"] = db.scan(TableName="daskyard-ci-clusters")["Items"]
print(json.dumps(out))
"""


def test_a_redeploy_adopts_the_clusters_table_a_deleted_stack_kept(
        template: dict[str, Any]) -> None:
    """make destroy-stack keeps the registry (Retain) under its fixed name; making it again
    fails, so make deploy passes ExistingClustersTable=true and the stack uses it as is."""
    env = {"DASKYARD_TABLE": "daskyard-ci-clusters"}
    assert env.items() <= template["Globals"]["Function"]["Environment"]["Variables"].items()
    assert template["Parameters"]["ExistingClustersTable"]["AllowedValues"] == ["true", "false"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run([sys.executable, "-c", ADOPTION], input=table_stack(template),
                         env={**clean, "AWS_ACCESS_KEY_ID": "testing",
                              "AWS_SECRET_ACCESS_KEY": "testing"},  # nosec B105  # moto's
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["kept"] == ["daskyard-ci-clusters", "daskyard-ci-drives"]
    assert "already exists" in out["again"]  # the failure of issue 22
    assert out["status"] == "CREATE_COMPLETE"
    assert "ClustersTable" not in out["held"] and "DrivesTable" not in out["held"]
    assert "IdempotencyTable" in out["held"]
    assert out["items"] == [{"name": {"S": "kept"}}]


def test_iam_names_carry_the_region_and_the_stage_prefix(template: dict[str, Any]) -> None:
    """IAM names are unique per account: the same stage in two regions must not collide."""
    named = {logical: props[key] for logical, r in template["Resources"].items()
             for key in ("RoleName", "ManagedPolicyName", "InstanceProfileName")
             if key in (props := r.get("Properties", {}))}
    assert set(named) >= {"TaskExecutionRole", "TaskRole", "InstanceRole", "InstanceProfile",
                          "StatesRole", "ImageBuildRole", "SchedulerRoleBoundary"}
    for logical, name in named.items():
        assert name["Fn::Sub"].startswith("daskyard-ci-${AWS::Region}-"), (logical, name)


def test_api_routes_use_iam_and_slack_and_webhooks_use_signatures(
        template: dict[str, Any]) -> None:
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            expected = None if path in ("/slack/commands", "/webhooks") else [{"sigv4": []}]
            assert operation.get("security") == expected, (path, method)


def test_schedules_and_rules_are_in_the_template(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    events = {name: next(iter(f["Properties"].get("Events", {}).values()), None)
              for name, f in functions.items()}
    assert events["NightlyTeardown"]["Properties"]["Schedule"] == "cron(0 2 * * ? *)"
    assert events["ExpireClusters"]["Properties"]["Schedule"] == "rate(15 minutes)"
    assert events["OnEcsTaskStateChange"]["Properties"]["Pattern"]["source"] == ["aws.ecs"]
    assert events["OnImageBuildStateChange"]["Properties"]["Pattern"]["source"] == [
        "aws.codebuild"]


def policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            out += [(name, s) for s in policy["PolicyDocument"]["Statement"]]
        assert not role["Properties"].get("ManagedPolicyArns"), name
    return out


def test_every_role_names_its_actions_and_scopes_its_resources(template: dict[str, Any]) -> None:
    statements = policy_statements(template)
    assert len({name for name, _ in statements}) >= 5
    for name, s in statements:
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        assert all("*" not in a for a in actions), (name, actions)
        assert "iam:AttachRolePolicy" not in actions, name
        if {"iam:CreateRole", "iam:PutRolePolicy"} & set(actions):  # scheduler roles only
            # The boundary the template makes, with its region in its name (IAM is global).
            boundary = s["Condition"]["ArnLike"]["iam:PermissionsBoundary"]
            made = "arn:aws:iam::123456789012:policy/daskyard-dev-eu-west-1-scheduler-boundary"
            assert fnmatch.fnmatchcase(made, boundary), (name, boundary)
        resources_ = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if "*" in resources_:
            assert set(actions) <= UNSCOPABLE | ALSO_UNSCOPABLE, (name, actions)


def test_lambda_package_has_no_dask_and_is_small(package: Path) -> None:
    path = package / "deployment.zip"
    with zipfile.ZipFile(path) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
    assert not tops & {"dask", "distributed", "daskyard", "moto", "pandas", "numpy"}, tops
    assert {"app.py", "chalicelib", "aws_lambda_powertools", "pydantic", "slack_sdk"} <= tops
    size = path.stat().st_size
    print(f"\nLambda deployment package: {size / 2**20:.2f} MiB ({size:,} bytes)")
    assert size < 10 * 2**20


def test_each_function_role_carries_its_groups_policy(template: dict[str, Any]) -> None:
    groups = group_of()
    functions = resources(template, "AWS::Serverless::Function")
    for name, function in functions.items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        [policy] = template["Resources"][role]["Properties"]["Policies"]
        group = groups.get("api_handler" if name == "APIHandler" else name, groups["*"])
        assert policy["PolicyDocument"]["Statement"] == statements(group), (name, group)
    assert {groups.get(n, groups["*"]) for n in [*functions, "api_handler"]} >= {
        "steps", "api", "events", "teardown"}


def test_every_api_method_has_its_openapi_documentation(template: dict[str, Any]) -> None:
    """docs/openapi.json, as API Gateway documentation parts of the API Chalice makes."""
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text())
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    parts = {(p["Properties"]["Location"].get("Path"), p["Properties"]["Location"].get(
        "Method")): json.loads(p["Properties"]["Properties"])
        for p in resources(template, "AWS::ApiGateway::DocumentationPart").values()}
    methods = {(path, method.upper()) for path, ops in body["paths"].items()
               for method in ops if method != "options"}
    assert methods <= set(parts), methods - set(parts)
    for path, method in methods:
        assert parts[(path, method)]["summary"] == \
            doc["paths"][path][method.lower()]["summary"]
    assert parts[(None, None)]["info"]["description"] == doc["info"]["description"]


def test_package_ships_unchecked_hash_bytecode_of_its_sources_for_the_runtime(
        package: Path, template: dict[str, Any]) -> None:
    runtimes = {f["Properties"]["Runtime"]
                for f in resources(template, "AWS::Serverless::Function").values()}
    assert runtimes == {f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    with zipfile.ZipFile(package / "deployment.zip") as zf:
        names = set(zf.namelist())
        pycs = {n for n in names if n.endswith(".pyc")}
        sources = {n for n in names if n.endswith(".py")}
        # app.py and all of chalicelib, the rest of what importing app.py loads (checked
        # below), not the whole package.
        assert {"app.py", *(n for n in sources if n.startswith("chalicelib/"))} <= {
            importlib.util.source_from_cache(n) for n in pycs}
        assert 100 < len(pycs) < len(sources) / 2, len(pycs)
        for name in sorted(pycs):
            assert name.endswith(f".{sys.implementation.cache_tag}.pyc"), name
            source = importlib.util.source_from_cache(name)
            data = zf.read(name)
            # PEP 552 header: magic, flags (0b01: hash-based, source not checked), hash.
            assert data[:4] == importlib.util.MAGIC_NUMBER, name
            assert int.from_bytes(data[4:8], "little") == 0b01, name
            assert data[8:16] == importlib.util.source_hash(zf.read(source)), name
            assert zf.getinfo(name).external_attr >> 16 == 0o100644, name


# Imports app.py, then every chalicelib module, from the package alone (boto3 from this
# venv, as from the runtime); prints the package's modules each compiled from source.
READ_ONLY_IMPORT = """
import importlib, importlib.machinery, json, pkgutil, sys
compiled = []
to_code = importlib.machinery.SourceFileLoader.source_to_code
def recording(self, data, path, **kw):
    compiled.append(path)
    return to_code(self, data, path, **kw)
importlib.machinery.SourceFileLoader.source_to_code = recording
sys.path.insert(0, sys.argv[1])
import app
by_app = [p for p in compiled if p.startswith(sys.argv[1])]
for m in list(pkgutil.walk_packages(sys.modules["chalicelib"].__path__, "chalicelib.")):
    importlib.import_module(m.name)
print(json.dumps([by_app, [p for p in compiled if p.startswith(sys.argv[1])]]))
"""


def test_lambdas_import_app_and_chalicelib_from_the_read_only_package_without_compiling(
        package: Path, tmp_path: Path) -> None:
    """As on Lambda, where /var/task is read-only: -B (root writes through a-w)."""
    root = tmp_path / "task"
    with zipfile.ZipFile(package / "deployment.zip") as zf:
        zf.extractall(root)
    before = set(root.rglob("*"))
    for path in [root, *before]:
        path.chmod(path.stat().st_mode & ~0o222)
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1",
           "DASKYARD_STAGE": "dev"}
    try:
        out = subprocess.run([sys.executable, "-I", "-B", "-c", READ_ONLY_IMPORT, str(root)],
                             env=env, cwd=root, capture_output=True, text=True)
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert out.returncode == 0, out.stderr
    by_app, by_all = json.loads(out.stdout)
    assert by_app == []
    # The libraries only some handlers import (slack_sdk...) are compiled: not chalicelib.
    assert [p for p in by_all if "/chalicelib/" in p] == []
    assert any("/slack_sdk/" in p for p in by_all)  # the probe sees compiling when it occurs
    assert set(root.rglob("*")) == before


# What CloudFormation calls, with the deployer's credentials, for each resource type the
# stack holds (after the SAM transform: a function becomes its Lambda function, with a
# permission and a rule per event; the API its REST API, deployment and stage, as
# aws-sam-translator 1.115 expands chalice's template). Each action is one the type's
# CloudFormation registry schema lists among its handlers' permissions, for the features
# the template uses (no KMS keys of ours, no Kinesis, no VPC Lambdas, no replicas).
DEPLOYER_ACTIONS = {
    "AWS::DynamoDB::Table": {
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
        "dynamodb:DeleteTable", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
        "dynamodb:DescribeContributorInsights", "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy",
        "kms:DescribeKey", "kms:CreateGrant"},  # SSE with the AWS managed key
    "AWS::IAM::Role": {
        "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
        "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:TagRole",
        "iam:UntagRole"},
    "AWS::IAM::ManagedPolicy": {  # the scheduler roles' permissions boundary
        "iam:CreatePolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions",
        "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:DeletePolicy",
        "iam:ListEntitiesForPolicy"},
    "AWS::IAM::InstanceProfile": {
        "iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile", "iam:PassRole"},
    "AWS::Lambda::Function": {
        "lambda:CreateFunction", "lambda:GetFunction", "lambda:DeleteFunction",
        "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
        "lambda:TagResource", "lambda:UntagResource", "lambda:GetRuntimeManagementConfig",
        "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionRecursionConfig",
        "iam:PassRole", "s3:GetObject", "s3:GetObjectVersion"},
    "AWS::Lambda::Permission": {"lambda:AddPermission", "lambda:RemovePermission",
                                "lambda:GetPolicy"},
    "AWS::Events::Rule": {
        "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:PutTargets",
        "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource",
        "events:ListTagsForResource"},
    "AWS::ApiGateway::RestApi": {"apigateway:GET", "apigateway:POST", "apigateway:PUT",
                                 "apigateway:PATCH", "apigateway:DELETE"},
    "AWS::ApiGateway::Deployment": {"apigateway:GET", "apigateway:POST", "apigateway:PATCH",
                                    "apigateway:PUT", "apigateway:DELETE"},
    "AWS::ApiGateway::Stage": {"apigateway:GET", "apigateway:POST", "apigateway:PATCH",
                               "apigateway:PUT", "apigateway:DELETE"},
    "AWS::ApiGateway::DocumentationPart": {"apigateway:GET", "apigateway:POST",
                                           "apigateway:PATCH", "apigateway:DELETE"},
    "AWS::StepFunctions::StateMachine": {
        "states:CreateStateMachine", "states:DescribeStateMachine", "states:UpdateStateMachine",
        "states:DeleteStateMachine", "states:TagResource", "states:UntagResource",
        "states:ListTagsForResource", "iam:PassRole"},
    # No registry schema (a legacy type): the CodeBuild API's own names.
    "AWS::CodeBuild::Project": {"codebuild:CreateProject", "codebuild:UpdateProject",
                                "codebuild:DeleteProject", "codebuild:BatchGetProjects",
                                "iam:PassRole"},
    "AWS::SecretsManager::Secret": {
        "secretsmanager:CreateSecret", "secretsmanager:DescribeSecret",
        "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource", "secretsmanager:GetSecretValue",
        "secretsmanager:GetRandomPassword"},
}
# What the make targets call themselves: `make deploy` (aws cloudformation package and
# deploy, the SAM transform, the table adoption check), `make destroy-stack` (the stage's
# spare drives, deploy/spares.py, then the stack), and wiring Slack.
MAKE_ACTIONS = {
    "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResource",
    "cloudformation:DeleteStack", "s3:PutObject", "s3:GetObject", "s3:ListBucket",
    "dynamodb:DescribeTable", "secretsmanager:PutSecretValue",
    "elasticfilesystem:DescribeFileSystems", "elasticfilesystem:DescribeMountTargets",
    "elasticfilesystem:TagResource", "elasticfilesystem:DeleteMountTarget",
    "elasticfilesystem:DeleteFileSystem", "ec2:DeleteNetworkInterface",
    "ec2:DescribeSecurityGroups", "ec2:DeleteSecurityGroup",
    "ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"}
SAM_EXPANSION = {
    "AWS::Serverless::Function": {"AWS::Lambda::Function", "AWS::Lambda::Permission",
                                  "AWS::Events::Rule"},
    "AWS::Serverless::Api": {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment",
                             "AWS::ApiGateway::Stage"}}
DEPLOYER_POLICY = ROOT / "deploy" / "deployer-policy.json"


def registry_permissions(kind: str) -> set[str] | None:
    """Every permission a type's CloudFormation registry schema (as cfn-lint ships them)
    lists for its handlers; None for a type without handlers."""
    import cfnlint

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    found = json.loads((schemas / "providers" / "us-east-1.json").read_text())[kind]
    handlers = json.loads((schemas / "resources" / f"{found}.json").read_text()).get(
        "handlers")
    if not handlers:
        return None
    return {p for h in handlers.values() for p in h.get("permissions", [])}


def test_the_deployer_policy_covers_every_resource_type_and_nothing_else(
        template: dict[str, Any]) -> None:
    kinds = {k for r in template["Resources"].values()
             for k in SAM_EXPANSION.get(r["Type"], {r["Type"]})}
    assert kinds == set(DEPLOYER_ACTIONS), kinds ^ set(DEPLOYER_ACTIONS)
    for kind, actions in DEPLOYER_ACTIONS.items():
        known = registry_permissions(kind)
        if known is not None:
            assert actions <= known, (kind, actions - known)
    policy = json.loads(DEPLOYER_POLICY.read_text())
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    needed = set().union(*DEPLOYER_ACTIONS.values()) | MAKE_ACTIONS
    assert granted == needed, ("missing", needed - granted, "unneeded", granted - needed)
    for s in policy["Statement"]:
        assert s["Effect"] == "Allow" and "*" not in "".join(s["Action"]), s["Sid"]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if "*" in resources:  # AWS offers no narrower resource for these
            assert set(s["Action"]) <= {"secretsmanager:GetRandomPassword",
                                        "elasticfilesystem:DescribeFileSystems",
                                        "ec2:DescribeSecurityGroups"}, s["Sid"]
        for arn in resources:
            iam = arn.startswith("arn:aws:iam::")
            assert not iam or ":role/daskyard-<stage>-" in arn or \
                ":policy/daskyard-<stage>-" in arn or \
                ":instance-profile/daskyard-<stage>-" in arn, (s["Sid"], arn)
    # The stack's IAM names are within what the deployer may make.
    for r in template["Resources"].values():
        for key in ("RoleName", "ManagedPolicyName", "InstanceProfileName"):
            if key in r.get("Properties", {}):
                assert r["Properties"][key]["Fn::Sub"].startswith("daskyard-ci-")


@pytest.mark.parametrize(("in_stack", "table", "expected"), [
    (True, True, "false"),  # the stack holds it: an update keeps it there
    (False, True, "true"),  # kept by a deleted stack: adopted
    (False, False, "false"),  # a first deploy makes it
])
def test_make_deploy_adopts_only_a_table_outside_the_stack(
        tmp_path: Path, in_stack: bool, table: bool, expected: str) -> None:
    """deploy/existing-table.sh, as `make deploy` runs it, against a stand-in `aws`."""
    fake = tmp_path / "aws"
    fake.write_text("#!/bin/sh\n"
                    f'[ "$2" = describe-stack-resource ] && exit {0 if in_stack else 255}\n'
                    f'[ "$2" = describe-table ] && [ "$4" = daskyard-dev-clusters ] && '
                    f"exit {0 if table else 254}\nexit 1\n")
    fake.chmod(0o755)
    out = subprocess.run(["sh", str(ROOT / "deploy" / "existing-table.sh"), "dev"],
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == expected
    assert "sh deploy/existing-table.sh $(STAGE)" in (ROOT / "Makefile").read_text()
