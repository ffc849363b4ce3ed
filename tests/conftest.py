"""Shared fixtures. One emulator (a real moto server on 127.0.0.1) per test session;
each test gets it reset to a clean world with the app deployed (LocalMode.reset).
Helpers live in tests/support/."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.runtime import Runtime, from_env, runtime
from daskyard.credentials import FILE
from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from tests.support.boto import shared_botocore
from tests.support.receiver import Receiver
from tests.support.signed import SignedHttp

# Waits and retry intervals in the ASL are scaled by this in tests (never below 1 s).
TIME_SCALE = 0.1

# A test process holds a large, long-lived heap (moto's services, botocore's models): at
# CPython's default thresholds it walked all of it 36 times in 84 functional tests, 5.2 s
# of their 32 s. Young garbage is still collected as often; the whole heap far less often
# (measured: 6.4 -> 1.7 s of collection for those tests).
gc.set_threshold(20_000, 50, 100)


@pytest.fixture(scope="session")
def local_mode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    root = tmp_path_factory.mktemp("daskyard")
    with shared_botocore(), pytest.MonkeyPatch.context() as env:
        # The CLI and DaskyardCluster find the local admin's keys here.
        env.setenv("DASKYARD_CREDENTIALS", str(root / FILE))
        local = LocalMode(processes=False, time_scale=TIME_SCALE, root=root)
        local.start()  # frozen out of GC once started (stack._long_lived)
        yield local
        local.stop()


class World:
    """What this worker's emulator holds, as far as its tests know. A reset (about 0.3 s
    of CPU, a third of it in the IAM evaluator) makes a clean world; the tests marked
    `reads_only` share it: each one after the first finds it as the first found it, and
    `stack` checks that each left it so (its records, its Lambda invocations)."""

    shared: tuple[Any, ...] | None = None  # what the last reads_only test left, if any


def fresh(local: LocalMode, processes: bool = False) -> None:
    """A clean world: with real entrypoint processes (a new runner each time), or
    control-plane-only tasks (the runner switched back only when it ran processes)."""
    World.shared = None
    local.reset(processes=True if processes else (False if _processes(local) else None))


def _processes(local: LocalMode) -> bool:
    from daskyard.local.agent import NullRunner

    return not isinstance(local.runner, NullRunner)


def _fingerprint(local: LocalMode) -> tuple[Any, ...]:
    """What a read leaves as it was and anything a create or a destroy touches first
    changes: the registry's items and the Lambdas invoked."""
    assert local.clients is not None
    items = local.clients.dynamodb.scan(TableName=runtime().settings.table)["Items"]
    return (sorted(repr(sorted(item.items())) for item in items),
            dict(local.router.invocations))


@pytest.fixture
def stack(request: pytest.FixtureRequest, local_mode: LocalMode) -> Iterator[LocalMode]:
    reads_only = request.node.get_closest_marker("reads_only") is not None
    if "live" in request.fixturenames:
        pass  # `live` makes this test's world, with its processes
    elif not (reads_only and World.shared is not None
              and _fingerprint(local_mode) == World.shared):
        fresh(local_mode)
    World.shared = None  # until this test is known to have changed nothing
    before = _fingerprint(local_mode) if reads_only else None
    yield local_mode
    local_mode.router.interceptor = None
    if reads_only:
        after = _fingerprint(local_mode)
        assert after == before, f"{request.node.nodeid} is marked reads_only but " \
            f"changed the world: {before} -> {after}"
        World.shared = after


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
def client(stack: LocalMode, rt: Runtime) -> Iterator[Any]:
    """chalice.test.Client on the real app, unsigned (for its Lambdas: events, steps),
    with a record for `demo`, the cluster the task events of tests/fixtures are of."""
    from chalice.test import Client

    from tests.support.clusters import spec
    from tests.support.records import make

    make(rt, spec("demo"))
    with Client(stack.app.app, stage_name=STAGE) as c:
        yield c

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


# The test a worker runs next, known at teardown (None when it has none yet).
NEXT = pytest.StashKey["pytest.Item | None"]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    item.stash[NEXT] = nextitem
    return (yield)


@pytest.fixture
def live(request: pytest.FixtureRequest, local_mode: LocalMode) -> Iterator[LocalMode]:
    """The emulator with real entrypoint processes (real dask) and the HTTP API up;
    back to control-plane-only tasks afterwards, unless the next test resets anyway
    (a live one, or one on `stack`: its reset ends these processes, one reset between
    the two tests, not two). One local mode per process: moto's state is per process."""
    fresh(local_mode, processes=True)
    if not local_mode.api_url:
        local_mode.serve_api()
    yield local_mode
    following = getattr(request.node.stash.get(NEXT, None), "fixturenames", ())
    if "live" not in following and "stack" not in following:
        fresh(local_mode)


# The longest work first (`--dist loadgroup` in pyproject hands out one test, or one
# `xdist_group`, at a time): the workers then finish together, instead of one
# running a long test at the end while the others idle (longest-first list scheduling;
# the run takes at least its longest unit). How long each test took in the last run is in
# pytest's cache (DURATIONS, written by the process that prints the summary); a run
# without it (a fresh clone) puts LONG_FIRST first, the longest tests of a measured run by
# name, then their folders, in the order of their durations. The rest keep their
# collection order after them.
DURATIONS = "daskyard/durations"
LONG_FIRST = ("tests/e2e/test_serves_side_by_side.py", "tests/workflow/test_iam_mutations.py",
              "tests/e2e/test_dask_pane.py",
              "tests/e2e/test_adapt_and_idle.py::test_idle_timeout",
              "tests/functional/test_openapi_fuzz.py::test_no_generated_request",
              "tests/e2e/test_dask_ecosystem.py::test_the_record_follows_the_workers",
              "tests/e2e/test_notebook.py::test_a_notebook_cluster_is_ready",
              "tests/e2e/test_adapt_and_idle.py", "tests/e2e/test_no_orphans.py::test_sigkill",
              "tests/reliability/test_reliability.py::test_a_crash_between",
              "tests/e2e/test_dask_ecosystem.py::test_the_jupyterlab_dask_pane_manager",
              "tests/reliability/test_reliability.py::test_a_fault_at_every_create_step",
              "tests/reliability/test_reliability.py::test_a_killed_scheduler",
              "tests/reliability/test_reliability.py::test_a_fault_at_every_destroy_step",
              "tests/deploy/test_policy.py", "tests/deploy/test_template.py",
              "tests/e2e/", "tests/reliability/", "tests/workflow/",
              "tests/functional/test_resource_kinds.py", "tests/functional/test_registry_scale.py",
              "tests/functional/test_teardown.py", "tests/functional/test_local_drives.py",
              "tests/functional/test_local_reset.py", "tests/functional/test_slack.py")
_seconds: dict[str, float] = {}  # this run's, by node id (with its @group)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    cache = getattr(session.config, "cache", None)  # None with -p no:cacheprovider
    if cache is None or hasattr(session.config, "workerinput") or not _seconds:
        return  # a worker's reports reach the controller, which keeps them
    known = dict(cache.get(DURATIONS, {}))
    known.update({nodeid: round(seconds, 2) for nodeid, seconds in _seconds.items()})
    cache.set(DURATIONS, known)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    units: dict[str, list[pytest.Item]] = {}  # what xdist hands out as one
    for item in items:
        units.setdefault(_group(item) or item.nodeid, []).append(item)
    cache = getattr(config, "cache", None)
    known = cache.get(DURATIONS, {}) if cache is not None else {}

    def last(item: pytest.Item) -> float | None:  # under xdist its id has its @group
        return known.get(_grouped_id(item), known.get(item.nodeid))

    def seconds(unit: list[pytest.Item]) -> float:
        return sum(last(item) or 0.0 for item in unit)

    def rank(unit: list[pytest.Item]) -> int:
        return min(next((rank for rank, prefix in enumerate(LONG_FIRST)
                         if item.nodeid.startswith(prefix)), len(LONG_FIRST))
                   for item in unit)

    measured = sum(last(item) is not None for item in items) >= 0.9 * len(items)
    order = sorted(units.values(), key=(lambda unit: -seconds(unit)) if measured else rank)
    items[:] = [item for unit in order for item in unit]
    if getattr(config.option, "loadgroup", False):  # set on xdist's workers
        _xdist_groups(items)


def _group(item: pytest.Item) -> str:
    """The item's xdist group: its `xdist_group` marks, or for a `reads_only` test its
    module's (so a module's reads_only tests run one after another on one worker and
    share one clean world); "" for a test of its own."""
    names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                    for mark in item.iter_markers("xdist_group")})
    if not names and item.get_closest_marker("reads_only") is not None:
        names = [f"reads_only-{item.nodeid.split('::')[0]}"]
    return "_".join(names)


def _grouped_id(item: pytest.Item) -> str:
    group = _group(item)
    suffix = f"@{group}" if group else ""
    return item.nodeid if item.nodeid.endswith(suffix) else item.nodeid + suffix


def _xdist_groups(items: list[pytest.Item]) -> None:
    """`--dist loadgroup` sends the tests of one `xdist_group` to one worker, which it
    learns from a `@group` suffix on their node ids. pytest-xdist 3.8 writes the suffix
    to `item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id`): every
    test was its own group, so a module-scoped fixture (the package test_template.py
    builds, 15 s) could be built on both workers. The suffix, where pytest 9 reads it."""
    from _pytest.nodeid import NodeId

    for item in items:
        if _group(item):  # once (xdist may do it one day)
            item._id = NodeId.parse(_grouped_id(item))
