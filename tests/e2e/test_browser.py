"""What a user sees after READY, in a real browser: headless Chromium (Debian's package,
driven by Playwright, no browser download) opens a local cluster's dashboard and its
Jupyter Lab. The dashboard renders with the cluster's workers; in the notebook, a cell
with `Client()` and no argument computes on the cluster over TLS from a file on the
shared drive. The screenshots in docs/ come from this test:
DASKYARD_UPDATE_SCREENSHOTS=1 writes them there (else they go to the test's tmp_path)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode

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


@pytest.mark.e2e
def test_dashboard_and_notebook_in_a_real_browser(live: LocalMode, tmp_path: Path) -> None:
    if not CHROMIUM.exists():  # CI installs it (.ci/run); never a silent skip
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    shots = DOCS if os.environ.get("DASKYARD_UPDATE_SCREENSHOTS") == "1" else tmp_path
    api = DaskyardApi(live.api_url)
    api.create({"name": "browse", "workers": 2, "notebook": True,
                "allowed_cidrs": ["10.1.0.0/16"]})
    with sync_playwright() as playwright:
        # The browser starts while the cluster is being made.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            record = api.wait("browse", {"READY", "FAILED"}, timeout=180)
            assert record["status"] == "READY", record
            token = api.credentials("browse")["jupyter_token"]
            drive = live.root / "efs" / "browse"
            (drive / "numbers.csv").write_text("n\n" + "\n".join(map(str, range(101))) + "\n")
            (drive / "check.ipynb").write_text(notebook_file(CELL))
            dashboard = record["dashboard_url"].removesuffix("/status")
            # Three tabs load at once: the dashboard's status page (open while the cell
            # runs, its task stream shows the work), its list of workers, the notebook.
            status = browser.new_page(viewport=VIEWPORT)
            status.goto(f"{dashboard}/status", wait_until="commit")
            workers = browser.new_page(viewport=VIEWPORT)
            workers.goto(f"{dashboard}/info/main/workers.html", wait_until="commit")
            page = browser.new_page(viewport=VIEWPORT)
            # The notebook: the token opens it, the cell computes on the cluster.
            page.goto(f"{record['notebook_url']}/tree/check.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                   ).to_be_attached(timeout=60_000)
            page.keyboard.press("Shift+Enter")
            output = page.locator(".jp-OutputArea-output").first
            expect(output).to_contain_text("workers 2 total 5050", timeout=60_000)
            news = page.get_by_role("button", name="No", exact=True)
            if news.is_visible():  # JupyterLab's first-run question about its news feed
                news.click()
            page.screenshot(path=str(shots / "notebook.png"))
            # The dashboard lists both workers, by their task's address; its status
            # page renders.
            assert live.agent is not None
            for task in live.agent.running("-workers"):
                expect(workers.locator("body")).to_contain_text(f"tls://{task.ip}:")
            status.bring_to_front()
            expect(status.locator(".bk-Canvas, canvas").first).to_be_attached(timeout=30_000)
            status.screenshot(path=str(shots / "dashboard.png"))
        finally:
            browser.close()
