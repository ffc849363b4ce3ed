"""Do a request's work once: a retried or replayed request gets the first answer.
Powertools' idempotency keeps the record in DynamoDB (with expiry), so this holds
across Lambda containers, not just within one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from chalicelib.core.aws import Clients

__all__ = ["IdempotencyAlreadyInProgressError", "once"]


def once(clients: Clients, table: str, kind: str, data: dict[str, Any],
         work: Callable[[dict[str, Any]], dict[str, Any]], expires: int,
         context: Any = None) -> dict[str, Any]:
    """Run `work(data)` unless the same `data` of this `kind` ran within `expires` seconds;
    then return what it returned. Raises IdempotencyAlreadyInProgressError while the
    first is still running. With the Lambda `context`, a crashed first attempt stops
    blocking retries when its Lambda's time is up."""
    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=clients.dynamodb)
    config = IdempotencyConfig(expires_after_seconds=expires)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    def run(data: dict[str, Any]) -> dict[str, Any]:
        return work(data)

    guarded = idempotent_function(run, data_keyword_argument="data", persistence_store=store,
                                  config=config,
                                  key_prefix=f"daskyard-{kind}")
    return dict(guarded(data=data))
