"""The notebook end to end in local mode: real Jupyter Lab started by the local ECS agent
from the images' entrypoint, as the machine's user (root included), beside a real
scheduler and workers. The cluster is READY only once Jupyter answers; the token reaches
its owner only; in a real browser (headless Chromium: Debian's package driven by
Playwright, no browser download) the dashboard shows the workers and a notebook cell
with `Client()` and no argument computes on the cluster from a file on the shared drive,
and the notebook's Dask pane shows the cluster's dashboard plots (through its Jupyter
server, daskyard.jupyter); a notebook that cannot start fails the create with its
reason in the record.

One test walks a working notebook cluster from READY to the browser: a notebook cluster
takes a while to start, so it is made once (pytest-xdist's groups cannot be relied on to
keep tests that share one together). The screenshots in docs/ come from it:
DASKYARD_UPDATE_SCREENSHOTS=1 writes them there (else they go to the test's tmp_path)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from typer.testing import CliRunner

from chalicelib.steps import register_task_definitions
from daskyard.cli import app
from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode

pytestmark = pytest.mark.e2e
SPEC = {"notebook": True, "allowed_cidrs": ["10.1.0.0/16"]}
CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1200, "height": 720}
CELL = """\
import dask.dataframe as dd
from distributed import Client

client = Client()  # no argument: the address and TLS come from the notebook's environment
numbers = dd.read_csv("numbers.csv")  # on the shared drive, read by the workers
print("workers", len(client.scheduler_info()["workers"]), "total", numbers.n.sum().compute())
"""


def notebook_file(source: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "execution_count": None,
                                  "id": "check", "metadata": {}, "outputs": [],
                                  "source": source}],
                       "metadata": {"kernelspec": {"display_name": "Python 3",
                                                   "language": "python", "name": "python3"}},
                       "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_cluster_is_ready_once_jupyter_answers_and_works_in_a_real_browser(
        live: LocalMode, tmp_path: Path) -> None:
    if not CHROMIUM.exists():  # CI installs it (.ci/run); never a silent skip
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    api = DaskyardApi(live.api_url)
    api.create({"name": "nb", "workers": 2, **SPEC})
    # The browser starts while the cluster is being made.
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
    try:
        record = api.wait("nb", {"READY", "FAILED"}, timeout=180)
        # READY: Jupyter answers at once, as WaitForNotebook held the cluster back until the
        # notebook's health check passed.
        assert record["status"] == "READY", record
        assert requests.get(record["notebook_url"].replace("/lab", "/api"), timeout=5).ok
        assert record["notebook_status"] == "SERVING"

        # `daskyard notebook` gives the owner the URL with the token; the token opens the
        # notebook's files and nothing else does; it is in no record.
        out = CliRunner().invoke(app, ["notebook", "nb", "--api", live.api_url])
        assert out.exit_code == 0, out.output
        url = out.output.strip()
        assert url.startswith(record["notebook_url"] + "?token=")
        token = parse_qs(urlparse(url).query)["token"][0]
        contents = record["notebook_url"].replace("/lab", "/api/contents")
        assert requests.get(contents, params={"token": token}, timeout=5).status_code == 200
        assert requests.get(contents, timeout=5).status_code == 403
        assert requests.get(contents, params={"token": "x" + token}, timeout=5).status_code == 403
        assert token not in json.dumps(api.get("nb")) + json.dumps(api.list())

        # In a real browser: the dashboard with its workers, the notebook computing.
        shots = DOCS if os.environ.get("DASKYARD_UPDATE_SCREENSHOTS") == "1" else tmp_path
        drive = live.root / "efs" / "nb"
        (drive / "numbers.csv").write_text("n\n" + "\n".join(map(str, range(101))) + "\n")
        (drive / "check.ipynb").write_text(notebook_file(CELL))
        dashboard = record["dashboard_url"].removesuffix("/status")
        # The dashboard (and /metrics) is HTTPS with the cluster's certificate and wants
        # the cluster's token: once in the URL, then as the cookie it sets.
        assert dashboard.startswith("https://")
        for path in ("/status", "/metrics", "/json/identity.json"):
            assert requests.get(dashboard + path, verify=False, timeout=10).status_code == 403
        assert requests.get(f"{dashboard}/metrics", params={"token": "x" + token},
                            verify=False, timeout=10).status_code == 403
        with requests.Session() as visitor:
            opened = visitor.get(f"{dashboard}/metrics", params={"token": token},
                                 verify=False, timeout=10)
            assert opened.status_code == 200 and "token" not in opened.url
            assert visitor.get(f"{dashboard}/metrics", verify=False, timeout=10).ok
        # `daskyard dashboard` gives the owner the URL with the token, which opens it.
        out = CliRunner().invoke(app, ["dashboard", "nb", "--api", live.api_url])
        assert out.exit_code == 0, out.output
        assert out.output.strip() == f"{record['dashboard_url']}?token={token}"
        assert requests.get(out.output.strip(), verify=False, timeout=10).ok
        # Three tabs load at once: the dashboard's status page (open while the cell
        # runs, its task stream shows the work), its list of workers, the notebook.
        tabs = browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
        status = tabs.new_page()
        status.goto(f"{dashboard}/status?token={token}", wait_until="commit")
        workers = tabs.new_page()
        workers.goto(f"{dashboard}/info/main/workers.html", wait_until="commit")
        page = browser.new_page(viewport=VIEWPORT)
        # The notebook: the token opens it, the cell computes on the cluster.
        page.goto(f"{record['notebook_url']}/tree/check.ipynb?token={token}")
        page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
               ).to_be_attached(timeout=60_000)
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-OutputArea-output").first
        try:
            expect(page.locator(".jp-InputPrompt").first).not_to_have_text(
                "[ ]:", timeout=20_000)
        except AssertionError:  # the cell never started: the key was lost under load (the
            # notebook re-rendered as its kernel came up and took the focus): once more
            page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
            page.keyboard.press("Shift+Enter")
        expect(output).to_contain_text("workers 2 total 5050", timeout=60_000)
        # Hidden, not answered: JupyterLab's first-run toast asking about its news
        # feed (the screenshot is of the notebook; an answer would be a setting).
        page.add_style_tag(content=".Toastify { display: none !important; }")
        page.screenshot(path=str(shots / "notebook.png"))
        # The dashboard lists both workers, by their task's address; its status
        # page renders.
        assert live.agent is not None
        tasks = live.agent.running("-workers")
        assert len(tasks) == 2
        for task in tasks:
            expect(workers.locator("body")).to_contain_text(f"tls://{task.ip}:")
        status.bring_to_front()
        expect(status.locator(".bk-Canvas, canvas").first).to_be_attached(timeout=30_000)
        status.screenshot(path=str(shots / "dashboard.png"))
        # The notebook's JupyterLab has the Dask pane on its cluster's dashboard, which
        # its Jupyter server reaches with the cluster's CA and token (daskyard.jupyter):
        # the kernel's dashboard link points there, and the pane's Workers plot (a bokeh
        # table, live over the proxied websocket) lists both workers.
        page.bring_to_front()
        answer = page.evaluate(
            "async () => (await fetch('/daskyard/dashboard/individual-plots.json')).status")
        assert answer == 200
        page.get_by_role("tab", name="Dask").click()
        plots = page.locator(".dask-DashboardListing-item button", has_text="Workers")
        expect(plots.first).to_be_visible(timeout=60_000)
        page.locator(".dask-DashboardListing-item button").get_by_text(
            "Workers", exact=True).click()
        frame = page.locator(".dask-DaskDashboard-widget iframe").first
        expect(frame).to_be_visible(timeout=30_000)
        src = frame.get_attribute("src") or ""
        assert "/daskyard/dashboard/" in src and token not in src
        table = page.frame_locator(".dask-DaskDashboard-widget iframe").first
        for task in tasks:
            expect(table.locator("body")).to_contain_text(f"tls://{task.ip}:",
                                                          timeout=60_000)
    finally:
        browser.close()
        playwright.stop()


def test_a_notebook_that_cannot_start_fails_the_create_with_its_reason(
        live: LocalMode, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook task without its token (a broken secret reference) exits at once, and
    ECS would start it again and again: the create fails, saying so."""
    real = register_task_definitions.task_secrets

    def without_token(arn: str, role: str) -> list[dict[str, str]]:
        return [s for s in real(arn, role) if s["name"] != "JUPYTER_TOKEN"]

    monkeypatch.setattr(register_task_definitions, "task_secrets", without_token)
    api = DaskyardApi(live.api_url)
    api.create({"name": "nb-broken", "workers": 1, **SPEC})
    record: dict[str, Any] = api.wait("nb-broken", {"READY", "FAILED", "DELETE_FAILED"},
                                      timeout=180)
    assert record["status"] == "FAILED", record
    assert "NotebookFailed: the notebook did not start" in record["error"]
    assert "Essential container in task exited (exit code 2)" in record["error"]
    assert "/daskyard/local/nb-broken" in record["error"]  # where its output is
    steps = {s["name"]: s for s in api.events("nb-broken")["steps"]}
    assert steps["WaitForNotebook"]["outcome"] == "FAILED"
