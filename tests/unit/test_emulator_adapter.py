"""The MotoAdapter over moto's two methods it replaces (their signatures are the seam's
guard's, tests/seam): what moto's Invoke expects back, one layer however often it is
installed, and moto's own methods back after uninstall. No moto server is started."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.events.models import Rule

from daskyard.local.emulator import ADAPTER, MotoAdapter


@pytest.fixture
def moto_methods() -> Iterator[tuple[Any, Any]]:
    """moto's own methods, with the process's adapter (local mode's, when a session
    fixture started it) taken out for the test and put back afterwards."""
    was_installed = ADAPTER.installed
    ADAPTER.uninstall()
    try:
        yield LambdaFunction.__dict__["_invoke_lambda"], Rule.__dict__["send_to_targets"]
    finally:
        if was_installed:
            ADAPTER.install()


def test_moto_methods_answer_as_the_adapter_relies_on(moto_methods: tuple[Any, Any]) -> None:
    invoke_lambda, send_to_targets = moto_methods
    assert inspect.signature(invoke_lambda).parameters["event"].default is None
    # moto returns (payload, errored, logs) and Invoke unpacks those three.
    assert inspect.signature(invoke_lambda).return_annotation == "tuple[str, bool, str]"
    assert "self._invoke_lambda(event=body)" in inspect.getsource(LambdaFunction.invoke)
    assert inspect.signature(send_to_targets).parameters["transform_input"].default is True
    assert not hasattr(invoke_lambda, "__wrapped__")
    assert not hasattr(send_to_targets, "__wrapped__")


def test_installing_twice_keeps_one_layer(moto_methods: tuple[Any, Any]) -> None:
    invoke_lambda, send_to_targets = moto_methods
    adapter = MotoAdapter()
    try:
        adapter.install()
        adapter.install()
        for patched, original in ((LambdaFunction.__dict__["_invoke_lambda"], invoke_lambda),
                                  (Rule.__dict__["send_to_targets"], send_to_targets)):
            assert patched is not original
            assert patched.__daskyard_seam__ is adapter
            assert patched.__wrapped__ is original
    finally:
        adapter.uninstall()


def test_uninstall_restores_moto_methods_exactly(moto_methods: tuple[Any, Any]) -> None:
    invoke_lambda, send_to_targets = moto_methods
    adapter = MotoAdapter()
    adapter.install()
    adapter.uninstall()
    assert LambdaFunction.__dict__["_invoke_lambda"] is invoke_lambda
    assert Rule.__dict__["send_to_targets"] is send_to_targets
    assert not adapter.installed
    adapter.uninstall()  # a second uninstall changes nothing
    assert LambdaFunction.__dict__["_invoke_lambda"] is invoke_lambda


def test_the_last_user_out_uninstalls(moto_methods: tuple[Any, Any]) -> None:
    invoke_lambda, _ = moto_methods
    adapter, router = MotoAdapter(), SimpleNamespace()
    first, second = object(), object()
    adapter.attach(first, router)  # type: ignore[arg-type]
    adapter.attach(second, router)  # type: ignore[arg-type]
    adapter.detach(first)
    assert LambdaFunction.__dict__["_invoke_lambda"].__wrapped__ is invoke_lambda
    adapter.detach(second)
    assert LambdaFunction.__dict__["_invoke_lambda"] is invoke_lambda
    assert adapter.router is None


class FakeRouter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function_name: str, event: dict[str, Any]) -> tuple[str, bool]:
        self.calls.append((function_name, event))
        return json.dumps({"ok": function_name}), False


def test_the_current_router_gets_the_call_and_can_be_swapped(
        moto_methods: tuple[Any, Any]) -> None:
    adapter, user = MotoAdapter(), object()
    first, second = FakeRouter(), FakeRouter()
    function = SimpleNamespace(function_name="daskyard-local-Api")
    try:
        adapter.attach(user, first)  # type: ignore[arg-type]
        assert LambdaFunction._invoke_lambda(function, '{"a": 1}') == (  # type: ignore[arg-type]
            '{"ok": "daskyard-local-Api"}', False, "")
        adapter.attach(user, second)  # type: ignore[arg-type]
        LambdaFunction._invoke_lambda(function, {"b": 2})  # type: ignore[arg-type]
        assert first.calls == [("daskyard-local-Api", {"a": 1})]
        assert second.calls == [("daskyard-local-Api", {"b": 2})]
    finally:
        adapter.detach(user)


def test_the_reset_finds_every_service_in_use() -> None:
    """Emulator.reset and end_executions work on moto's state in this process."""
    from moto.core.base_backend import backend_lock

    from daskyard.local import seam

    assert isinstance(seam.backend_dicts(), list)
    assert hasattr(backend_lock, "acquire")
