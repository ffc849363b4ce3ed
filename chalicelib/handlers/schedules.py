"""The scheduled teardown: every night, and the TTL expiry every few minutes; and the
Lambda the teardown machine's Map invokes for each due cluster."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.runtime import runtime
from chalicelib.core.settings import settings

bp = Blueprint(__name__)


@bp.schedule(settings().teardown_schedule, name="NightlyTeardown")
def nightly_teardown(event: Any) -> dict[str, Any]:
    from chalicelib import teardown  # slack_sdk: only the teardown Lambdas pay for it

    return teardown.nightly(runtime()).model_dump()


@bp.schedule(settings().expiry_schedule, name="ExpireClusters")
def expire_clusters(event: Any) -> dict[str, Any]:
    from chalicelib import teardown

    return teardown.expire(runtime()).model_dump()


@bp.lambda_function(name="DestroyDue")
def destroy_due(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib import teardown

    return teardown.destroy_one(runtime(), str(event["cluster"]), str(event.get("why", "")))
