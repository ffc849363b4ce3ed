"""`make bench`: run every benchmark, print the figures, write docs/BENCHMARKS.md, its
figures' JSON and plots. Usage: python -m bench [--quick | --report-only |
--only=SECTION[,SECTION]] (--only reruns those sections and keeps the others' figures)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    api_calls,
    cold_start,
    modeled,
    peer,
    registry_scale,
    test_suite,
    throughput,
    time_to_ready,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def machine() -> str:
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0") if Path("/proc/meminfo").exists() else "0"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"{int(mem) / 2**20:.0f} GiB, Python {platform.python_version()}")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["workers"]) for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([i - 0.2 for i in x], [r["daskyard_s"] for r in rows], 0.4, label="Daskyard local mode")
    ax.bar([i + 0.2 for i in x], [r["local_cluster_s"] for r in rows], 0.4,
           label="distributed.LocalCluster")
    ax.set_xticks(list(x), labels)
    ax.set_xlabel("workers")
    ax.set_ylabel("seconds to ready (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_modeled(found: dict[str, Any], path: Path) -> None:
    """Each scenario's critical path as one bar: AWS's waits and Daskyard's own steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = found["rows"]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.4))
    colours = {True: "#d98c3f", False: "#4a7ab5"}
    for y, row in enumerate(rows):
        left = 0.0
        for step in row["critical_path"]:
            waits = bool(step["waits_on"]) and step["modeled_s"] >= 5
            ax.barh(y, step["modeled_s"], left=left, color=colours[waits], edgecolor="white")
            if step["modeled_s"] >= 8:
                ax.text(left + step["modeled_s"] / 2, y, step["state"], ha="center",
                        va="center", fontsize=7, color="white")
            left += step["modeled_s"]
        ax.text(left + 1, y, f"READY {row['modeled_ready_s']:.0f} s", va="center",
                fontsize=8)
    ax.set_yticks(range(len(rows)),
                  [f"{r['scenario']} ({r['workers']} w.)" for r in rows], fontsize=8)
    ax.invert_yaxis()
    for target in (60, 90):
        ax.axvline(target, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("modeled seconds from POST to READY on AWS: the critical path's states, "
                  "each converted on its own", fontsize=8)
    ax.set_xlim(0, max(r["modeled_ready_s"] for r in rows) + 22)
    ax.legend(handles=[matplotlib.patches.Patch(color=colours[True], label="waiting on AWS"),
                       matplotlib.patches.Patch(color=colours[False], label="Daskyard's steps")],
              fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_peer(found: dict[str, Any], path: Path) -> None:
    """Seconds to ready and resources left, each side, clean and under the profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [("clean", [r for r in found["rows"] if not r["fault"]]),
            ("fault", [r for r in found["rows"] if r["fault"]]),
            ("AWS profile", found["profiled"])]
    sides = [r["side"] for r in runs[0][1]]
    fig, (ready, left) = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, side in enumerate(sides):
        short = side.split()[-1]
        for axis, key, names in ((ready, "ready_s", ("clean", "AWS profile")),
                                 (left, "left_after_close", ("clean", "fault",
                                                             "AWS profile"))):
            values = []
            for name in names:
                row = next(r for r in dict(runs)[name] if r["side"] == side)
                value = row[key]
                values.append(len(value) if isinstance(value, list) else (value or 0))
            axis.bar([x + (i - 0.5) * 0.4 for x in range(len(names))], values, 0.4,
                     label=short)
            axis.set_xticks(range(len(names)), names, fontsize=8)
    ready.set_ylabel("seconds until a task ran")
    left.set_ylabel("resources left after close()")
    ready.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _by_service(actions: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for action, n in actions.items():
        service = action.split(":", 1)[0]
        out[service] = out.get(service, 0) + n
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _suite_section(suite: dict[str, Any] | None) -> list[str]:
    if not suite:
        return []
    return ["## 5. Test suite", "",
            "`python -m pytest -q -p no:logging` as `make test` runs it (three worker "
            "processes, pyproject's addopts), timed as a whole process (wall clock) on this "
            "machine. Target: at most 180 s.", "",
            "| tests passed | wall (s) | all passed |", "|---|---|---|",
            f"| {suite['passed']} | {suite['wall_s']} | {suite['ok']} |", ""]


def _modeled_summary(found: dict[str, Any] | None) -> str:
    if not found:
        return "not run."

    def ready(scenario: str) -> list[float]:
        return [r["modeled_ready_s"] for r in found["rows"] if r["scenario"] == scenario]

    fresh, spare, again = ready("fresh"), ready("fresh, spare drive ready"), \
        ready("named drive exists")
    parts = [f"{min(fresh):.0f}-{max(fresh):.0f} s for a fresh cluster when the stage has "
             "no spare drive ready"] if fresh else []
    parts += [f"{max(spare):.0f} s when it takes one"] if spare else []
    parts += [f"{max(again):.0f} s when its named drive exists"] if again else []
    return f"READY in {', '.join(parts)} (targets: fresh 90 s, named drive 60 s)."


def _modeled_section(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    profile = found["profile"]
    lines = ["## 6. Modeled time to READY on AWS", "",
             "Local mode acting out AWS's delays (`daskyard serve --local --latency aws`; "
             "the figures and their sources are in `daskyard/local/latency.py`: "
             f"Lambda cold start {profile['lambda_cold_start']:.0f} s, EFS mount target "
             f"{profile['efs_mount_target']:.0f} s, Fargate task start "
             f"{profile['fargate_task_start']:.0f} s), run at {found['scale']} of real time "
             "and converted back: what Daskyard costs with no delays, plus what the delays "
             "added divided by the scale. Control-plane-only tasks. \"Daskyard alone\" is "
             "the control plane's own overhead: POST to READY with every AWS delay at zero "
             "(its Lambdas, the state machine, the emulator on 2 cores). The fresh rows are "
             "a first create, every Lambda cold (1 s each on the path); the other two "
             "follow a create made minutes before (the one that made the spare, or the "
             "named drive), their Lambdas warm. Targets: fresh at most 90 s, named drive "
             "existing at most 60 s.", "",
             "| scenario | workers | Daskyard alone (s) | modeled READY (s) | critical path |",
             "|---|---|---|---|---|"]
    for row in found["rows"]:
        path = " → ".join(f"{s['state']} {s['modeled_s']:.0f}s" for s in row["critical_path"]
                          if s["modeled_s"] >= 1)
        lines.append(f"| {row['scenario']} | {row['workers']} | {row['daskyard_s']} | "
                     f"{row['modeled_ready_s']} | {path} |")
    lines += ["", "![modeled time to READY](modeled_ready.png)"]
    waits = {s["state"]: s["waits_on"] for row in found["rows"] for s in row["critical_path"]
             if s["waits_on"]}
    lines += ["", "Where the time goes (the states that wait, and on what): " + "; ".join(
        f"{state}: {why}" for state, why in waits.items()) + ".", ""]
    return lines


def _peer_section(found: dict[str, Any] | None,
                  model: dict[str, Any] | None = None) -> list[str]:
    if not found:
        return []

    def row(r: dict[str, Any], where: str) -> str:
        ready = r["ready_s"] if r["ready_s"] is not None else "failed"
        return (f"| {r['side']} | {where} | {ready} | {r['calls']} | "
                f"{len(r['left_after_close'])} | {len(r['left_after_collect'])} |")

    return ["## 7. dask-cloudprovider's FargateCluster beside Daskyard", "",
            "Both on one emulator in one run (`bench/peer.py`): FargateCluster unmodified, "
            "its tasks run by local mode as ECS runs them; DaskyardCluster over the local "
            "API. Seconds until one worker computed a task, AWS calls made by the "
            "orchestrating side (Daskyard's include the API serving the client's status "
            "polls), and resources left. The fault: "
            f"{found['fault']}. The last two rows run the AWS latency profile at "
            f"{found['profile_scale']} of real time (local seconds, not AWS's: the "
            "modeled table below converts).", "",
            "| side | run | ready (s) | AWS calls | left after close() | left after GC |",
            "|---|---|---|---|---|---|",
            *(row(r, "fault" if r["fault"] else "clean") for r in found["rows"]),
            *(row(r, "AWS profile") for r in found["profiled"]), "",
            "![FargateCluster beside Daskyard](peer.png)", "",
            *_peer_modeled(model)]


def _peer_modeled(model: dict[str, Any] | None) -> list[str]:
    if not model:
        return []
    return ["### In modeled AWS seconds", "",
            "The same measure (constructor until one worker is connected), each side "
            "run with no delays and with the AWS profile at "
            f"{model['scale']} of real time and converted back as section 6 converts "
            "(the no-delay seconds plus what the profile added, divided by the scale), "
            "with real dask processes. Daskyard with and without a spare drive "
            "(`DASKYARD_SPARE_DRIVES`, section 6: a create made before left the stage "
            "one, its mount targets available).", "",
            "| side | no delays (s) | AWS profile, local (s) | modeled on AWS (s) |",
            "|---|---|---|---|",
            *(f"| {r['side']} | {r['no_delay_s']} | {r['profiled_s']} | "
              f"{r['modeled_aws_s']} |" for r in model["rows"]), ""]


def _peer_modeled_summary(model: dict[str, Any] | None) -> str:
    if not model:
        return ""
    ready = [f"{r['side'].removeprefix('Daskyard ').removeprefix('dask-cloudprovider ')} "
             f"{r['modeled_aws_s']:.0f} s" for r in model["rows"]]
    return (" In modeled AWS seconds to a connected worker (at 1/20 of the profile, in "
            "local seconds, the two came out even): " + "; ".join(ready) + ". Without a "
            "spare drive Daskyard's workers, which mount the cluster's drive, start once "
            "its mount targets are available (90 s in the profile) and then take a "
            "Fargate task start (60 s); FargateCluster mounts nothing and starts its "
            "workers once its scheduler runs (60 + 60 s). With a spare drive ready the "
            "scheduler and the workers start together: one task start. READY (section 6) "
            "comes before the workers connect, hence shorter. The no-delay runs were slower "
            "on the loaded machine than the clean runs in the table above and enter the "
            "model as they are, on both sides.")


def _registry_scale_summary(found: dict[str, Any] | None) -> list[str]:
    """The scale section's reading: what is flat, what grows and with what."""
    if not found:
        return []
    rows = found["rows"]
    first, last = rows[0], rows[-1]

    def items(row: dict[str, Any], op: str) -> int:
        return int(row["ops"][op]["items_read"])

    flat = [op for op in first["ops"] if items(first, op) == items(last, op)]
    grows = [f"{op} ({items(first, op):,} to {items(last, op):,})" for op in first["ops"]
             if items(first, op) != items(last, op)]
    night = last["ops"]["nightly run"]
    return [
        f"- The registry at scale (section 8): from {first['ended']:,} to "
        f"{last['ended']:,} ended records the items read stay the same for "
        f"{'; '.join(flat)}" + (f"; they grow for {'; '.join(grows)}" if grows else "")
        + ". A create reads the stage's live records (the account's Fargate vCPU check "
        "sums their vCPUs: `quotas.held_vcpus`, from `lifecycle.within_account_quotas`), "
        "as the expiry run and an "
        "admin's list of live clusters do: flat in ended records, in proportion to the "
        "live ones. The nightly run's roll-up Queries a sparse index of the ended "
        "records it has not yet added to the history (those that ended since it last "
        "ran), not every ended record the TTL (`DASKYARD_ENDED_RECORD_DAYS`) keeps. "
        f"With {night['due']} due, the nightly Lambda took {night['nightly_lambda_s']} s "
        f"and the slowest DestroyDue {night['destroy_due_max_s']} s here, against a "
        f"{night['lambda_timeout_s']} s timeout; the whole run {night['seconds']} s "
        f"({night['modeled_aws_s']} s modeled on AWS). The seconds grow where the items "
        "do not because moto walks a whole table for an index Query and copies every "
        "table per transaction (its own times are in the section)."]


def _later(results: dict[str, Any]) -> str:
    """Which sections `--only` measured again on a later day, and when."""
    days: dict[str, list[str]] = {}
    for section, day in sorted((results.get("later") or {}).items()):
        days.setdefault(day, []).append(section)
    return "".join(f" ({', '.join(sections)}: {day})" for day, sections in sorted(days.items()))


def _grows(values: list[float]) -> str:
    first, last = values[0], values[-1]
    if first == last:
        return "flat"
    return f"{last / first:.1f}x" if first else "from 0"


def _registry_scale_section(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    rows = found["rows"]
    sizes = " / ".join(f"{r['ended']:,}" for r in rows)
    ops = list(rows[0]["ops"])

    def each(op: str, key: str) -> list[Any]:
        return [r["ops"][op][key] for r in rows]

    def cell(values: list[Any]) -> str:
        return " / ".join(f"{v:g}" if isinstance(v, float) else f"{v:,}" for v in values)

    night = [r["ops"]["nightly run"] for r in rows]
    probe = rows[-1]["moto_reports"]
    return [
        "## 8. The registry at a year's scale", "",
        f"`bench/registry_scale.py`: the registry seeded with {sizes} ended records "
        f"(DELETED, FAILED) and {rows[0]['live']} live ones over {found['owners']} owners "
        "(`daskyard/local/registry_seed.py`, shared with "
        "`tests/functional/test_registry_scale.py`, which asserts the counts stay flat), "
        "then each operation through its real handler against the emulator, control "
        "plane only: as one owner over the local HTTP API (its own records the same at "
        f"every size: one live cluster and {found['own_ended']} ended; the other owners "
        "hold the rest), as an admin, and the scheduled Lambdas. Items read: what "
        "DynamoDB evaluates (a Query's ScannedCount, an item a GetItem found). Read and "
        "write units: computed from the items' sizes as DynamoDB bills them (4 KB a read "
        "unit, halved when eventually consistent; 1 KB a write unit, doubled in a "
        "transaction; the indexes' writes not counted), because moto answers "
        "ReturnConsumedCapacity with a constant: for a Query of 100 records it said "
        f"{probe['query_100_items']['moto']} unit where DynamoDB bills "
        f"{probe['query_100_items']['computed']:g}, for a GetItem "
        f"{probe['get_item']['moto']} (strongly consistent: "
        f"{probe['get_item']['computed']:g}), for an UpdateItem "
        f"{probe['update_item']['moto']} ({probe['update_item']['computed']:g}). "
        "The items and units are exact; the seconds are the emulator's (see below), and "
        "the ratios between sizes are what to read. Target: flat from the smallest to "
        "the largest.",
        "",
        f"| operation | items read ({sizes}) | growth | read units | write units | "
        "DynamoDB calls | seconds | growth |", "|---|---|---|---|---|---|---|---|",
        *(f"| {op} | {cell(each(op, 'items_read'))} | {_grows(each(op, 'items_read'))} | "
          f"{cell(each(op, 'read_units'))} | {cell(each(op, 'write_units'))} | "
          f"{cell(each(op, 'dynamodb_calls'))} | {cell(each(op, 'seconds'))} | "
          f"{_grows(each(op, 'seconds'))} |" for op in ops), "",
        "The emulator's own time, straight to the table with no handler, for the "
        "owner's first Query: " + " / ".join(f"{r['emulator_query_s']} s" for r in rows)
        + "; for a TransactWriteItems of two small items: " + " / ".join(
            f"{r.get('emulator_transaction_s', '-')} s" for r in rows) + ". moto reads a "
        "global secondary index by walking the whole table and copies every table for "
        "each transaction (a create's, a scale's), so the seconds here grow with the "
        "table where DynamoDB's, reading only the items counted above, do not.",
        "",
        "The nightly run with every live cluster due: the NightlyTeardown Lambda, invoked "
        "as its schedule does, starts the teardown machine, whose Map hands each due "
        "cluster to DestroyDue (the destroy machines those start answer their steps at "
        "once here: each is the destroy measured in section 2). Modeled on AWS: the "
        "seconds here plus the profile's cold starts on the path (the nightly Lambda's, "
        "then the Map's first DestroyDue environments', together): an upper bound, since "
        "here the emulator and all 40 concurrent invocations share one process on two "
        "loaded cores where AWS runs each invocation in its own.", "",
        "| ended records | due | destroys started | NightlyTeardown (s) | the Map (s) | "
        "DestroyDue median / slowest (s) | Lambda timeout (s) | whole run (s) | "
        "modeled on AWS, at most (s) |", "|---|---|---|---|---|---|---|---|---|",
        *(f"| {r['ended']:,} | {n['due']} | {n['destroys_started']} | "
          f"{n['nightly_lambda_s']} | {n['map_s']} | {n['destroy_due_median_s']} / "
          f"{n['destroy_due_max_s']} | {n['lambda_timeout_s']} | {n['seconds']} | "
          f"{n['modeled_aws_s']} |" for r, n in zip(rows, night, strict=True)), ""]


def _libraries(cold: dict[str, Any]) -> str:
    if "libraries_ms" not in cold:  # figures saved before the floor was measured
        return "not measured"
    return f"{cold['libraries_ms']} ms ({cold['libraries_ratio']}x)"


def _cold_start_section(cold: dict[str, Any]) -> list[str]:
    if cold.get("read_only"):
        how = ("extracted read-only, as Lambda's /var/task is: Python writes no "
               "`__pycache__` and uses only the bytecode the zip carries (`-B` too)")
    else:  # figures saved before the bench ran as Lambda does
        how = ("extracted writable: from the second run on, bytecode Python cached there "
               "(on Lambda it cannot)")
    rows = [("as shipped", cold)]
    if "no_bytecode" in cold:
        rows = [("`make package` (with deploy/bytecode.py's .pyc)", cold),
                ("`chalice package` alone (no bytecode)", cold["no_bytecode"])]
    return [
        "## 3. Lambda cold start", "",
        "Import of `app.py` in a fresh interpreter (`python -I -S`) that sees only the "
        f"deployment package, {how}, and the runtime's boto3 with its bytecode; "
        f"median of {cold['repeats']}. Targets: under 300 ms, under 10 MB.", "",
        "| package | import app.py | import boto3 alone (baseline) | ratio | "
        "the libraries alone | package size |", "|---|---|---|---|---|---|",
        *(f"| {name} | {row['app_ms']} ms | {row['boto3_ms']} ms | {row['ratio']}x | "
          f"{_libraries(row)} | {row['package_mib']} MiB |" for name, row in rows),
        "", f"Dask inside the package: {cold['package_has_dask']}.", ""]


def _bytecode_note(cold: dict[str, Any]) -> str:
    if "no_bytecode" not in cold:
        return ""
    plain = cold["no_bytecode"]
    return (f" Without the bytecode `make package` adds (deploy/bytecode.py), each cold "
            f"start compiles the package's modules: {plain['app_ms']} ms "
            f"({plain['ratio']}x) in a {plain['package_mib']} MiB package.")


def report(results: dict[str, Any]) -> str:
    ttr, calls, cold, tp = (results[k] for k in ("time_to_ready", "api_calls", "cold_start",
                                                  "throughput"))
    lines = [
        "# Benchmarks", "",
        f"Measured {results['date']}{_later(results)} on {results['machine']}, by `make bench` "
        "(`python -m bench`). Every ratio compares against a baseline measured in the same "
        "run. Raw figures: `docs/benchmarks.json`.", "",
        "## 1. Time to ready, local mode vs `distributed.LocalCluster`", "",
        "From the `POST /clusters` (or the `LocalCluster(...)` call) until every worker is "
        f"connected; median of {ttr['repeats']} runs. Target: at most 1.3x.", "",
        "| workers | Daskyard (s) | LocalCluster (s) | ratio |", "|---|---|---|---|",
        *(f"| {r['workers']} | {r['daskyard_s']} | {r['local_cluster_s']} | {r['ratio']}x |"
          for r in ttr["rows"]), "",
        "![time to ready](time_to_ready.png)", "",
        "## 2. AWS API calls and state transitions per create and destroy", "",
        "Counted: every AWS call the Lambdas make (botocore, from chalicelib) and every "
        "state entered. The second row holds each scheduler task event (PENDING, RUNNING) "
        "back 10 s, as a slow image pull would.", "",
        "| scheduler delay (s) | create (s) | create calls | create transitions | "
        "destroy calls | destroy transitions |", "|---|---|---|---|---|---|",
        *(f"| {r['delay_s']:.0f} | {r['create_s']} | {r['create_calls']} | "
          f"{r['create_transitions']} | {r['destroy_calls']} | {r['destroy_transitions']} |"
          for r in calls["rows"]), "",
        "The counts do not grow with the wait: the scheduler wait is a task-token "
        "callback and the image build wait is an event, not a polling loop (the mount "
        "targets' wait is a poll: it adds calls on AWS, none here, where they are "
        "instant). Target: at most 45 calls per create (92 before the registry wrote "
        "each step's resources in one update and a worker's task events stopped reading "
        "the registry); over it by the scheduler's own role (IAM CreateRole and "
        "PutRolePolicy, for adaptive scaling), the waits that read the record (the mount "
        "targets', the notebook's) and KeepSpareDrives' look at the stage's spares.", "",
        "| create calls by service | count |", "|---|---|",
        *(f"| {service} | {n} |" for service, n in _by_service(
            calls["rows"][0]["create_by_action"]).items()), "",
        *_cold_start_section(cold),
        "## 4. Control-plane throughput", "",
        f"{tp['clusters']} clusters created and destroyed at once against the emulator "
        "(no dask processes), against one alone in the same run.", "",
        "| one alone (s) | 20 at once, wall (s) | per cluster (s) | slowest (s) | "
        "speed-up vs one after another |", "|---|---|---|---|---|",
        f"| {tp['alone_s']} | {tp['wall_s']} | {tp['per_cluster_s']} | {tp['slowest_s']} | "
        f"{tp['speedup_vs_serial']}x |", "",
        *_suite_section(results.get("test_suite")),
        *_modeled_section(results.get("modeled")),
        *_peer_section(results.get("peer"), results.get("peer_modeled")),
        *_registry_scale_section(results.get("registry_scale")),
        "## Reading the figures", "",
        f"- Time to ready misses the 1.3x target: {min(r['ratio'] for r in ttr['rows'])}x "
        f"to {max(r['ratio'] for r in ttr['rows'])}x. LocalCluster runs its scheduler in the "
        "caller's process and spawns bare worker processes; Daskyard runs each task as ECS "
        "does, a fresh interpreter per container, and each worker under a nanny (which "
        "`client.restart()` and memory-limit restarts need), so 8 workers are 17 "
        "interpreters importing distributed on 2 cores, after about a second of emulated "
        f"control plane ({calls['rows'][0]['create_transitions']} state transitions, "
        "most of them a Lambda call through the emulator). "
        "Workers start alongside the scheduler and wait for its address themselves, which "
        "on AWS saves one Fargate task start (tens of seconds) per cluster. Slower than "
        "the last run (3.4 / 6.5 / 11.7 s) since the dashboard works: with bokeh "
        "installed each worker and the scheduler import their dashboards (about 0.7 s "
        "of CPU per process here), besides the scheduler's plugin and the log shipping.",
        f"- Modeled on AWS (section 6): {_modeled_summary(results.get('modeled'))} The "
        "first runs of this model gave 160 s fresh (the mount targets, then the "
        "scheduler's task start, end to end) and 107 s with an existing named drive (its "
        "mount targets went with the first cluster). Cut since: the scheduler mounts no "
        "drive and starts while the mount targets are made; a named drive keeps its "
        "mount targets; the mount-target poll looks every 2.5 s on average instead of "
        "backing off from 10 s; and the stage keeps a spare drive, its mount targets made "
        "(an empty EFS file system costs nothing), which a fresh cluster takes, so it "
        "waits only for its scheduler's task, as with a named drive. What is left there "
        "is Fargate's task start (60 s in the profile) plus Daskyard's own steps before "
        "and after it (\"Daskyard alone\"), so 60 s is the floor of this model, not "
        "reachable by the control plane; a smaller or lazily loaded (SOCI) image would "
        "lower the floor itself. Without a spare ready (the stage keeps none, or creates "
        "come faster than one a minute and a half) a fresh cluster waits for its mount "
        "targets: about 90 s of AWS's plus the poll's last look.",
        "- Side by side (section 7): FargateCluster leaves resources after `close()` "
        "(its finalizers run on a closed event loop) and after a fault; Daskyard leaves "
        "none. Its calls grow with the wait (DescribeTasks polled while PENDING); "
        "Daskyard's Lambdas' do not, the client's status polls do."
        f"{_peer_modeled_summary(results.get('peer_modeled'))}",
        *_registry_scale_summary(results.get("registry_scale")),
        f"- API calls do not grow with the wait: {calls['rows'][0]['create_calls']} and "
        f"{calls['rows'][-1]['create_calls']} calls for a create whose scheduler events "
        "came at once or 10 s late (when they differ, it is the account quotas' cache: "
        "the first create a Lambda container serves reads its quotas from Service "
        "Quotas, the next ones for 10 minutes do not; and by a call or three, the order "
        "in which the task events and the steps meet; not a loop).",
        f"- Cold start: importing app.py costs {cold['app_ms']} ms where boto3 alone "
        f"costs {cold['boto3_ms']} ms. Every Lambda of the app imports app.py, so each "
        "handler imports what it calls itself (its step, the API's triggers, the event "
        "handlers' modules, Slack, webhooks, teardown, TLS); app.py's import holds what "
        "every Lambda uses (tests/unit/test_cold_start.py). The 1.3x target is not met: "
        "the libraries every Lambda imports before any of Daskyard's code (boto3, "
        "chalice, Powertools' Logger and Metrics, pydantic's BaseModel and constrained "
        f"types), alone: {_libraries(cold)}; the rest is Daskyard's settings and "
        "record models, built at import since every Lambda validates them at its first "
        f"call.{_bytecode_note(cold)}",
        f"- Throughput: {tp['clusters']} lifecycles at once take {tp['per_cluster_s']} s "
        f"each of wall time, against {tp['alone_s']} s alone, all succeeded: in local "
        "mode the emulator, the ASL interpreter and every Lambda share one Python process "
        "and its GIL, so concurrency buys nothing here; on AWS each Lambda is its own "
        "process. The figure shows the control plane stays correct under that load (no "
        "failed execution, no conflict).", ""]
    return "\n".join(lines)


SECTIONS = ("cold_start", "api_calls", "throughput", "time_to_ready", "peer", "peer_modeled",
            "modeled", "registry_scale", "test_suite")


def write(results: dict[str, Any]) -> None:
    """docs/benchmarks.json, BENCHMARKS.md and the plots of what `results` holds."""
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    (DOCS / "BENCHMARKS.md").write_text(report(results))
    plot(results["time_to_ready"]["rows"], DOCS / "time_to_ready.png")
    if results.get("modeled"):
        plot_modeled(results["modeled"], DOCS / "modeled_ready.png")
    if results.get("peer"):
        plot_peer(results["peer"], DOCS / "peer.png")
    print(f"wrote {DOCS / 'BENCHMARKS.md'}")


def main(argv: list[str]) -> None:
    from daskyard.local.stack import LocalMode

    quick = "--quick" in argv
    only = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--only=")),
                None)
    if only and set(only) - set(SECTIONS):
        sys.exit(f"--only: sections are {', '.join(SECTIONS)}")
    if "--report-only" in argv:  # rewrite the page from the last run's figures
        write(json.loads((DOCS / "benchmarks.json").read_text()))
        return
    # --only=a,b: those sections again, the others' figures kept from the last run.
    results: dict[str, Any] = json.loads((DOCS / "benchmarks.json").read_text()) \
        if only else {}
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    if only:  # the page says which sections were measured on a later day
        later = results.setdefault("later", {})
        later.update(dict.fromkeys(only, today))
        for section in [s for s, day in later.items() if day == results.get("date")]:
            del later[section]
    else:
        results.update(date=today, later={})
    results.update(machine=machine())
    print(f"machine: {results['machine']}")

    def wanted(section: str) -> bool:
        return only is None or section in only

    if wanted("cold_start"):
        results["cold_start"] = cold_start.run(repeats=5 if quick else 10)
        print("cold start:", json.dumps(results["cold_start"]))
    if any(wanted(s) for s in SECTIONS[1:-1]):
        with LocalMode(processes=False) as local:
            if wanted("api_calls"):
                results["api_calls"] = api_calls.run(local)
                for row in results["api_calls"]["rows"]:
                    print("api calls:", json.dumps({k: v for k, v in row.items()
                                                    if not k.endswith("_by_action")}))
            if wanted("throughput"):
                results["throughput"] = throughput.run(local)
                print("throughput:", json.dumps(results["throughput"]))
            if wanted("time_to_ready"):
                results["time_to_ready"] = time_to_ready.run(local, repeats=1 if quick else 3)
                for row in results["time_to_ready"]["rows"]:
                    print("time to ready:", json.dumps(row))
            if wanted("peer"):
                results["peer"] = peer.run(local)
                for row in [*results["peer"]["rows"], *results["peer"]["profiled"]]:
                    print("peer:", json.dumps({k: row[k] for k in ("side", "fault", "ready_s",
                                                                   "calls")}))
            if wanted("peer_modeled"):
                results["peer_modeled"] = peer.modeled(local)
                for row in results["peer_modeled"]["rows"]:
                    print("peer modeled:", json.dumps(row))
            if wanted("modeled"):
                results["modeled"] = modeled.run(local)
                for row in results["modeled"]["rows"]:
                    print("modeled:", json.dumps({k: v for k, v in row.items()
                                                  if k != "critical_path"}))
            if wanted("registry_scale"):
                results["registry_scale"] = registry_scale.run(local)
                for size in results["registry_scale"]["rows"]:
                    for op, row in size["ops"].items():
                        print(f"registry scale {size['ended']}: {op}:", json.dumps(row))
    if wanted("test_suite"):
        results["test_suite"] = test_suite.run()
        print("test suite:", json.dumps(results["test_suite"]))
    write(results)


if __name__ == "__main__":
    main(sys.argv[1:])
