"""What is left of a cluster of local mode's stage: the resource-kind table's listing
(chalicelib.core.resources), which the sweep and the smoke run read too."""

from __future__ import annotations

from chalicelib.core import resources
from chalicelib.core.aws import Clients
from daskyard.local.deploy import STAGE


def leftovers(clients: Clients, cluster: str, stage: str = STAGE) -> list[str]:
    """`cluster` of `stage` (local mode's own by default): a same-named cluster of
    another stage is not its leftover."""
    return resources.leftovers(clients, stage, cluster)
