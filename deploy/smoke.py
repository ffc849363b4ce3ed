"""The smoke run of a deployed stage (`make smoke STAGE=dev API=...`): through the API,
create a one-worker cluster, compute on it with its TLS credentials, destroy it, and
check that nothing of it is left, printing each step with its time. Exits 1 at the
first step that fails (destroying the cluster first if it was made).

    python -m deploy.smoke --api URL [--stage dev] [--cidr 203.0.113.7/32] [--timeout 1800]

The API is signed with your AWS credentials (a local API: with the keys `daskyard serve
--local` wrote); the leftover check reads the account with them too (the tagging API,
then each service listed, as IAM and some ECS and EFS resources are not in the tagging
API, and it lists deleted ECS resources for a while). Run from where the scheduler is
reachable: a public IP opened to `--cidr`, or inside the VPC.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core import naming, resources
from chalicelib.core.aws import Clients
from daskyard.client import DaskyardApi

SQUARES = range(100)


class SmokeFailed(Exception):
    pass


@contextmanager
def step(out: Callable[[str], None], number: int, name: str) -> Iterator[list[str]]:
    """Times the block and prints `  <n> <name>  <what it said>  <seconds>`; the block
    appends what to say to the list it is given."""
    said: list[str] = []
    started = time.monotonic()
    try:
        yield said
    except Exception as exc:
        out(f"  {number} {name:<10} FAILED after {time.monotonic() - started:6.1f} s: {exc}")
        raise
    out(f"  {number} {name:<10} {time.monotonic() - started:6.1f} s  {'; '.join(said)}")


def compute(api: str, name: str, timeout: float) -> tuple[int, int]:
    """(the sum of squares the cluster computed, its workers): with DaskyardCluster,
    which connects with the cluster's CA and a client certificate from the API."""
    from distributed import Client

    from daskyard.cluster import DaskyardCluster

    with DaskyardCluster.from_name(name, api=api, quiet=True) as cluster, \
            Client(cluster, timeout=timeout) as client:
        client.wait_for_workers(1, timeout=timeout)
        total = client.submit(sum, client.map(lambda x: x * x, SQUARES)).result(timeout)
        return int(total), len(client.scheduler_info()["workers"])


def _ecs_gone(clients: Clients, arn: str) -> bool:
    """The tagging API lists ECS resources for a while after their delete: ask ECS."""
    kind = arn.split(":", 5)[5].split("/", 1)[0]
    ecs = clients.ecs
    if kind == "cluster":
        found = ecs.describe_clusters(clusters=[arn])["clusters"]
        return all(c["status"] == "INACTIVE" for c in found)
    if kind == "service":
        cluster = arn.split("/")[-2]
        found = ecs.describe_services(cluster=cluster, services=[arn])["services"]
        return all(s["status"] == "INACTIVE" for s in found)
    if kind == "task-definition":
        try:
            status = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
                "status"]
        except ecs.exceptions.ClientException:
            return True
        return status != "ACTIVE"
    if kind == "capacity-provider":
        found = ecs.describe_capacity_providers(capacityProviders=[arn])["capacityProviders"]
        return all(c.get("status") != "ACTIVE" for c in found)
    return False


def leftovers(clients: Clients, stage: str, cluster: str) -> list[str]:
    """What is left of the cluster: what the tagging API finds by its tags (still there),
    and what listing each service finds (the resource-kind table's listing, which the
    sweep and the tests trust)."""
    pages = clients.tagging.get_paginator("get_resources").paginate(TagFilters=[
        {"Key": naming.TAG_CLUSTER, "Values": [cluster]},
        {"Key": naming.TAG_STAGE, "Values": [stage]}])
    tagged = [r["ResourceARN"] for page in pages for r in page["ResourceTagMappingList"]]
    found = [arn for arn in tagged if not (":ecs:" in arn and _ecs_gone(clients, arn))]
    return found + resources.leftovers(clients, stage, cluster)


def run(api_url: str, stage: str, name: str, cidrs: list[str], timeout: float,
        out: Callable[[str], None] = print, settle: float = 120) -> None:
    api = DaskyardApi(api_url)
    clients = Clients()
    out(f"smoke: stage {stage} at {api_url}, cluster {name}")
    started = time.monotonic()
    made = False
    try:
        with step(out, 1, "create") as said:
            # A TTL too: should this run die, the cluster does not outlive the day.
            spec: dict[str, Any] = {"name": name, "workers": 1, "ttl_hours": 2,
                                    **({"allowed_cidrs": cidrs} if cidrs else {})}
            api.create(spec)
            made = True
            record = api.wait(name, {"READY", "FAILED"}, timeout=timeout)
            if record["status"] != "READY":
                raise SmokeFailed(f"{record['status']}: {record.get('error')}")
            said.append(f"READY, scheduler {record['scheduler_address']}")
        with step(out, 2, "compute") as said:
            total, workers = compute(api_url, name, timeout=min(timeout, 300))
            if total != sum(x * x for x in SQUARES):
                raise SmokeFailed(f"the sum of squares came back as {total}")
            said.append(f"sum of {len(SQUARES)} squares = {total} on {workers} worker(s), "
                        "over TLS with the cluster's client certificate")
    finally:
        if made:
            with step(out, 3, "destroy") as said:
                api.delete(name)
                record = api.wait(name, {"DELETED", "DELETE_FAILED", "FAILED"},
                                  timeout=timeout)
                if record["status"] != "DELETED":
                    raise SmokeFailed(f"{record['status']}: {record.get('error')}")
                said.append("DELETED")
    with step(out, 4, "leftovers") as said:
        deadline = time.monotonic() + settle  # AWS's listings settle after deletes
        while (found := leftovers(clients, stage, name)) and time.monotonic() < deadline:
            time.sleep(2)
        if found:
            raise SmokeFailed(f"left: {', '.join(found)}")
        said.append("none, by tag (GetResources) and by listing ECS, EFS, EC2, IAM, SSM, "
                    "Secrets Manager and CloudWatch Logs")
    out(f"smoke: passed in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="the stage's API URL")
    parser.add_argument("--stage", default="dev", help="the stage the API serves")
    parser.add_argument("--name", default=None, help="cluster name (default smoke-<random>)")
    parser.add_argument("--cidr", action="append", default=[],
                        help="CIDR allowed to reach the scheduler (repeatable; the stage "
                             "must allow it)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds to wait for READY and for DELETED (a first create "
                             "may build the images: up to 30 minutes)")
    args = parser.parse_args(argv)
    name = args.name or f"smoke-{uuid.uuid4().hex[:8]}"
    try:
        run(args.api, args.stage, name, args.cidr, args.timeout)
    except Exception as exc:  # each step printed its own failure; this is the verdict
        print(f"smoke: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
