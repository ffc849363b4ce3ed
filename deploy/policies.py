"""The Lambdas' IAM policies, one per function group (.chalice/config.json maps each
function to its group), rendered per stage.

`.chalice/policy-<group>.json` holds a group's policy with `<stage>` where the stage goes:
every name a Lambda may touch starts `daskyard-<stage>-` (ARNs by name), `/daskyard/<stage>/`
(SSM, log groups) or `daskyard/<stage>/` (secrets), and every tag condition also requires
`daskyard:stage=<stage>` (resources known by id: security groups, file systems, ...).
So one stage's functions cannot reach another stage's resources in the same account,
even under the same cluster name. The ECR repositories (`repository/daskyard/*`) are the
exception: every stage shares them, as images do not differ by stage.

Chalice reads a policy file as it is, without substitution, and the stages share one
config.json: `make package` writes the stage's `.chalice/policy-<stage>-<group>.json`
(build output, not checked in), which config.json names for that stage's functions.
Tests and the parliament scan render the templates themselves. `<stage>` is not valid in
an ARN, so a template deployed by mistake grants nothing.

    python -m deploy.policies STAGE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.core.naming import STAGE_NAME

CHALICE = Path(__file__).resolve().parents[1] / ".chalice"
GROUPS = ("api", "events", "steps", "teardown")
PLACEHOLDER = "<stage>"


def template(group: str) -> Path:
    return CHALICE / f"policy-{group}.json"


def rendered_name(stage: str, group: str) -> str:
    return f"policy-{stage}-{group}.json"


def render(group: str, stage: str) -> dict[str, Any]:
    if not STAGE_NAME.match(stage):
        raise ValueError(f"not a stage name: {stage!r} (must match {STAGE_NAME.pattern})")
    policy: dict[str, Any] = json.loads(template(group).read_text().replace(PLACEHOLDER, stage))
    return policy


def text(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"


def write(stage: str) -> list[Path]:
    out = []
    for group in GROUPS:
        path = CHALICE / rendered_name(stage, group)
        path.write_text(text(render(group, stage)))
        out.append(path)
    return out


def main(argv: list[str]) -> None:
    [stage] = argv
    for path in write(stage):
        print(f"wrote {path.relative_to(CHALICE.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
