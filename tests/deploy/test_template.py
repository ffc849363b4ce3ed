"""`chalice package` with the merged template builds offline, lints clean, holds what a
deployment needs (with the bytecode `make package` adds, which the Lambdas use from a
read-only extraction), and grants nothing broader than it must."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from daskyard.local import asl
from deploy import bytecode, policies
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


def test_state_machines_substitute_every_placeholder_with_a_function(
        template: dict[str, Any], tmp_path: Path) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    kinds = {"CreateClusterStateMachine": "create_cluster",
             "DestroyClusterStateMachine": "destroy_cluster", "TeardownStateMachine": "teardown"}
    assert set(machines) == set(kinds)
    for logical, machine in machines.items():
        props = machine["Properties"]
        kind = kinds[logical]
        subs = props["DefinitionSubstitutions"]
        assert set(subs) == asl.placeholders(kind)
        targets = {v["Fn::GetAtt"][0] for v in subs.values()}
        assert targets <= set(functions), targets - set(functions)
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
    assert set(tables) == {"ClustersTable", "IdempotencyTable"}
    for table in tables.values():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True}


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
            boundary = s["Condition"]["ArnLike"]["iam:PermissionsBoundary"]
            assert boundary.endswith(":policy/daskyard-dev-scheduler-boundary"), name
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
