"""Count the AWS API calls the Lambdas' code makes, as IAM actions. Used by the policy
test (tests/deploy/test_policy.py: every call allowed, every allowed action used) and
the API-call benchmarks (bench/), so here, beside the policies, where both may import it."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.client

ROOT = Path(__file__).resolve().parents[1]
CHALICELIB = str(ROOT / "chalicelib")
HANDLERS = str(ROOT / "chalicelib" / "handlers")
# IAM's prefix where it differs from the API's signing name.
IAM_PREFIX = {"tagging": "tag"}
# IAM's action where it is not the operation's name.
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}


def iam_action(client: Any, operation: str) -> str:
    signing = client.meta.service_model.signing_name
    action = f"{IAM_PREFIX.get(signing, signing)}:{operation}"
    return IAM_ACTION.get(action, action)


def _caller() -> tuple[bool, str]:
    """(called from chalicelib?, the handler function it runs under, or "")."""
    frame, ours, handler = sys._getframe(2), False, ""
    while frame is not None:
        name = frame.f_code.co_filename
        ours = ours or name.startswith(CHALICELIB)
        if name.startswith(HANDLERS) and frame.f_code.co_name != "<module>":
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


@contextmanager
def recording() -> Iterator[CallRecorder]:
    """Record every API call made from chalicelib code while the block runs."""
    recorder = CallRecorder()
    base: Any = botocore.client.BaseClient  # _make_api_call is private: not in the stubs
    original = base._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        ours, handler = _caller()
        if ours:
            action = iam_action(self, operation_name)
            with recorder._lock:
                recorder.calls[action] += 1
                recorder.by_handler.setdefault(handler, Counter())[action] += 1
        return original(self, operation_name, api_params)

    base._make_api_call = make_api_call
    try:
        yield recorder
    finally:
        base._make_api_call = original
