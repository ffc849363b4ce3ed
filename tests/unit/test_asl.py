"""The generated state machines (deploy/asl.py): the checked-in files are its output, and
the graphs are well formed. Pure: no emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.steps.table import LAMBDAS
from deploy import asl

NAMES = ("create_cluster", "rollback_cluster", "destroy_cluster")
FINAL_MARKS = {"rollback_cluster": "MarkRolledBack", "destroy_cluster": "MarkDone"}
LAMBDA = "arn:aws:states:::lambda:invoke"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((asl.ASL_DIR / f"{name}.asl.json").read_text()))


def scopes(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The machine and each Parallel branch: each has StartAt and its own States."""
    yield machine
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            yield from scopes(branch)


def all_states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for scope in scopes(machine):
        yield from scope["States"].items()


def targets(state: dict[str, Any]) -> set[str]:
    out = {state[k] for k in ("Next", "Default") if k in state}
    out |= {c["Next"] for c in state.get("Catch", [])}
    out |= {c["Next"] for c in state.get("Choices", [])}
    return out


def test_regenerating_gives_the_checked_in_files_byte_for_byte() -> None:
    for filename, text in asl.render().items():
        assert (asl.ASL_DIR / filename).read_bytes() == text.encode(), (
            f"{filename} is stale: run python -m deploy.asl")


def test_check_mode_reports_a_stale_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(asl, "ASL_DIR", tmp_path)
    assert asl.main([]) == 0
    assert asl.main(["--check"]) == 0
    path = tmp_path / "destroy_cluster.asl.json"
    path.write_text(path.read_text().replace("DELETE_FAILED", "FAILED"))
    capsys.readouterr()
    assert asl.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "destroy_cluster.asl.json" in err and "create_cluster" not in err


@pytest.mark.parametrize("name", NAMES)
def test_every_retrier_is_a_named_one_with_a_comment_and_full_jitter(name: str) -> None:
    named = [*asl.RETRIERS.values(), asl.EXECUTIONS_AT_QUOTA]
    retries = [(state_name, state["Retry"]) for state_name, state in all_states(load(name))
               if "Retry" in state]
    assert retries
    for state_name, retry in retries:
        for retrier in retry:
            assert retrier in named, (state_name, retrier)
            assert retrier["Comment"] and retrier["JitterStrategy"] == "FULL", state_name
        # The specific NotReady retrier first; THROTTLED, the catch-all for a Lambda's
        # pushback, last.
        if state_name != "RollBack":
            assert retry[-1] == asl.THROTTLED, state_name
        assert len(retry) == len({json.dumps(r) for r in retry}), state_name


@pytest.mark.parametrize("name", NAMES)
def test_every_transition_names_a_state_of_its_scope(name: str) -> None:
    for scope in scopes(load(name)):
        states = scope["States"]
        assert scope["StartAt"] in states
        for state_name, state in states.items():
            assert targets(state) <= set(states), (state_name, targets(state) - set(states))


@pytest.mark.parametrize("name", NAMES)
def test_every_state_is_reachable_from_start_at(name: str) -> None:
    for scope in scopes(load(name)):
        states = scope["States"]
        seen, todo = set(), [scope["StartAt"]]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += targets(states[current])
        assert seen == set(states), set(states) - seen


@pytest.mark.parametrize("name", NAMES)
def test_state_names_are_unique_in_a_machine(name: str) -> None:
    names = [state_name for state_name, _ in all_states(load(name))]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("name", NAMES)
def test_every_placeholder_is_an_app_lambda_or_the_rollback_machine(name: str) -> None:
    text = (asl.ASL_DIR / f"{name}.asl.json").read_text()
    found = re.findall(r"\$\{([^}]*)\}", text)
    assert found
    lambdas = {f.removesuffix("Arn") for f in found} - {"RollbackClusterStateMachine"}
    assert lambdas <= set(LAMBDAS), found
    assert all(f.endswith("Arn") for f in found), found
    for state_name, state in all_states(load(name)):
        if state["Type"] == "Task" and state["Resource"].startswith(LAMBDA):
            assert re.fullmatch(r"\$\{\w+Arn\}", state["Parameters"]["FunctionName"])
        elif state["Type"] == "Task":
            assert state_name == "RollBack", state_name


def teardown_chain(name: str) -> dict[str, Any]:
    """MarkDeleting, DeleteResources and DeleteNetwork as `name` has them, without what
    differs by design: where failures go (each machine's own handler) and the final mark
    DeleteNetwork leads to."""
    states = load(name)["States"]
    chain = {n: dict(states[n]) for n in ("MarkDeleting", "DeleteResources", "DeleteNetwork")}
    assert chain["DeleteNetwork"].pop("Next") == FINAL_MARKS[name]
    handlers = {c.pop("Next") for s in chain.values() for c in s.pop("Catch")}
    assert len(handlers) == 1, handlers
    return chain


def test_the_rollback_machine_removes_with_the_destroy_machines_teardown() -> None:
    rollback, destroy = load("rollback_cluster"), load("destroy_cluster")
    assert teardown_chain("rollback_cluster") == teardown_chain("destroy_cluster")
    assert rollback["States"][FINAL_MARKS["rollback_cluster"]]["End"] is True
    create_names = {n for n, _ in all_states(load("create_cluster"))}
    assert not create_names & {n for n, _ in all_states(destroy)} - {"RollbackFailed"}


def test_the_create_machine_starts_the_rollback_machine_and_waits_for_it() -> None:
    states = load("create_cluster")["States"]
    assert states["RollBackOrStop"]["Choices"][0]["Next"] == "RollBack"
    roll_back = states["RollBack"]
    assert roll_back["Resource"] == "arn:aws:states:::states:startExecution.sync"
    assert roll_back["Parameters"]["StateMachineArn"] == "${RollbackClusterStateMachineArn}"
    assert roll_back["Next"] == "CreateFailed"
    # A rollback that failed recorded why itself; one that could not start is recorded.
    assert [(c["ErrorEquals"], c["Next"]) for c in roll_back["Catch"]] == [
        (["States.TaskFailed"], "RollbackEndedFailed"), (["States.ALL"], "RollbackFailed")]
