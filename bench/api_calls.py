"""2. AWS API calls and Step Functions state transitions per create and per destroy,
counted (every call the Lambdas make, every state entered). Run with the scheduler's
address arriving at once and 10 s later: the counts must not grow with the wait,
which they would with a polling loop."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import lifecycle
from chalicelib.core.identity import Caller
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import runtime
from daskyard.local.stack import LocalMode, wait_execution
from deploy.calls import recording

DELAYS = (0.0, 10.0)
# The caller that creates and destroys (as the tests' `alice`): lifecycle is driven directly.
ALICE = Caller("arn:aws:iam::123456789012:user/alice")


def _transitions(clients: Any, arn: str) -> int:
    events = clients.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def measure(local: LocalMode, name: str, delay: float) -> dict[str, Any]:
    """One create and one destroy; the scheduler's RUNNING event is held for `delay`."""
    rt, clients = runtime(), local.clients
    assert clients is not None

    def slow_scheduler(fn: str, event: dict[str, Any], handler: Any) -> Any:
        if fn == "OnEcsTaskStateChange" and "scheduler" in str(event.get("detail", {}).get(
                "group", "")):
            time.sleep(delay)
        return handler(event, None)

    local.router.interceptor = slow_scheduler
    spec = ClusterSpec.model_validate({"name": name, "workers": 2,
                                       "allowed_cidrs": ["10.1.0.0/16"]})
    with recording() as calls:
        started = time.perf_counter()
        made = lifecycle.create_cluster(rt, spec, caller=ALICE)
        create_out = wait_execution(clients, made.execution_arn)
        create_s = time.perf_counter() - started
        create_calls = calls.reset()
        gone = lifecycle.destroy_cluster(rt, name, caller=ALICE)
        wait_execution(clients, gone.execution_arn)
        destroy_calls = calls.reset()
    local.router.interceptor = None
    assert create_out["status"] == "SUCCEEDED", create_out
    return {"delay_s": delay, "create_s": round(create_s, 2),
            "create_calls": sum(create_calls.values()),
            "create_transitions": _transitions(clients, made.execution_arn),
            "destroy_calls": sum(destroy_calls.values()),
            "destroy_transitions": _transitions(clients, gone.execution_arn),
            "create_by_action": dict(sorted(create_calls.items())),
            "destroy_by_action": dict(sorted(destroy_calls.items()))}


def run(local: LocalMode) -> dict[str, Any]:
    local.reset(processes=False)
    return {"rows": [measure(local, f"calls-{i}", d) for i, d in enumerate(DELAYS)]}
