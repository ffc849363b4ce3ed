"""The `daskyard` command."""

from __future__ import annotations

import os
import time
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
                "created_at", "expires_at", "error"):
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
    t0 = time.monotonic()
    record = call(lambda: client.wait(name, {"READY", "FAILED"}, on_change=lambda r: console.print(
        f"  {time.monotonic() - t0:7.2f}s  {r['status']:<9} {r['step']}")))
    show(record)
    if record["status"] != "READY":
        raise typer.Exit(1)


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
    """Show one cluster."""
    show(call(DaskyardApi(api).get, name))


@app.command()
def scale(name: str, workers: int, api: ApiOption = DEFAULT_API) -> None:
    """Set the number of workers."""
    show(call(DaskyardApi(api).scale, name, workers))


@app.command()
def logs(name: str,
         role: Annotated[str | None, typer.Option(
             help="scheduler, worker or notebook (default: all)")] = None,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="keep printing new lines")] = False,
         api: ApiOption = DEFAULT_API) -> None:
    """What the cluster's tasks printed (CloudWatch Logs), oldest first."""
    client = DaskyardApi(api)
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


@app.command()
def serve(local: Annotated[bool, typer.Option("--local", help="embedded local mode")] = True,
          port: int = 8000) -> None:
    """Run the API and the emulator until Ctrl-C (or SIGTERM, SIGHUP)."""
    if not local:
        fail("only --local can be served from here; deploy with `make deploy` for AWS")
    from daskyard.local.processes import stop_signals
    from daskyard.local.stack import LocalMode

    with stop_signals() as stopped, LocalMode(processes=True) as mode:
        for reaped in mode.reaped:
            console.print(f"[yellow]{reaped}[/yellow]")
        url = mode.serve_api(port)
        console.print(f"emulator: {mode.emulator.url}\nAPI:      {url}\n"
                      f"keys:     {mode.root / 'credentials.json'} (the local admin, mode 0600)\n"
                      f"try:      daskyard up demo --api {url}\nCtrl-C stops everything.")
        stopped()
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
