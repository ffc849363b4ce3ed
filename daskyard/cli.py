"""The `daskyard` command."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import time
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from daskyard.client import ApiError, DaskyardApi

app = typer.Typer(help="Dask clusters on AWS ECS, vended by Daskyard.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)
ApiOption = Annotated[str | None, typer.Option(
    "--api", envvar="DASKYARD_API", show_default=False,
    help="Daskyard API URL (signed with SigV4); default: dask config's daskyard.api, else "
         "the local API `daskyard serve --local` last started")]
# The TTL as Slack's `ttl=8h` spells it (the API's ttl_hours), "8" meaning hours too.
TTL = re.compile(r"([0-9]{1,3})h?")
ASSIGNMENT = re.compile(r"([^=]+)=(.*)", re.DOTALL)


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[Output, typer.Option(
    "--output", "-o", help="table for people, json for scripts (full records, no wrapping)")]


def fail(message: str) -> NoReturn:
    """One line on stderr, printed literally (no markup), and exit 1."""
    err.print(Text("error: ", style="red") + Text(message.replace("\n", " ")), soft_wrap=True)
    raise typer.Exit(1)


def api_client(url: str | None) -> DaskyardApi:
    """The API named, else dask config's `daskyard.api`, else the running local one."""
    from daskyard import config

    try:
        return DaskyardApi(config.api_url(url))
    except ApiError as exc:
        fail(str(exc))


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        fail(str(exc))


def emit(value: Any, output: Output) -> None:
    """JSON to stdout for `-o json`, else a table."""
    if output is Output.json:
        print(json.dumps(value, indent=2, sort_keys=True))
    elif isinstance(value, list):
        listing(value)
    else:
        show(value)


def _cell(value: Any) -> Text:
    return Text(str(value))  # literal: a value with [brackets] is not rich markup


def show(record: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in ("name", "status", "step", "scheduler_address", "dashboard_url", "notebook_url",
                "notebook_status", "notebook_error", "owner", "created_at", "error"):
        if record.get(key):
            table.add_row(key, _cell(record[key]))
    table.add_row("workers", _cell(workers_text(record)))
    if record.get("adapt"):
        table.add_row("adapt", _cell(f"{record['adapt']['minimum']}-"
                                     f"{record['adapt']['maximum']} workers"))
    table.add_row("teardown", _cell(teardown_text(record)))
    if record.get("cost_per_hour"):
        table.add_row("cost", _cell(cost_text(record)))
    for role, crash in sorted((record.get("crashes") or {}).items()):
        table.add_row(f"{role} crashed", _cell(
            f"{crash['count']}x, last {crash['at']} exit {crash.get('exit_code')}: "
            f"{crash.get('reason', '')} (daskyard logs {record['name']} --role {role})"))
    console.print(table)


def workers_text(record: dict[str, Any]) -> str:
    """'3 running of 3 desired (asked for 1)': what the workers service runs now, from
    ECS's task events, beside what was asked for when adapt or ECS changed it since."""
    asked = record["spec"]["workers"]
    if record.get("workers_desired") is None and record.get("workers_running") is None:
        return str(asked)
    desired = record.get("workers_desired")
    desired = asked if desired is None else desired
    text = f"{record.get('workers_running') or 0} running of {desired} desired"
    return text if desired == asked or record.get("adapt") else f"{text} (asked for {asked})"


def teardown_text(record: dict[str, Any]) -> str:
    spec = record["spec"]
    parts = ["never at night" if spec.get("teardown") == "never" else "nightly at 02:00 UTC"]
    if record.get("expires_at"):
        parts.append(f"expires {record['expires_at']}")
    if spec.get("idle_timeout_minutes") is not None:
        minutes = spec["idle_timeout_minutes"]
        parts.append("no idle timeout" if minutes == 0 else f"idle timeout {minutes} min")
    return "; ".join(parts)


def cost_text(record: dict[str, Any]) -> str:
    """'$0.271/h estimated, 1.5 h so far: about $0.41' while it runs: the cost accrued
    at the rates of the workers that ran, and the current rate since."""
    rate = float(record["cost_per_hour"])
    text = f"${rate:.3f}/h estimated"
    if record["status"] in ("CREATING", "READY", "DELETING"):
        now = datetime.now(UTC)
        created = _when(record["created_at"])
        since = _when(record.get("cost_since") or record["created_at"])
        hours = max(0.0, (now - created).total_seconds() / 3600)
        cost = float(record.get("cost_accrued") or 0) + \
            rate * max(0.0, (now - since).total_seconds() / 3600)
        text += f", {hours:.1f} h so far: about ${cost:.2f}"
    return text


def listing(records: list[dict[str, Any]]) -> None:
    """One line a cluster; names and addresses are never cut (the other columns give way,
    and a terminal too narrow for them folds them whole onto the next line)."""
    longest = max((len(str(r.get("scheduler_address") or "")) for r in records), default=9)
    table = Table(Column("name", no_wrap=True), *(Column(h, overflow="fold") for h in (
        "status", "step", "workers")), Column("scheduler", no_wrap=True,
                                              min_width=max(9, longest)),
        Column("created", overflow="fold"))
    for r in records:
        table.add_row(*map(_cell, (r["name"], r["status"], r["step"], workers_text(r),
                                   r["scheduler_address"], str(r["created_at"])[:16])))
    console.print(table)


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """['A=1', 'B=x=y'] -> {'A': '1', 'B': 'x=y'}."""
    out = {}
    for value in values or []:
        match = ASSIGNMENT.fullmatch(value)
        if not match:
            fail(f"{option} takes KEY=VALUE, not {value!r}")
        out[match.group(1)] = match.group(2)
    return out


def ttl_hours(value: str | None) -> int | None:
    if value is None:
        return None
    match = TTL.fullmatch(value.strip())
    if not match:
        fail(f"--ttl takes hours, as 8h or 8, not {value!r}")
    hours = int(match.group(1))
    if hours == 0:
        fail("--ttl must be at least 1h (leave it out for no TTL)")
    return hours


def _version(value: bool) -> None:
    if value:
        try:
            print(f"daskyard {version('daskyard')}")
        except PackageNotFoundError:
            print("daskyard (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(show_version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False
                 ) -> None:
    """Dask clusters on AWS ECS, vended by Daskyard."""


@app.command()
def up(name: str,
       workers: Annotated[int | None, typer.Option(
           help="number of workers  [default: 2]", show_default=False)] = None,
       notebook: Annotated[bool | None, typer.Option(
           "--notebook/--no-notebook", help="also run Jupyter Lab", show_default=False)] = None,
       launch_type: Annotated[str | None, typer.Option(
           help="FARGATE, FARGATE_SPOT or EC2  [default: FARGATE]", show_default=False)] = None,
       instance_type: Annotated[str | None, typer.Option(
           help="EC2 instance type (with --launch-type EC2)")] = None,
       worker_cpu: Annotated[int | None, typer.Option(
           help="CPU units per worker (1024 = 1 vCPU)")] = None,
       worker_memory: Annotated[int | None, typer.Option(help="MiB per worker")] = None,
       worker_threads: Annotated[int | None, typer.Option(
           help="threads per worker (default: one per vCPU)")] = None,
       image: Annotated[str | None, typer.Option(
           help="an image of the stage's allowed list, instead of its own")] = None,
       env: Annotated[list[str] | None, typer.Option(
           help="KEY=VALUE for every task (repeatable)")] = None,
       tag: Annotated[list[str] | None, typer.Option(
           help="KEY=VALUE tag on the cluster's resources (repeatable)")] = None,
       allowed_cidr: Annotated[list[str] | None, typer.Option(
           help="CIDR allowed to reach the dashboard and notebook (repeatable)")] = None,
       ttl: Annotated[str | None, typer.Option(help="destroy after this long, as 8h")] = None,
       teardown: Annotated[str | None, typer.Option(
           help="nightly (destroyed at 02:00 UTC) or never  [default: nightly]",
           show_default=False)] = None,
       idle_timeout: Annotated[int | None, typer.Option(
           help="minutes without tasks or clients before it is destroyed (0 = never)")] = None,
       drive: Annotated[str | None, typer.Option(
           help="a named shared drive that outlives the cluster")] = None,
       wait: Annotated[bool, typer.Option(help="follow the steps until READY")] = True,
       output: OutputOption = Output.table,
       api: ApiOption = None) -> None:
    """Create a cluster and follow its steps live, with timings. An option left out takes
    dask config's `daskyard.<option>` when it sets one, else the API's default."""
    from daskyard import config

    client = api_client(api)
    given = {"workers": workers, "notebook": notebook, "launch_type": launch_type,
             "instance_type": instance_type, "worker_cpu": worker_cpu,
             "worker_memory": worker_memory, "worker_threads": worker_threads,
             "image": image, "ttl_hours": ttl_hours(ttl), "drive": drive,
             "teardown": teardown, "idle_timeout_minutes": idle_timeout,
             "allowed_cidrs": allowed_cidr or None,
             "environment": pairs(env, "--env") or None, "tags": pairs(tag, "--tag") or None}
    spec: dict[str, Any] = {"name": name, **config.spec_defaults(),
                            **{k: v for k, v in given.items() if v is not None}}
    record = call(client.create, spec)
    if not wait:
        emit(record, output)
        if output is Output.table:
            console.print(Text(f"follow it with: daskyard status {name}"))
        return
    if output is Output.json:  # nothing but the record on stdout
        record = call(client.wait, name, {"READY", "FAILED"})
    else:
        record = follow(client, name, {"READY", "FAILED"})
    emit(record, output)
    if record["status"] != "READY":
        raise typer.Exit(1)


def _when(iso: str | None) -> datetime:
    """An ISO time from the API (UTC when it names no zone); None: now."""
    at = datetime.fromisoformat(iso) if iso else datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _seconds(start: str, end: str | None) -> float:
    return (_when(end) - _when(start)).total_seconds()


def step_line(step: dict[str, Any], t0: str) -> Text:
    """`  +offset  name  duration  outcome [attempts] [error]`, times in seconds."""
    tries = f" ({step['attempts']} attempts)" if step.get("attempts", 0) > 1 else ""
    error = f"  {step['error']}" if step.get("error") else ""
    offset = f"+{_seconds(t0, step['start']):.2f}s"
    return Text(f"  {offset:>9}  {step['name']:<28} "
                f"{_seconds(step['start'], step['end']):7.2f}s  {step['outcome']}{tries}{error}")


def follow(client: DaskyardApi, name: str, statuses: set[str],
           timeout: float = 900) -> dict[str, Any]:
    """Print every step of the cluster's execution as it ends, in the order the states
    were entered (a step is shown once it and every earlier one have ended), until the
    record's status is one of `statuses` and the execution has ended. The steps come from
    the execution's history, so none is skipped however short, however seldom this looks."""
    printed, deadline = 0, time.monotonic() + timeout
    with err.status(f"{name}: starting") as live:
        while True:
            timeline = call(client.events, name)
            steps = timeline["steps"]
            while printed < len(steps) and steps[printed]["end"]:
                console.print(step_line(steps[printed], steps[0]["start"]))
                printed += 1
            if printed < len(steps):
                step = steps[printed]
                live.update(Text(f"{name}: {step['name']} "
                                 f"({_seconds(step['start'], None):.0f} s)"))
            if timeline["status"] in statuses and timeline["execution_ended"] \
                    and printed == len(steps):
                return dict(call(client.get, name))
            if time.monotonic() > deadline:
                fail(f"{name} is still {timeline['status']} after {timeout:.0f} s")
            time.sleep(0.5)


@app.command()
def notebook(name: str,
             open_: Annotated[bool, typer.Option("--open", help="open it in a browser")] = False,
             api: ApiOption = None) -> None:
    """The cluster's Jupyter Lab URL with its token (the owner's only: keep it to yourself)."""
    client = api_client(api)
    record = call(client.get, name)
    if not record["spec"]["notebook"]:
        fail(f"{name} has no notebook: a notebook starts with its cluster, so create one "
             f"that has it, under another name (`daskyard up {name}-nb --notebook`) or "
             f"under this one once it is destroyed (`daskyard down {name}`)")
    if record["status"] != "READY":
        fail(f"{name} is {record['status']}: only a READY cluster's notebook opens"
             + (f" ({record['error']})" if record.get("error") else ""))
    if record.get("notebook_status") != "SERVING":
        fail(f"{name}'s notebook is not serving now: {record.get('notebook_status')}"
             + (f" ({record['notebook_error']})" if record.get("notebook_error") else ""))
    token = call(client.credentials, name)["jupyter_token"]
    _show_url(f"{record['notebook_url']}?token={token}", open_)


@app.command()
def dashboard(name: str,
              open_: Annotated[bool, typer.Option("--open", help="open it in a browser")] = False,
              api: ApiOption = None) -> None:
    """The cluster's dashboard URL with its token (HTTPS under the cluster's own CA; the
    owner's only: keep it to yourself)."""
    client = api_client(api)
    record = call(client.get, name)
    if record["status"] != "READY":
        fail(f"{name} is {record['status']}: only a READY cluster's dashboard opens"
             + (f" ({record['error']})" if record.get("error") else ""))
    token = call(client.credentials, name)["dashboard_token"]
    _show_url(f"{record['dashboard_url']}?token={token}", open_)


def _show_url(url: str, open_: bool) -> None:
    """A URL with its token, printed whole (never wrapped), and opened if asked."""
    console.print(Text(url), soft_wrap=True)
    if open_:
        import webbrowser

        webbrowser.open(url)


@app.command()
def down(name: str, wait: bool = True, output: OutputOption = Output.table,
         api: ApiOption = None) -> None:
    """Destroy a cluster."""
    client = api_client(api)
    record = call(client.delete, name)
    if wait:
        record = call(client.wait, name, {"DELETED", "FAILED", "DELETE_FAILED"})
    if output is Output.json:
        emit(record, output)
    else:
        console.print(Text(f"{name}: {record['status']}"))


@app.command("ls")
def list_clusters(
        status: Annotated[list[str] | None, typer.Option(
            "--status", help="only clusters with this status (repeatable): CREATING, READY, "
                             "DELETING, DELETED, FAILED, DELETE_FAILED")] = None,
        all_: Annotated[bool, typer.Option(
            "--all", help="DELETED clusters too (left out by default)")] = False,
        output: OutputOption = Output.table, api: ApiOption = None) -> None:
    """List clusters (yours; an admin sees all): all but the DELETED ones by default."""
    wanted = {s.upper() for s in status or []}
    unknown = wanted - set(STATUSES)
    if unknown:
        fail(f"--status takes {', '.join(STATUSES)}, not {', '.join(sorted(unknown))}")
    # The API filters (from its status index): the ended records are not sent at all.
    shown = wanted or (set() if all_ else set(STATUSES) - {"DELETED"})
    emit(call(api_client(api).list, ",".join(s for s in STATUSES if s in shown) or None),
         output)


STATUSES = ("CREATING", "READY", "DELETING", "DELETED", "FAILED", "DELETE_FAILED")


@app.command()
def status(name: str, output: OutputOption = Output.table, api: ApiOption = None) -> None:
    """Show one cluster (addresses, teardown, expiry, estimated cost) and every step of
    its latest execution, with its duration."""
    client = api_client(api)
    record = call(client.get, name)
    emit(record, output)
    if output is Output.table:
        steps = call(client.events, name)["steps"]
        for step in steps:
            console.print(step_line(step, steps[0]["start"]))


@app.command()
def drive(name: str,
          share: Annotated[list[str] | None, typer.Option(
              "--share", help="whom else may name the drive in a create: an IAM ARN, "
              "slack:<team>/<user> or webhook:<key id> (repeatable; replaces the list)")] = None,
          unshare: Annotated[bool, typer.Option(
              "--unshare", help="share it with nobody")] = False,
          output: OutputOption = Output.table, api: ApiOption = None) -> None:
    """Show a named drive's owner and whom it is shared with (your drives; an admin's:
    any); --share or --unshare sets whom else may name it. Their clusters get a folder
    of their own on it, never yours."""
    if share and unshare:
        fail("--share and --unshare: one or the other")
    client = api_client(api)
    record = call(client.share_drive, name, share or []) if share or unshare \
        else call(client.drive, name)
    if output is Output.json:
        emit(record, output)
        return
    table = Table(show_header=False, box=None)
    table.add_row("drive", _cell(record["name"]))
    table.add_row("owner", _cell(record["owner"]))
    table.add_row("shared with", _cell(", ".join(record["shares"]) or "nobody"))
    console.print(table)


@app.command()
def scale(name: str, workers: int, output: OutputOption = Output.table,
          api: ApiOption = None) -> None:
    """Set the number of workers (turns adaptive scaling off)."""
    emit(call(api_client(api).scale, name, workers), output)


@app.command()
def adapt(name: str,
          minimum: Annotated[int, typer.Option(help="fewest workers")] = 0,
          maximum: Annotated[int | None, typer.Option(help="most workers")] = None,
          off: Annotated[bool, typer.Option("--off", help="stop adapting")] = False,
          output: OutputOption = Output.table, api: ApiOption = None) -> None:
    """Let the cluster size itself from its scheduler's load, between --minimum and
    --maximum workers; it goes on with no client connected."""
    client = api_client(api)
    if off:
        emit(call(client.adapt, name, None, None), output)
        return
    if maximum is None:
        fail("adapt needs --maximum (or --off)")
    emit(call(client.adapt, name, minimum, maximum), output)


STATUS_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "red"}


@app.command()
def doctor(output: OutputOption = Output.table, api: ApiOption = None) -> None:
    """Check the stage's account before its first cluster (admins only): service-linked
    roles, Fargate vCPU quotas, EFS, IAM and security group quotas, the subnets' way to
    AWS, the images in ECR and the signing secrets. Exits 1 if a check fails."""
    report = call(api_client(api).doctor)
    if output is Output.json:
        emit(report, output)
    else:
        width = max(len(check["name"]) for check in report["checks"])
        for check in report["checks"]:
            line = Text(f"{check['status']:<4}", style=STATUS_STYLE.get(check["status"], ""))
            line += Text(f"  {check['name']:<{width}}  {check['figure']}")
            if check["advice"]:
                line += Text(f"  -> {check['advice']}")
            console.print(line, soft_wrap=True)
        defaults = [check["name"] for check in report["checks"] if check["default"]]
        if defaults:
            console.print(Text("answered with AWS's documented default quota (the account's "
                               f"applied value was not available): {', '.join(defaults)}"),
                          soft_wrap=True)
        failed = sum(check["status"] == "FAIL" for check in report["checks"])
        console.print(Text(f"{report['stage']} in {report['region']}: "
                           f"{len(report['checks'])} checks, {failed} failed"))
    if not report["ok"]:
        raise typer.Exit(1)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@app.command()
def logs(name: str,
         role: Annotated[str | None, typer.Option(
             help="scheduler, worker or notebook (default: all)")] = None,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="keep printing new lines")] = False,
         api: ApiOption = None) -> None:
    """What the cluster's tasks printed (CloudWatch Logs), oldest first."""
    client = api_client(api)
    events = client.follow(name, role) if follow else call(client.log_lines, name, role)
    try:
        for event in events:
            console.print(f"{event['time']} {event['role']}/{event['task'][:8]} "
                          f"{event['message']}", markup=False, highlight=False,
                          soft_wrap=True)
    except ApiError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # the way to end --follow
        raise typer.Exit(0) from None


def _local_mode() -> None:
    """The server side local mode runs (app.py, chalicelib) on the import path, from the
    wheel or this checkout: this command is local mode's entry point (daskyard.local.server)."""
    from daskyard.local.server import importable

    importable()


@app.command()
def serve(local: Annotated[bool, typer.Option(
              "--local/--no-local", help="the embedded local mode (the only one served here)")]
          = True,
          port: Annotated[int, typer.Option(help="the API's port on 127.0.0.1")] = 8000,
          latency: Annotated[str, typer.Option(
              help="act out AWS's delays: none, or aws (mount targets, task starts, cold "
                   "starts; see daskyard/local/latency.py)")] = "none",
          time_scale: Annotated[float, typer.Option(
              help="with --latency: run the delays and the state machines' waits at this "
                   "fraction of real time, e.g. 0.05")] = 1.0,
          iam: Annotated[bool, typer.Option(
              "--iam/--no-iam", help="authorize every AWS call as IAM would, with the "
              "policies the deploy uses (needs node and `npm install`)")] = True) -> None:
    """Run the API and the emulator until Ctrl-C (or SIGTERM, SIGHUP)."""
    if not local:
        fail("only --local can be served from here; deploy with `make deploy` for AWS")
    _local_mode()
    from daskyard.local.latency import UnknownProfile, profile

    try:
        delays = profile(latency, time_scale)
    except UnknownProfile as exc:
        fail(str(exc))
    if not _port_free(port):
        fail(f"port {port} on 127.0.0.1 is in use (another `daskyard serve`?); "
             f"pick another with --port, e.g. --port {port + 1}")
    from daskyard.credentials import default_path
    from daskyard.local.processes import stop_signals
    from daskyard.local.stack import LocalMode

    with stop_signals() as stopped, LocalMode(processes=True, latency=delays,
                                              enforce_iam=iam) as mode:
        for reaped in mode.reaped:
            console.print(Text(str(reaped), style="yellow"))
        if mode.iam is None:
            console.print(Text("IAM: off (--no-iam, or node and `npm install` missing): "
                               "every AWS call is let through", style="yellow"))
        try:  # the keys where the CLI will look: $DASKYARD_CREDENTIALS if set
            url = mode.serve_api(port, keys=default_path())
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            fail(f"port {port} was taken meanwhile; pick another with --port")
        console.print(Text(
            f"emulator: {mode.emulator.url}\nAPI:      {url}\n"
            f"IAM:      {'every call authorized as IAM would' if mode.iam else 'off'}\n"
            f"keys:     {mode.keys} (the local admin, mode 0600)\n"
            f"try:      daskyard up demo --api {url}\nCtrl-C stops everything."))
        stopped()
    console.print("stopped")


@app.command()
def demo(workers: int = 2) -> None:
    """Local mode end to end: create, compute on the shared drive, destroy, check."""
    _local_mode()
    from daskyard import demo as demo_module

    os.environ.setdefault("DASKYARD_DEATH_TIMEOUT", "15")
    try:
        demo_module.run(console.print, workers=workers)
    except KeyboardInterrupt:
        err.print("interrupted: everything started was stopped")
        raise typer.Exit(130) from None
    except Exception as exc:
        fail(str(exc))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
