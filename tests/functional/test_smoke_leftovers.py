"""The smoke run's leftover check (deploy/smoke.py) finds a live cluster's resources by
their tags and by listing, and nothing once it is destroyed, though the tagging API
still lists its deleted ECS resources."""

from __future__ import annotations

import json

from chalicelib.core.aws import Clients
from daskyard.local.deploy import STAGE
from daskyard.local.stack import wait_execution
from deploy.smoke import leftovers
from tests.support.signed import SignedHttp


def test_leftovers_by_tag_and_by_listing(http: SignedHttp, clients: Clients) -> None:
    def call(method: str, path: str, body: object = None) -> dict[str, str]:
        out = getattr(http, method)(path, headers={"Content-Type": "application/json"},
                                    body=json.dumps(body) if body is not None else None)
        assert out.status_code < 300, out.body
        return dict(json.loads(out.body))

    made = call("post", "/clusters", {"name": "tagged", "workers": 1,
                                      "allowed_cidrs": ["10.1.0.0/16"]})
    assert wait_execution(clients, made["execution_arn"])["status"] == "SUCCEEDED"
    live = leftovers(clients, STAGE, "tagged")
    assert any(item.startswith("arn:aws:ecs:") for item in live)  # by tag
    assert any(item.startswith("security group ") for item in live)  # by listing
    wait_execution(clients, call("delete", "/clusters/tagged")["execution_arn"])
    stale = [r["ResourceARN"] for r in clients.tagging.get_resources(TagFilters=[
        {"Key": "daskyard:cluster", "Values": ["tagged"]}])["ResourceTagMappingList"]]
    assert not leftovers(clients, STAGE, "tagged"), stale
