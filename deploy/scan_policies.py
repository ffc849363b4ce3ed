"""Parliament (an IAM policy linter) over every policy Daskyard deploys: each
.chalice/policy-<group>.json (the Lambdas' policies, rendered for STAGE by
deploy/policies.py), every AWS::IAM::Role inline policy and managed policy of
deploy/template.py's merge template (the tasks', instances', state machines' and image
build's roles), and deploy/deployer-policy.json (rendered as the Lambda policies are, with
an artifacts bucket). CloudFormation intrinsics in those are replaced by plausible plain ARNs
first, as parliament only reads strings.

Each finding is printed; one that deploy/parliament-skips.json does not skip fails the
run (exit 1), and so does a skip that matches nothing (a stale skip hides nothing).
A skip names the policy, the issue and the actions it covers, with its reason.

    python -m deploy.scan_policies
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKIPS = Path(__file__).with_name("parliament-skips.json")
STAGE = "dev"  # the template differs between stages only in names
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1",
          "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com",
          "AWS::StackName": f"daskyard-{STAGE}"}
PARAMETERS = {"ImageSourceLocation": f"daskyard-artifacts/daskyard/{STAGE}/images.zip"}


def _region_account() -> str:
    return f"{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}"


def arn_of(logical: str, resources: dict[str, Any], stage: str = STAGE) -> str:
    """A plausible ARN for `Fn::GetAtt [logical, Arn]`. A name the merge template does not
    define is one of chalice's Lambda functions (daskyard-<stage>-<Name>)."""
    if logical not in resources:
        return f"arn:aws:lambda:{_region_account()}:function:daskyard-{stage}-{logical}"
    kind, props = resources[logical]["Type"], resources[logical].get("Properties", {})
    if kind == "AWS::IAM::Role":
        name = plain(props["RoleName"], resources, stage)  # with the region
        return f"arn:aws:iam::{PSEUDO['AWS::AccountId']}:role/{name}"
    if kind == "AWS::StepFunctions::StateMachine":
        return f"arn:aws:states:{_region_account()}:stateMachine:{props['StateMachineName']}"
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{_region_account()}:table/{props['TableName']}"
    raise ValueError(f"scan_policies: no plausible ARN for {logical} ({kind}): add one")


def ref_of(name: str, resources: dict[str, Any], stage: str = STAGE) -> str:
    if name in PSEUDO:
        return PSEUDO[name]
    if name in PARAMETERS:
        return PARAMETERS[name]
    if name.endswith(".Arn"):
        return arn_of(name.removesuffix(".Arn"), resources, stage)
    if name in resources and resources[name]["Type"] == "AWS::IAM::ManagedPolicy":
        props = resources[name]["Properties"]
        name = plain(props["ManagedPolicyName"], resources, stage)  # with the region
        return f"arn:aws:iam::{PSEUDO['AWS::AccountId']}:policy/{name}"
    if name in resources:
        props = resources[name].get("Properties", {})
        for key in ("RoleName", "TableName", "Name", "StateMachineName"):
            if key in props:
                return str(plain(props[key], resources, stage))
    raise ValueError(f"scan_policies: no plausible value for ${{{name}}}: add one")


def plain(value: Any, resources: dict[str, Any], stage: str = STAGE) -> Any:
    """`value` with Fn::Sub, Fn::GetAtt (Arn) and Ref replaced by plain strings."""
    if isinstance(value, list):
        return [plain(item, resources, stage) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        text, names = value["Fn::Sub"], {}
        if isinstance(text, list):
            text, names = text[0], {k: plain(v, resources, stage) for k, v in text[1].items()}
        return re.sub(r"\$\{([^}!][^}]*)\}",
                      lambda m: names.get(m[1]) or ref_of(m[1], resources, stage), text)
    if set(value) == {"Fn::GetAtt"}:
        logical, attribute = value["Fn::GetAtt"]
        if attribute != "Arn":
            raise ValueError(f"scan_policies: Fn::GetAtt {logical}.{attribute}: add it")
        return arn_of(logical, resources, stage)
    if set(value) == {"Ref"}:
        return ref_of(value["Ref"], resources, stage)
    if any(key.startswith("Fn::") for key in value):
        raise ValueError(f"scan_policies: intrinsic {sorted(value)} not substituted: add it")
    return {key: plain(item, resources, stage) for key, item in value.items()}


def policies() -> Iterator[tuple[str, str]]:
    """(name, policy JSON text) for every policy scanned."""
    from chalicelib.core.naming import Names
    from chalicelib.steps import scheduler_task
    from deploy import policies as lambda_policies
    from deploy.template import merge_template

    for group in lambda_policies.GROUPS:
        path = lambda_policies.template(group)
        yield (str(path.relative_to(ROOT)),
               lambda_policies.text(lambda_policies.render(group, STAGE)))

    deployer = ROOT / "deploy" / "deployer-policy.json"  # what the deployer needs
    yield (str(deployer.relative_to(ROOT)), deployer.read_text().replace(
        "<stage>", STAGE).replace("<bucket>", PARAMETERS["ImageSourceLocation"].split("/")[0]))

    resources = merge_template(STAGE)["Resources"]
    boundary = plain({"Ref": "SchedulerRoleBoundary"}, resources)
    yield "steps:scheduler_task.policy", json.dumps(scheduler_task.policy(
        boundary, PSEUDO["AWS::Region"], Names(STAGE, "demo")), indent=2) + "\n"
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            document = plain(resource["Properties"]["PolicyDocument"], resources)
            yield f"template:{logical}", json.dumps(document, indent=2) + "\n"
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            document = plain(policy["PolicyDocument"], resources)
            yield (f"template:{logical}/{policy['PolicyName']}",
                   json.dumps(document, indent=2) + "\n")


def actions_of(detail: Any) -> set[str]:
    """The IAM actions a finding's detail names, lower case."""
    if isinstance(detail, str):
        return {detail.lower()} if re.fullmatch(r"[\w-]+:[\w*]+", detail) else set()
    if isinstance(detail, list):
        return set().union(*(actions_of(item) for item in detail))
    if isinstance(detail, dict):
        return set().union(*(actions_of(detail.get(key)) for key in ("action", "actions",
                                                                       "string")))
    return set()


def statement_at(text: str, line: int | None) -> str:
    """The Sid (or index) of the statement at `line` of the policy text."""
    if line is None:
        return "policy"
    import jsoncfg  # parliament's own parser, for the same line numbers

    statements = jsoncfg.loads_config(text).Statement
    if not isinstance(statements(), list):
        statements = [statements]
    found = f"line {line}"
    for index, statement in enumerate(statements):
        if jsoncfg.node_location(statement).line <= line:
            found = str(statement.Sid("#" + str(index)))
    return found


@dataclass
class Skip:
    policy: str
    issue: str
    actions: list[str]
    reason: str
    used: int = field(default=0)

    def covers(self, policy: str, issue: str, actions: set[str]) -> bool:
        return (self.policy == policy and self.issue == issue and bool(actions)
                and actions <= {a.lower() for a in self.actions})


def load_skips(path: Path = SKIPS) -> list[Skip]:
    skips = [Skip(**entry) for entry in json.loads(path.read_text())["skips"]]
    for skip in skips:
        if not skip.reason.strip() or not skip.actions:
            raise ValueError(f"{path.name}: every skip needs actions and a reason: {skip}")
    return skips


def scan(items: Iterable[tuple[str, str]], skips: list[Skip]) -> int:
    """Print every finding of every policy; 1 if one is not skipped or a skip is stale."""
    import parliament
    from parliament import analyze_policy_string, enhance_finding

    # The community auditors' issues (privilege escalation, ...) and their severities,
    # as parliament's --include-community-auditors loads them.
    parliament.override_config(str(Path(parliament.__file__).parent / "community_auditors"
                                   / "config_override.yaml"))
    failed = scanned = 0
    for name, text in items:
        scanned += 1
        result = analyze_policy_string(text, filepath=name, include_community_auditors=True)
        for finding in map(enhance_finding, result.findings):
            actions = actions_of(finding.detail) | actions_of(finding.location)
            where = statement_at(text, finding.location.get("line")
                                 or finding.location.get("lineno"))
            skip = next((s for s in skips if s.covers(name, finding.issue, actions)), None)
            verdict = "skipped" if skip else "FAILED"
            named = sorted(actions)
            shown = ", ".join(named[:6]) + (f" and {len(named) - 6} more" if named[6:] else "")
            print(f"{verdict}: {name} [{where}] {finding.issue} ({finding.severity}): "
                  f"{shown or finding.detail}")
            if skip:
                skip.used += 1
                print(f"    reason: {skip.reason}")
            else:
                failed += 1
    stale = [s for s in skips if not s.used]
    for skip in stale:
        print(f"STALE skip (matches no finding, remove it): {skip.policy} {skip.issue} "
              f"{', '.join(skip.actions)}")
    print(f"parliament: {scanned} policies, {failed} unskipped findings, "
          f"{sum(s.used for s in skips)} skipped, {len(stale)} stale skips")
    return 1 if failed or stale else 0


def main() -> int:
    return scan(policies(), load_skips())


if __name__ == "__main__":
    sys.exit(main())
