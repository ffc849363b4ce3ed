"""The `daskyard` command."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from daskyard.client import ApiError, DaskyardApi

app = typer.Typer(help="Dask clusters on AWS ECS, vended by Daskyard.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)
ApiOption = Annotated[str, typer.Option("--api", envvar="DASKYARD_API",
                                        help="Daskyard API URL (signed with SigV4 unless local)")]
DEFAULT_API = "http://127.0.0.1:8000"


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ApiError as exc:
        fail(str(exc))


def show(record: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in ("name", "status", "step", "scheduler_address", "dashboard_url", "notebook_url",
                "notebook_status", "notebook_error", "created_at", "expires_at", "error"):
        if record.get(key):
            table.add_row(key, str(record[key]))
    table.add_row("workers", str(record["spec"]["workers"]))
    console.print(table)


@app.command()
def up(name: str, workers: Annotated[int, typer.Option(help="number of workers")] = 2,
       notebook: Annotated[bool, typer.Option(help="also run Jupyter Lab")] = False,
       launch_type: Annotated[str, typer.Option(help="FARGATE, FARGATE_SPOT or EC2")] = "FARGATE",
       allowed_cidr: Annotated[list[str] | None, typer.Option(
           help="CIDR allowed to reach the dashboard and notebook (repeatable)")] = None,
       ttl_hours: Annotated[int | None, typer.Option(help="destroy after this many hours")] = None,
       wait: Annotated[bool, typer.Option(help="follow the steps until READY")] = True,
       api: ApiOption = DEFAULT_API) -> None:
    """Create a cluster and follow its steps live, with timings."""
    client = DaskyardApi(api)
    spec: dict[str, Any] = {"name": name, "workers": workers, "notebook": notebook,
                            "launch_type": launch_type, "allowed_cidrs": allowed_cidr or []}
    if ttl_hours:
        spec["ttl_hours"] = ttl_hours
    call(client.create, spec)
    if not wait:
        return
    record = follow(client, name, {"READY", "FAILED"})
    show(record)
    if record["status"] != "READY":
        raise typer.Exit(1)


def _when(iso: str | None) -> datetime:
    """An ISO time from the API (UTC when it names no zone); None: now."""
    at = datetime.fromisoformat(iso) if iso else datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _seconds(start: str, end: str | None) -> float:
    return (_when(end) - _when(start)).total_seconds()


def step_line(step: dict[str, Any], t0: str) -> str:
    """`  +offset  name  duration  outcome [attempts] [error]`, times in seconds."""
    tries = f" ({step['attempts']} attempts)" if step.get("attempts", 0) > 1 else ""
    error = f"  {step['error']}" if step.get("error") else ""
    offset = f"+{_seconds(t0, step['start']):.2f}s"
    return (f"  {offset:>9}  {step['name']:<28} "
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
                live.update(f"{name}: {step['name']} ({_seconds(step['start'], None):.0f} s)")
            if timeline["status"] in statuses and timeline["execution_ended"] \
                    and printed == len(steps):
                return dict(call(client.get, name))
            if time.monotonic() > deadline:
                fail(f"{name} is still {timeline['status']} after {timeout:.0f} s")
            time.sleep(0.5)


@app.command()
def notebook(name: str,
             open_: Annotated[bool, typer.Option("--open", help="open it in a browser")] = False,
             api: ApiOption = DEFAULT_API) -> None:
    """The cluster's Jupyter Lab URL with its token (the owner's only: keep it to yourself)."""
    client = DaskyardApi(api)
    record = call(client.get, name)
    if not record["spec"]["notebook"]:
        fail(f"{name} has no notebook: create one with `daskyard up {name} --notebook`")
    if record["status"] != "READY":
        fail(f"{name} is {record['status']}: only a READY cluster's notebook opens"
             + (f" ({record['error']})" if record.get("error") else ""))
    if record.get("notebook_status") != "SERVING":
        fail(f"{name}'s notebook is not serving now: {record.get('notebook_status')}"
             + (f" ({record['notebook_error']})" if record.get("notebook_error") else ""))
    token = call(client.credentials, name)["jupyter_token"]
    url = f"{record['notebook_url']}?token={token}"
    console.print(url, soft_wrap=True)
    if open_:
        import webbrowser

        webbrowser.open(url)


@app.command()
def down(name: str, wait: bool = True, api: ApiOption = DEFAULT_API) -> None:
    """Destroy a cluster."""
    client = DaskyardApi(api)
    call(client.delete, name)
    if wait:
        record = call(lambda: client.wait(name, {"DELETED", "FAILED"}))
        console.print(f"{name}: {record['status']}")


@app.command("ls")
def list_clusters(api: ApiOption = DEFAULT_API) -> None:
    """List clusters."""
    table = Table("name", "status", "step", "workers", "scheduler", "created")
    for r in call(DaskyardApi(api).list):
        table.add_row(r["name"], r["status"], r["step"], str(r["spec"]["workers"]),
                      r["scheduler_address"], r["created_at"])
    console.print(table)


@app.command()
def status(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Show one cluster and every step of its latest execution, with its duration."""
    client = DaskyardApi(api)
    show(call(client.get, name))
    steps = call(client.events, name)["steps"]
    for step in steps:
        console.print(step_line(step, steps[0]["start"]))


@app.command()
def scale(name: str, workers: int, api: ApiOption = DEFAULT_API) -> None:
    """Set the number of workers."""
    show(call(DaskyardApi(api).scale, name, workers))


@app.command()
def serve(local: Annotated[bool, typer.Option("--local", help="embedded local mode")] = True,
          port: int = 8000) -> None:
    """Run the API and the emulator until Ctrl-C."""
    if not local:
        fail("only --local can be served from here; deploy with `make deploy` for AWS")
    from daskyard.local.stack import LocalMode

    with LocalMode(processes=True) as mode:
        url = mode.serve_api(port)
        console.print(f"emulator: {mode.emulator.url}\nAPI:      {url}\n"
                      f"keys:     {mode.root / 'credentials.json'} (the local admin, mode 0600)\n"
                      f"try:      daskyard up demo --api {url}\nCtrl-C stops everything.")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a shell may ignore it in `&`
            signal.signal(sig, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    console.print("stopped")


@app.command()
def demo(workers: int = 2) -> None:
    """Local mode end to end: create, compute on the shared drive, destroy, check."""
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
