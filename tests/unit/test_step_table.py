"""The step table (chalicelib/steps/table.py) is the one list of Task states: every
state's function exists, the ASL and the step Lambdas are made from it, and run_step
dispatches on it. Pure: no emulator."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace
from typing import Any

import pytest
from chalice import Chalice

from chalicelib.handlers import steps as handlers
from chalicelib.steps import run_step, table
from chalicelib.steps.table import BY_STATE, LAMBDAS, STEPS, Step
from deploy import asl

# run_step without AWS: no state below holds the lease, so nothing reads the registry.
RT: Any = SimpleNamespace(registry=None, settings=SimpleNamespace(stage="dev"))


@pytest.mark.parametrize("step", STEPS, ids=[s.state for s in STEPS])
def test_every_states_function_exists_and_takes_rt_and_call(step: Step) -> None:
    function = step.resolve()
    assert callable(function)
    assert list(inspect.signature(function).parameters) == ["rt", "call"], step


def test_state_names_are_unique_and_only_creates_hold_the_lease() -> None:
    assert len(BY_STATE) == len(STEPS)
    assert all(s.function == "create" for s in STEPS if s.leased)


def test_every_retrier_the_table_names_is_one_of_the_asls() -> None:
    assert {s.waits for s in STEPS if s.waits} <= set(asl.RETRIERS)


def test_each_step_lambda_has_its_handler_and_no_other_is_registered() -> None:
    app = Chalice("steps")
    app.register_blueprint(handlers.bp)
    assert [fn.name for fn in app.pure_lambda_functions] == list(LAMBDAS)


def _tasks(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, state in machine["States"].items():
        if state["Type"] == "Task" and "FunctionName" in state["Parameters"]:
            out[name] = state
        for branch in state.get("Branches", []):
            out.update(_tasks(branch))
    return out


def test_the_checked_in_asl_runs_every_state_of_the_table_as_it_says() -> None:
    tasks: dict[str, dict[str, Any]] = {}
    for name in ("create_cluster", "rollback_cluster", "destroy_cluster"):
        tasks.update(_tasks(json.loads((asl.ASL_DIR / f"{name}.asl.json").read_text())))
    assert set(tasks) == set(BY_STATE)
    for name, state in tasks.items():
        step = BY_STATE[name]
        assert state["Parameters"]["FunctionName"] == "${" + step.lambda_name + "Arn}"
        assert state["Parameters"]["Payload"]["action"] == step.function
        waits = [r for r in state["Retry"] if r != asl.THROTTLED]
        assert waits == ([asl.RETRIERS[step.waits]] if step.waits else []), name


def test_a_state_not_in_the_table_or_a_stale_action_is_refused() -> None:
    with pytest.raises(ValueError, match="no step state named 'Nope'"):
        run_step(RT, {"action": "create", "cluster": "demo", "state": "Nope"})
    with pytest.raises(ValueError, match=r"WaitForNotebook runs wait_for_notebook\.wait"):
        run_step(RT, {"action": "create", "cluster": "demo", "state": "WaitForNotebook"})


def test_adding_a_state_is_a_row_and_its_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new state in an existing Lambda: its module and one row; run_step runs it."""
    calls: list[str] = []

    def create(rt: Any, call: Any) -> dict[str, str]:
        calls.append(call.cluster)
        return {"done": call.event.state}

    import chalicelib.steps.publish_endpoints as module

    monkeypatch.setattr(module, "tidy_up", create, raising=False)
    row = Step("TidyUp", "PublishEndpoints", "publish_endpoints", "tidy_up")
    monkeypatch.setitem(table.BY_STATE, row.state, row)
    out = run_step(RT, {"action": "tidy_up", "cluster": "demo", "state": "TidyUp"})
    assert out == {"done": "TidyUp"} and calls == ["demo"]
