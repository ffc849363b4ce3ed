"""Shared fixtures. One emulator (a real moto server on 127.0.0.1) per test session;
each test gets it reset to a clean world with the app deployed (LocalMode.reset).
Helpers live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.runtime import Runtime, from_env, runtime
from daskyard.credentials import FILE
from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from tests.support.boto import shared_model_loader
from tests.support.receiver import Receiver
from tests.support.signed import SignedHttp

# Waits and retry intervals in the ASL are scaled by this in tests (never below 1 s).
TIME_SCALE = 0.1


@pytest.fixture(scope="session")
def local_mode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    root = tmp_path_factory.mktemp("daskyard")
    with shared_model_loader(), pytest.MonkeyPatch.context() as env:
        # The CLI and DaskyardCluster find the local admin's keys here.
        env.setenv("DASKYARD_CREDENTIALS", str(root / FILE))
        local = LocalMode(processes=False, time_scale=TIME_SCALE, root=root)
        local.start()
        yield local
        local.stop()


@pytest.fixture
def stack(local_mode: LocalMode) -> Iterator[LocalMode]:
    local_mode.reset()
    yield local_mode
    local_mode.router.interceptor = None


@pytest.fixture
def rt(stack: LocalMode) -> Runtime:
    return runtime()


@pytest.fixture
def clients(stack: LocalMode) -> Clients:
    assert stack.clients is not None
    return stack.clients


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def http(stack: LocalMode) -> Iterator[SignedHttp]:
    """chalice.test.Client on the real app, through the local IAM gateway, signed as
    the local stage's admin (`http.as_user("alice")` signs as another IAM user). Its
    stage sets each call's environment from .chalice/config.json: local mode's stage
    has none there, so the deployment's stands (the default, dev, would set
    DASKYARD_STAGE=dev)."""
    from chalice.test import Client

    with Client(stack.app.app, stage_name=STAGE) as c:
        yield SignedHttp(c.http, stack, stack.admin)


@pytest.fixture
def stage_config(stack: LocalMode, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`stage_config(quota_clusters=1, ...)`: the stage's settings for this test, as a
    deployed stage's environment would set them (the handlers read them afresh)."""

    def configure(**values: Any) -> None:
        for name, value in values.items():
            text = ",".join(value) if isinstance(value, list) else str(value)
            monkeypatch.setenv(f"DASKYARD_{name.upper()}", text)
        from_env.cache_clear()

    yield configure
    monkeypatch.undo()
    from_env.cache_clear()


# A test's one-line result for the end of the run (`summary(request, section, text)`):
# carried in the report's user_properties, which xdist hands from its workers to the
# process that prints the summary.
SUMMARY = "daskyard-summary"


def summary(request: pytest.FixtureRequest, section: str, text: str) -> None:
    request.node.user_properties.append((SUMMARY, (section, text)))


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Any:
    """Report "N faults, N recovered, 0 resources leaked" for a reliability test."""

    def report(faults: int, recovered: int, leaked: int) -> None:
        line = f"{request.node.name}: {faults} faults, {recovered} recovered, {leaked} " \
               "resources leaked"
        summary(request, "reliability", line)
        assert recovered == faults and leaked == 0, line

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    sections: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if name == SUMMARY:
                    sections.setdefault(value[0], []).append(value[1])
    for section, lines in sorted(sections.items()):
        terminalreporter.section(section)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def live(local_mode: LocalMode) -> Iterator[LocalMode]:
    """The emulator with real entrypoint processes (real dask) and the HTTP API up;
    back to control-plane-only tasks afterwards. One local mode per process: moto's
    state is per process."""
    local_mode.reset(processes=True)
    if not local_mode.api_url:
        local_mode.serve_api()
    yield local_mode
    local_mode.reset(processes=False)


# The long tests first, and tests handed out a few at a time (`--dist loadgroup` in
# pyproject): the two workers then finish together, instead of one running a long test
# at the end while the other idles (longest-first list scheduling). The longest tests by
# name, then their folders, in the order of their durations (--durations); the rest keep
# their collection order after them.
LONG_FIRST = ("tests/e2e/test_local_mode.py::test_make_demo",
              "tests/e2e/test_notebook.py::test_a_notebook_cluster_is_ready",
              "tests/reliability/test_reliability.py::test_a_fault_at_every_destroy_step",
              "tests/e2e/test_no_orphans.py::test_sigkill",
              "tests/reliability/test_reliability.py::test_a_fault_at_every_create_step",
              "tests/functional/test_openapi_fuzz.py::test_no_generated_request",
              "tests/deploy/test_policy.py::test_each_policy_allows_exactly",
              "tests/e2e/test_peer_fargate.py::test_fargate_cluster",
              "tests/e2e/test_adapt_and_idle.py", "tests/reliability/", "tests/e2e/",
              "tests/workflow/", "tests/functional/test_local_drives.py",
              "tests/functional/test_teardown.py", "tests/functional/test_local_reset.py",
              "tests/functional/test_slack.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: next((rank for rank, prefix in enumerate(LONG_FIRST)
                                      if item.nodeid.startswith(prefix)), len(LONG_FIRST)))
    if getattr(config.option, "loadgroup", False):  # set on xdist's workers
        _xdist_groups(items)


def _xdist_groups(items: list[pytest.Item]) -> None:
    """`--dist loadgroup` sends the tests of one `xdist_group` to one worker, which it
    learns from a `@group` suffix on their node ids. pytest-xdist 3.8 writes the suffix
    to `item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id`): every
    test was its own group, so a module-scoped fixture (the package test_template.py
    builds, 15 s) could be built on both workers. The suffix, where pytest 9 reads it."""
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = f"@{'_'.join(names)}"
        if names and not item.nodeid.endswith(suffix):  # once (xdist may do it one day)
            item._id = NodeId.parse(item.nodeid + suffix)
