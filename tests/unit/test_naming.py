"""Names and tags other parts find resources by (chalicelib.core.naming)."""

from __future__ import annotations

import pytest

from chalicelib.core import naming


def test_every_name_derives_from_the_cluster_name() -> None:
    assert naming.base("demo") == "daskyard-demo"
    assert naming.service("demo", "scheduler") == "daskyard-demo-scheduler"
    assert naming.service("demo", "worker") == "daskyard-demo-workers"
    assert naming.service("demo", "notebook") == "daskyard-demo-notebook"
    assert naming.task_family("demo", "worker") == "daskyard-demo-worker"
    assert naming.scheduler_parameter("demo") == "/daskyard/demo/scheduler-address"
    assert naming.private_key_parameter("demo") == "/daskyard/demo/ssh-private-key"
    assert naming.token_secret("demo") == "daskyard/demo/jupyter-token"
    assert naming.log_group("demo") == "/daskyard/demo"
    assert naming.repository("daskyard", "worker") == "daskyard/worker"


@pytest.mark.parametrize("name", ["ab", "demo", "team-7-etl", "a" + "b" * 30])
def test_cluster_names_that_are_allowed(name: str) -> None:
    assert naming.CLUSTER_NAME.match(name)


@pytest.mark.parametrize("name", ["a", "7demo", "-demo", "Demo", "de_mo", "de mo",
                                  "a" + "b" * 31, ""])
def test_cluster_names_that_are_refused(name: str) -> None:
    assert not naming.CLUSTER_NAME.match(name)


def test_a_service_group_names_its_cluster_and_role() -> None:
    assert naming.cluster_from_group("service:daskyard-demo-scheduler") == ("demo", "scheduler")
    assert naming.cluster_from_group("service:daskyard-my-etl-workers") == ("my-etl", "workers")
    assert naming.cluster_from_group("service:daskyard-demo-notebook") == ("demo", "notebook")


@pytest.mark.parametrize("group", [
    "", "service:other-demo-scheduler", "service:daskyard-demo-worker",  # the service is -workers
    "family:daskyard-demo-scheduler", "service:daskyard-demo-scheduler-2",
    "service:daskyard-Demo-scheduler",
])
def test_groups_that_are_not_ours(group: str) -> None:
    assert naming.cluster_from_group(group) is None


@pytest.mark.parametrize(("role", "parsed"), [("scheduler", "scheduler"),
                                              ("worker", "workers"), ("notebook", "notebook")])
def test_the_group_ecs_gives_a_services_task_leads_back_to_the_cluster(role: str,
                                                                       parsed: str) -> None:
    # ECS sets a service's tasks' group to "service:" + the service name.
    assert naming.cluster_from_group(f"service:{naming.service('my-etl', role)}") == (
        "my-etl", parsed)


def test_tags_mark_managed_resources_and_their_cluster() -> None:
    assert naming.tags("demo") == {"daskyard:managed": "true", "daskyard:cluster": "demo"}
    assert naming.tags() == {"daskyard:managed": "true"}
    assert naming.tags("demo", **{naming.TAG_DRIVE: "shared"}) == {
        "daskyard:managed": "true", "daskyard:drive": "shared", "daskyard:cluster": "demo"}
    assert naming.kv({"a": "1"}) == [{"Key": "a", "Value": "1"}]
    assert naming.ecs_kv({"a": "1"}) == [{"key": "a", "value": "1"}]
