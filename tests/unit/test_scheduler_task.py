"""What a scheduler's task is told: the plugin's settings and the idle timeout (the
cluster's, else the stage's; 0 = none), and the exit code both sides agree on."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.core import naming
from chalicelib.core.settings import Settings
from chalicelib.steps.scheduler_task import environment
from tests.support.clusters import spec

PLUGIN = Path(__file__).resolve().parents[2] / "images" / "daskyard_scheduler.py"


def env_of(settings: Settings, **spec_fields: Any) -> dict[str, str]:
    rt = SimpleNamespace(settings=settings)
    call = SimpleNamespace(spec=spec("demo", **spec_fields),
                           names=naming.Names(settings.stage, "demo"))
    return {e["name"]: e["value"] for e in environment(rt, call)}  # type: ignore[arg-type]


@pytest.mark.parametrize(("stage", "cluster", "expected"), [
    (60, None, "3600s"),  # the stage's default
    (60, 15, "900s"),  # the cluster's own
    (60, 0, None),  # never
    (0, None, None),  # the stage turned it off
    (0, 30, "1800s"),
])
def test_the_idle_timeout_is_the_clusters_else_the_stages(stage: int, cluster: int | None,
                                                          expected: str | None) -> None:
    env = env_of(Settings(stage="dev", idle_timeout_minutes=stage),
                 idle_timeout_minutes=cluster)
    assert env.get("DASKYARD_IDLE_TIMEOUT") == expected


def test_the_plugin_is_told_its_parameter_service_and_interval() -> None:
    env = env_of(Settings(stage="dev", scheduler_time_scale=0.1), idle_timeout_minutes=1)
    assert env == {"DASKYARD_ADAPT_PARAMETER": "/daskyard/dev/demo/adapt",
                   "DASKYARD_DESIRED_PARAMETER": "/daskyard/dev/demo/desired-workers",
                   "DASKYARD_ECS_CLUSTER": "daskyard-dev-demo",
                   "DASKYARD_WORKER_SERVICE": "daskyard-dev-demo-workers",
                   "DASKYARD_ADAPT_INTERVAL": "1", "DASKYARD_IDLE_TIMEOUT": "6s"}


def test_the_plugin_and_the_orchestrator_agree_on_the_idle_exit_code() -> None:
    found = importlib.util.spec_from_file_location("daskyard_scheduler", PLUGIN)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    assert module.EXIT_IDLE == naming.EXIT_IDLE


def test_scheduler_roles_differ_by_region_and_fit_iams_64_characters() -> None:
    """IAM is global: the same stage and cluster in two regions of an account make two
    roles. The longest stage, region and cluster names still fit, and stay distinct."""
    names = naming.Names("dev", "demo")
    assert names.scheduler_role("us-east-1") == "daskyard-dev-us-east-1-demo-scheduler"
    assert names.scheduler_role("us-east-1") != names.scheduler_role("eu-west-1")
    longest = naming.Names("a" * 12, "b" * 31)
    roles = {longest.scheduler_role(r) for r in ("ap-southeast-1", "ap-southeast-2")}
    assert len(roles) == 2
    for role in roles:
        assert len(role) <= 64 and role.startswith("daskyard-aaaaaaaaaaaa-"), role
        assert role.endswith("-scheduler")  # what local mode's emulator recognises them by
    assert longest.scheduler_role("ap-southeast-1") == longest.scheduler_role("ap-southeast-1")


def test_stage_wide_iam_names_carry_the_region_after_the_stage() -> None:
    assert naming.regional("dev", "eu-west-1", "task") == "daskyard-dev-eu-west-1-task"
    # Still under the prefix the Lambdas' policies scope on (role/daskyard-<stage>-*).
    assert naming.regional("dev", "eu-west-1", "task-execution").startswith("daskyard-dev-")


def test_the_dashboard_is_https_behind_the_token_only_with_one(monkeypatch: Any) -> None:
    """Without a token (an older task definition) the scheduler's HTTP server is left as
    dask makes it; with one, its TLS is the node certificate, held in memory only."""
    import dask

    found = importlib.util.spec_from_file_location("daskyard_scheduler_dashboard", PLUGIN)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    gated: list[str] = []
    monkeypatch.setattr(module, "gate_http", gated.append)
    assert module.secure_dashboard({"DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT": "C"}) \
        is False and gated == []
    environ = {"DASKYARD_DASHBOARD_TOKEN": "t0ken",
               "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT": "CERT PEM",
               "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY": "KEY PEM"}
    with dask.config.set({}):
        assert module.secure_dashboard(environ) is True
        cert = dask.config.get("distributed.scheduler.dashboard.tls.cert")
        key = dask.config.get("distributed.scheduler.dashboard.tls.key")
        assert cert.startswith("/proc/self/fd/") and Path(key).read_text() == "KEY PEM"
    assert gated == ["t0ken"] and "DASKYARD_DASHBOARD_TOKEN" not in environ
