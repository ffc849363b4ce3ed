"""Count the AWS API calls the Lambdas' code makes, as IAM actions. Used by the policy
test (tests/deploy/test_policy.py: every call allowed, every allowed action used) and
the API-call benchmarks (bench/), so here, beside the policies, where both may import it."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.client

ROOT = Path(__file__).resolve().parents[1]
CHALICELIB = str(ROOT / "chalicelib")
HANDLERS = str(ROOT / "chalicelib" / "handlers")
# The error answers every route goes through: wrappers, not handlers.
ANSWERS = str(ROOT / "chalicelib" / "handlers" / "answers.py")
# IAM's prefix where it differs from the API's signing name.
IAM_PREFIX = {"tagging": "tag"}
# IAM's action where it is not the operation's name.
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}


# Operations IAM authorizes as the actions of their parts (TransactWriteItems: each
# item's own, daskyard.local.iam_requests.TRANSACT_ITEM_ACTION).
TRANSACT_ITEM_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                        "ConditionCheck": "ConditionCheckItem"}


def iam_action(client: Any, operation: str) -> str:
    signing = client.meta.service_model.signing_name
    action = f"{IAM_PREFIX.get(signing, signing)}:{operation}"
    return IAM_ACTION.get(action, action)


def iam_actions(client: Any, operation: str, params: Any) -> list[str]:
    """The IAM actions one call is authorized as."""
    if operation == "TransactWriteItems":
        return [f"dynamodb:{TRANSACT_ITEM_ACTION[kind]}"
                for item in params.get("TransactItems", []) for kind in item]
    return [iam_action(client, operation)]


def _caller() -> tuple[bool, str]:
    """(called from chalicelib?, the handler function it runs under, or "")."""
    frame, ours, handler = sys._getframe(2), False, ""
    while frame is not None:
        name = frame.f_code.co_filename
        ours = ours or name.startswith(CHALICELIB)
        if name.startswith(HANDLERS) and name != ANSWERS and frame.f_code.co_name != "<module>":
            handler = frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return ours, handler


class CallRecorder:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        # handler function name ("" when chalicelib is called directly) -> actions
        self.by_handler: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def reset(self) -> Counter[str]:
        with self._lock:
            out, self.calls = self.calls, Counter()
            self.by_handler = {}
        return out


# (handler, client, operation, params, response) of each call from chalicelib that
# succeeded: what the scale benchmark sizes DynamoDB's reads and writes from.
Observer = Callable[[str, Any, str, Any, Any], None]


@contextmanager
def recording(observe: Observer | None = None) -> Iterator[CallRecorder]:
    """Record every API call made from chalicelib code while the block runs (and show
    each that succeeded, with its answer, to `observe`)."""
    recorder = CallRecorder()
    base: Any = botocore.client.BaseClient  # _make_api_call is private: not in the stubs
    original = base._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        ours, handler = _caller()
        if ours:
            with recorder._lock:
                for action in iam_actions(self, operation_name, api_params):
                    recorder.calls[action] += 1
                    recorder.by_handler.setdefault(handler, Counter())[action] += 1
        response = original(self, operation_name, api_params)
        if ours and observe is not None:
            observe(handler, self, operation_name, api_params, response)
        return response

    base._make_api_call = make_api_call
    try:
        yield recorder
    finally:
        base._make_api_call = original
