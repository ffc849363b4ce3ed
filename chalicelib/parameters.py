"""A cluster's SSM parameters (its scheduler's address, its adaptive bounds, its
scheduler's worker request): written tagged as the cluster's, deleted idempotently. Used
by discovery, the lifecycle (adaptive scaling) and the scheduler's create and delete."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.aws import Clients


def put_parameter(clients: Clients, names: naming.Names, name: str, value: str) -> None:
    """Write one of the cluster's SSM parameters, tagged as the cluster's when made (SSM
    takes tags on a create only, never with Overwrite)."""
    try:
        clients.ssm.put_parameter(Name=name, Value=value, Type="String",
                                  Tags=naming.kv(names.tags()))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterAlreadyExists":
            raise
        clients.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def delete_parameter(clients: Clients, name: str) -> None:
    """Delete one of the cluster's SSM parameters; already gone is fine."""
    try:
        clients.ssm.delete_parameter(Name=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise


def delete_adapt(clients: Clients, names: naming.Names) -> None:
    """Delete the scheduler's adaptive bounds (adaptive scaling off) and its last request
    for a worker count; none is fine."""
    delete_parameter(clients, names.adapt_parameter())
    delete_parameter(clients, names.desired_workers_parameter())
