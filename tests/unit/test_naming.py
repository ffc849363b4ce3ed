"""Names and tags other parts find resources by (chalicelib.core.naming)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.core import naming
from chalicelib.core.settings import Settings

DEV = naming.Names("dev", "demo")


def test_every_name_derives_from_the_stage_and_the_cluster_name() -> None:
    assert DEV.base() == "daskyard-dev-demo"
    assert DEV.service("scheduler") == "daskyard-dev-demo-scheduler"
    assert DEV.service("worker") == "daskyard-dev-demo-workers"
    assert DEV.service("notebook") == "daskyard-dev-demo-notebook"
    assert DEV.task_family("worker") == "daskyard-dev-demo-worker"
    assert DEV.scheduler_parameter() == "/daskyard/dev/demo/scheduler-address"
    assert DEV.private_key_parameter() == "/daskyard/dev/demo/ssh-private-key"
    assert DEV.credentials_secret() == "daskyard/dev/demo/credentials"
    assert DEV.log_group() == "/daskyard/dev/demo"
    assert DEV.drive("shared") == "daskyard-dev.drive-shared"
    # A cluster named drive-shared has its own drive, apart from the named drive.
    assert naming.Names("dev", "drive-shared").base() != DEV.drive("shared")
    # Images are the same whatever the stage: the repositories are shared.
    assert naming.repository("daskyard", "worker") == "daskyard/worker"


def test_the_same_cluster_name_in_two_stages_shares_no_name() -> None:
    prod = naming.Names("prod", "demo")
    names = ("base", "scheduler_parameter", "private_key_parameter", "credentials_secret",
             "log_group")
    for name in names:
        assert getattr(DEV, name)() != getattr(prod, name)(), name
        assert "/dev/" in getattr(DEV, name)() or "-dev-" in getattr(DEV, name)(), name
    for role in naming.ROLES:
        assert DEV.service(role) != prod.service(role)
        assert DEV.task_family(role) != prod.task_family(role)
    assert DEV.drive("shared") != prod.drive("shared")
    assert DEV.tags() != prod.tags()


def test_a_runtime_and_a_step_call_name_with_their_stage() -> None:
    from chalicelib.core.models import StepEvent
    from chalicelib.core.runtime import Runtime
    from chalicelib.steps import StepCall

    settings = Settings(stage="prod")
    rt = Runtime(settings, None, None)  # type: ignore[arg-type]  # names need neither
    assert rt.names("demo") == naming.Names("prod", "demo")
    call = StepCall(StepEvent(action="create", cluster="demo"), None, "prod")  # type: ignore[arg-type]
    assert call.names.service("scheduler") == "daskyard-prod-demo-scheduler"


@pytest.mark.parametrize("stage", ["dev", "prod", "local", "qa2", "a" * 12])
def test_stage_names_that_are_allowed(stage: str) -> None:
    assert Settings(stage=stage).stage == stage


@pytest.mark.parametrize("stage", ["", "Dev", "dev-eu", "2dev", "dev_1", "a" * 13])
def test_stage_names_that_are_refused(stage: str) -> None:
    # A hyphen would make `daskyard-dev-` a prefix of stage dev-eu's names.
    with pytest.raises(ValidationError):
        Settings(stage=stage)


def test_the_longest_names_fit_aws_limits() -> None:
    longest = naming.Names("a" * 12, "a" + "b" * 30)
    assert len(longest.base()) <= 64  # EFS creation token, access point client token
    assert len(longest.drive("a" + "b" * 30)) <= 64
    assert len(longest.service("notebook")) <= 255 and len(longest.task_family("notebook")) <= 255


def test_tables_and_signing_secrets_default_to_the_stages_own() -> None:
    settings = Settings(stage="prod")
    assert settings.table == "daskyard-prod-clusters"
    assert settings.idempotency_table == "daskyard-prod-idempotency"
    assert settings.slack_secret_id == "daskyard/prod/slack-signing-secret"
    assert settings.webhook_secret_id == "daskyard/prod/webhook-secret"
    assert Settings(stage="prod", table="t").table == "t"


@pytest.mark.parametrize("name", ["ab", "demo", "team-7-etl", "a" + "b" * 30])
def test_cluster_names_that_are_allowed(name: str) -> None:
    assert naming.CLUSTER_NAME.match(name)


@pytest.mark.parametrize("name", ["a", "7demo", "-demo", "Demo", "de_mo", "de mo",
                                  "a" + "b" * 31, ""])
def test_cluster_names_that_are_refused(name: str) -> None:
    assert not naming.CLUSTER_NAME.match(name)


def test_a_service_group_names_its_cluster_and_role_in_one_spelling() -> None:
    assert naming.cluster_from_group("dev", "service:daskyard-dev-demo-scheduler") == (
        "demo", "scheduler")
    assert naming.cluster_from_group("dev", "service:daskyard-dev-my-etl-workers") == (
        "my-etl", "worker")  # the role, though its service is named "-workers"
    assert naming.cluster_from_group("dev", "service:daskyard-dev-demo-notebook") == (
        "demo", "notebook")


@pytest.mark.parametrize("group", [
    "", "service:other-demo-scheduler", "service:daskyard-dev-demo-worker",  # -workers
    "family:daskyard-dev-demo-scheduler", "service:daskyard-dev-demo-scheduler-2",
    "service:daskyard-dev-Demo-scheduler",
    "service:daskyard-demo-scheduler",  # no stage: from before stages
])
def test_groups_that_are_not_ours(group: str) -> None:
    assert naming.cluster_from_group("dev", group) is None


@pytest.mark.parametrize("group", [
    "service:daskyard-prod-demo-scheduler", "service:daskyard-prod-dev-demo-scheduler",
    "service:daskyard-devx-demo-scheduler", "service:daskyard-local-demo-workers",
])
def test_another_stages_group_is_refused(group: str) -> None:
    assert naming.cluster_from_group("dev", group) is None


def test_a_group_is_read_in_its_own_stage_only() -> None:
    group = "service:daskyard-prod-demo-scheduler"
    assert naming.cluster_from_group("prod", group) == ("demo", "scheduler")
    assert naming.cluster_from_group("dev", group) is None
    # A dev cluster named "prod-demo" is dev's, not prod's.
    assert naming.cluster_from_group("dev", "service:daskyard-dev-prod-demo-scheduler") == (
        "prod-demo", "scheduler")


@pytest.mark.parametrize("role", naming.ROLES)
def test_the_group_ecs_gives_a_services_task_leads_back_to_the_cluster_and_role(
        role: naming.Role) -> None:
    # ECS sets a service's tasks' group to "service:" + the service name.
    names = naming.Names("dev", "my-etl")
    assert naming.cluster_from_group("dev", f"service:{names.service(role)}") == (
        "my-etl", role)


def test_tags_mark_managed_resources_their_stage_and_their_cluster() -> None:
    assert DEV.tags() == {"daskyard:managed": "true", "daskyard:stage": "dev",
                          "daskyard:cluster": "demo"}
    assert naming.tags("dev") == {"daskyard:managed": "true", "daskyard:stage": "dev"}
    assert naming.tags("dev", None, **{naming.TAG_DRIVE: "shared"}) == {
        "daskyard:managed": "true", "daskyard:stage": "dev", "daskyard:drive": "shared"}
    assert naming.kv({"a": "1"}) == [{"Key": "a", "Value": "1"}]
    assert naming.ecs_kv({"a": "1"}) == [{"key": "a", "value": "1"}]
