"""The scheduled teardown: every night, and the TTL expiry every few minutes."""

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
