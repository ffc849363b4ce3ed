"""An ECS task state change delivered to the OnEcsTaskStateChange Lambda, as EventBridge
delivers it (chalice's test client builds the envelope)."""

from __future__ import annotations

from typing import Any

from chalice.test import Client


def deliver(client: Client, detail: dict[str, Any]) -> str:
    """The handler's answer (what the reactions did), or what it raised."""
    event = client.events.generate_cw_event(
        source="aws.ecs", detail_type="ECS Task State Change", detail=detail,
        resources=[str(detail.get("taskArn", ""))])
    return str(client.lambda_.invoke("OnEcsTaskStateChange", event).payload)
