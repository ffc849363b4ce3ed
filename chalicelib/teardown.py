"""Scheduled teardown: nothing runs overnight that should not, and nothing leaks.

`nightly` destroys every live cluster whose teardown is "nightly" or whose TTL has
passed, never one marked "never", then sweeps. `expire` (run more often) destroys only
clusters past their TTL, so `ttl=3h` means about three hours, not "until 02:00".
The sweep lists every resource kind (chalicelib.core.resources) and takes those with the
`daskyard:managed=true` and `daskyard:stage=<own stage>` tags, or in the stage's own
names (SSM, secrets, logs, task definitions, roles); one whose cluster has no live
record is removed by running that cluster's destroy machine, the same idempotent delete
path a normal destroy uses. Untagged resources and other stages' (in the same account,
maybe with the same cluster names) are never taken, and named drives (`daskyard:drive`)
outlive clusters by design."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from slack_sdk.webhook import WebhookClient

from chalicelib import lifecycle
from chalicelib.core import quotas, resources, signing
from chalicelib.core.identity import SYSTEM
from chalicelib.core.models import ClusterRecord, Status
from chalicelib.core.observability import count, logger
from chalicelib.core.registry import now
from chalicelib.core.runtime import Runtime

# Due clusters per teardown execution (deploy/asl.py: an execution's history holds about
# 3,500 Map iterations).
TEARDOWN_BATCH = 1000


class Report(BaseModel):
    destroyed: dict[str, str] = Field(default_factory=dict)  # name -> why
    kept: list[str] = Field(default_factory=list)
    swept: dict[str, list[str]] = Field(default_factory=dict)  # name -> `<kind> <id>`
    errors: dict[str, str] = Field(default_factory=dict)
    # The teardown executions this run started (each destroys up to TEARDOWN_BATCH).
    teardowns: list[str] = Field(default_factory=list)
    # Owners whose quota counter differs from their live records' counts:
    # owner -> {"counter": [clusters, workers], "records": [clusters, workers]}.
    drift: dict[str, dict[str, list[int]]] = Field(default_factory=dict)
    # Ended clusters this run added to the daily history, per owner: clusters, hours, USD.
    history: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Estimated USD the clusters that were live at this run have cost since created.
    cost: float = 0.0
    # The account quotas the stage depends on: how much of each is in use.
    headroom: list[quotas.Headroom] = Field(default_factory=list)

    def text(self) -> str:
        parts = [f"destroyed {len(self.destroyed)}: " + ", ".join(
            f"{n} ({why})" for n, why in sorted(self.destroyed.items()))]
        parts.append(f"kept {len(self.kept)}: " + ", ".join(sorted(self.kept)))
        parts.append(f"swept {len(self.swept)}: " + ", ".join(
            f"{n} ({len(arns)} resources)" for n, arns in sorted(self.swept.items())))
        parts.append(f"estimated cost of these clusters so far ${self.cost:,.2f}")
        if self.history:
            ended = sum(int(h["clusters"]) for h in self.history.values())
            hours = sum(h["hours"] for h in self.history.values())
            cost = sum(h["cost"] for h in self.history.values())
            parts.append(f"ended since the last run {ended} ({hours:,.1f} hours, "
                         f"${cost:,.2f}) over {len(self.history)} owners")
        if self.headroom:
            parts.append("account quotas: " + "; ".join(h.text() for h in self.headroom))
        if self.drift:
            parts.append("quota counters off: " + ", ".join(
                f"{o} counts {d['counter']}, its records {d['records']}"
                for o, d in sorted(self.drift.items())))
        if self.errors:
            parts.append("errors: " + ", ".join(f"{n}: {e}" for n, e in self.errors.items()))
        return "Daskyard teardown: " + "; ".join(parts)


def due(record: ClusterRecord, at: datetime, nightly: bool) -> str | None:
    """Why this cluster goes now, or None if it stays."""
    if record.status not in (Status.CREATING, Status.READY) or record.spec.teardown == "never":
        return None
    if record.expires_at is not None and record.expires_at <= at:
        return "ttl"
    return "nightly" if nightly else None


def expire(rt: Runtime, at: datetime | None = None) -> Report:
    at = at or now()
    report = _find_due(rt, at, nightly=False)
    _fan_out(rt, report, at, nightly=False)
    if report.destroyed or report.errors:
        logger.info("expiry", **report.model_dump())
    return report


def nightly(rt: Runtime, at: datetime | None = None) -> Report:
    """The due clusters, the history, the recount and the sweep are read first, then the
    destroys start: the recount does not see a moving target, and the sweep counts the
    due clusters as live (their destroys remove their resources)."""
    at = at or now()
    report = _find_due(rt, at, nightly=True)
    roll_up(rt, report)
    recount(rt, report)
    account_headroom(rt, report)
    sweep(rt, report)
    _fan_out(rt, report, at, nightly=True)
    logger.info("teardown", **report.model_dump())
    post_summary(rt, report)
    return report


def cost_so_far(record: ClusterRecord, at: datetime) -> float:
    """The estimate per hour times the hours since the cluster was created."""
    hours = max(0.0, (at - record.created_at).total_seconds() / 3600)
    return round(record.cost.per_hour * hours, 2)


def roll_up(rt: Runtime, report: Report) -> None:
    """Add every ended record not yet counted to its owner's history of the day it
    ended (clusters, hours, estimated cost), before DynamoDB's TTL takes the record
    (Settings.ended_record_days): what the team reports on outlives the records."""
    for record in rt.registry.history.unrolled():
        hours = max(0.0, (record.updated_at - record.created_at).total_seconds() / 3600)
        cost = record.cost.per_hour * hours
        if rt.registry.history.roll_up(record, record.updated_at.date().isoformat(), hours, cost):
            totals = report.history.setdefault(record.owner,
                                               {"clusters": 0, "hours": 0.0, "cost": 0.0})
            totals["clusters"] += 1
            totals["hours"] = round(totals["hours"] + hours, 4)
            totals["cost"] = round(totals["cost"] + cost, 4)


def recount(rt: Runtime, report: Report) -> None:
    """Count each owner's live clusters and workers from their records and report any
    owner whose counter differs. Reported, not rewritten: every change writes a counter
    with its record in one transaction, so drift means a bug or a hand edit, and the
    index read here lags writes by up to a second (a create in that second shows)."""
    counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in rt.registry.live():
        if record.lease.counted is not None:
            counted[record.owner][0] += 1
            counted[record.owner][1] += record.lease.counted
    counters = {owner: [clusters, workers]
                for owner, clusters, workers in rt.registry.quota.counters()}
    for owner in sorted(counted.keys() | counters.keys()):
        have, want = counters.get(owner, [0, 0]), counted.get(owner, [0, 0])
        if have != want:
            report.drift[owner] = {"counter": have, "records": want}
    if report.drift:
        logger.warning("quota counters off", drift=report.drift)
    count("QuotaCounterDrift", len(report.drift))


def account_headroom(rt: Runtime, report: Report) -> None:
    """How much of each account quota the stage depends on is in use, with a warning
    where less than a fifth is left (quotas.NEAR): creates past one are refused."""
    try:
        report.headroom = quotas.headroom(rt)
    except ClientError as exc:  # the summary goes out without them, saying why
        report.errors["account quotas"] = exc.response["Error"]["Code"]
        return
    low = [h.name for h in report.headroom if h.low]
    if low:
        logger.warning("account quotas near their limits", quotas=low)
    count("AccountQuotasLow", len(low))


def _find_due(rt: Runtime, at: datetime, nightly: bool) -> Report:
    """The live clusters, from the live index: due ones (to destroy, and why) and kept."""
    report = Report()
    for record in rt.registry.live():
        report.cost += cost_so_far(record, at)
        why = due(record, at, nightly)
        if why is None:
            report.kept.append(record.name)
        else:
            report.destroyed[record.name] = why
    return report


def _fan_out(rt: Runtime, report: Report, at: datetime, nightly: bool) -> None:
    """Hand the due clusters to the teardown machine, whose Map starts each one's destroy
    machine, a bounded number at once: this Lambda starts one execution per
    TEARDOWN_BATCH clusters and returns, far from its timeout however many are due."""
    items = [{"cluster": name, "why": why} for name, why in sorted(report.destroyed.items())]
    machine = rt.settings.teardown_state_machine_arn
    for start in range(0, len(items), TEARDOWN_BATCH):
        batch = items[start:start + TEARDOWN_BATCH]
        execution = f"{'nightly' if nightly else 'expiry'}-{at:%Y%m%dT%H%M%S}-" \
                    f"{uuid.uuid4().hex[:8]}"
        try:
            report.teardowns.append(rt.clients.sfn.start_execution(
                stateMachineArn=machine, name=execution,
                input=json.dumps({"clusters": batch,
                                  "concurrency": rt.settings.teardown_concurrency}))[
                "executionArn"])
        except ClientError as exc:
            for item in batch:
                report.destroyed.pop(item["cluster"])
                report.errors[item["cluster"]] = exc.response["Error"]["Code"]


def destroy_one(rt: Runtime, name: str, why: str) -> dict[str, str]:
    """One iteration of the teardown machine's Map: the cluster's destroy, as a DELETE
    starts it (a named error, e.g. a destroy that began meanwhile, ends the iteration
    caught; the ASL retries a throttled one)."""
    record = lifecycle.destroy_cluster(rt, name, caller=SYSTEM)
    return {"cluster": name, "why": why, "execution_arn": record.execution_arn}


def orphans(rt: Runtime) -> dict[str, list[str]]:
    """Cluster name -> `<kind> <id>` of each resource of this stage whose cluster is not
    live, as every kind's listing finds them (chalicelib.core.resources) with the
    stage's managed tags, or in the stage's own names. The registry is this stage's, so
    another stage's live cluster would look dead here: the listing is the stage's only."""
    live = {r.name for r in rt.registry.live()}
    found: dict[str, list[str]] = defaultdict(list)
    for item in resources.find(rt.clients, rt.settings.stage):
        if item.sweepable and item.cluster not in live:
            found[item.cluster].append(f"{item.kind} {item.id}")
    return dict(found)


def sweep(rt: Runtime, report: Report) -> None:
    found = orphans(rt)
    count("LeakedResourcesFound", sum(len(arns) for arns in found.values()))
    for name, arns in found.items():
        record = rt.registry.get(name)
        final = record.status if record else Status.DELETED
        try:
            lifecycle.start_destroy(rt.clients.sfn, rt.settings, name, final)
            report.swept[name] = arns
        except Exception as exc:
            report.errors[name] = type(exc).__name__


def post_summary(rt: Runtime, report: Report) -> None:
    if not rt.settings.summary_webhook_secret_id:
        return
    try:
        url = signing.secret(rt.clients, rt.settings.summary_webhook_secret_id)
        WebhookClient(url, timeout=5).send(text=report.text())
    except Exception as exc:
        logger.warning("teardown summary not posted", error=type(exc).__name__)
