"""JupyterLab's Dask pane (dask-labextension 7.0.0) with Daskyard as its factory, in a
real browser (Debian's headless Chromium driven by Playwright): "+NEW" makes a
Daskyard cluster on local mode, the pane lists it with its dashboard link and workers,
shows its dashboard's plots (HTTPS under the cluster's CA, behind its token: reached
through the Jupyter server by daskyard.jupyter), and its shutdown button destroys it.
DASKYARD_UPDATE_SCREENSHOTS=1 writes docs/dask_pane.png (else the test's tmp_path)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from distributed import Client
from distributed.security import Security

from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DOCS = ROOT / "docs"
VIEWPORT = {"width": 1200, "height": 900}  # tall: the pane lists clusters at its foot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])




def jupyter_lab(live: LocalMode, folder: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    """JupyterLab of this environment, its Dask pane's factory set by dask config in the
    environment, as a user's labextension.yaml would; this tree's daskyard first."""
    kwargs = {"api": live.api_url, "workers": 1, "allowed_cidrs": ["127.0.0.0/8"],
              "wait_for_workers": True,
              "quiet": True}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
               "PYTHONPATH", "")]),
           "DASKYARD_CREDENTIALS": str(live.keys),
           # Jupyter loads daskyard.jupyter as the installed package's etc/jupyter file
           # tells it to: this tree's copy of that file.
           "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter-config"),
           "DASK_LABEXTENSION__FACTORY__MODULE": "daskyard",
           "DASK_LABEXTENSION__FACTORY__CLASS": "DaskyardCluster",
           "DASK_LABEXTENSION__FACTORY__KWARGS": repr(kwargs)}
    root = ["--allow-root"] if os.geteuid() == 0 else []
    return subprocess.Popen(  # nosec B603  # this interpreter, fixed arguments
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={folder}",
         # Every proxied request's URL in the log: the dashboard's token must be in none.
         "--ServerApp.log_level=DEBUG",
         # A layout and settings of its own: none restored from an earlier run.
         f"--LabApp.workspaces_dir={folder / 'workspaces'}",
         f"--LabApp.user_settings_dir={folder / 'settings'}", *root],
        env=env, stdout=subprocess.DEVNULL, stderr=(folder / "jupyter.log").open("wb"))


def test_new_in_the_dask_pane_makes_a_daskyard_cluster_and_shutdown_destroys_it(
        live: LocalMode, tmp_path: Path) -> None:
    if not CHROMIUM.exists():  # CI installs it (.ci/run); never a silent skip
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    api = DaskyardApi(str(live.api_url))
    before = {r["name"] for r in api.list()}
    port, token = free_port(), secrets.token_hex(16)
    lab = jupyter_lab(live, tmp_path, port, token)
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
    made: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert lab.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "jupyter.log").read_text()[-2000:]
            time.sleep(0.1)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"http://127.0.0.1:{port}/lab?token={token}")
        page.add_style_tag(content=".Toastify { display: none !important; }")
        new = page.get_by_role("button", name="NEW", exact=True)
        for _ in range(12):  # a click while the app still settles may be undone
            if new.is_visible():
                break
            if page.get_by_role("tab", name="Dask", selected=False).count():
                page.get_by_role("tab", name="Dask").click()
            with contextlib.suppress(PlaywrightTimeout):  # then look again, as above
                new.wait_for(state="visible", timeout=5_000)
        expect(new).to_be_visible()
        new.click()
        item = page.locator(".dask-ClusterListingItem").first
        try:
            expect(item).to_contain_text("DaskyardCluster 1", timeout=180_000)
        except AssertionError as exc:
            raise AssertionError((tmp_path / "jupyter.log").read_text()[-3000:]) from exc
        made = sorted({r["name"] for r in api.list() if r["status"] in ("CREATING", "READY")}
                      - before)
        assert len(made) == 1, made
        record = api.get(made[0])
        assert record["status"] == "READY" and record["spec"]["workers"] == 1
        # The card shows the cluster's dashboard link (with its token, as dashboard_link).
        expect(item).to_contain_text(record["dashboard_url"].removesuffix("/status"),
                                     timeout=30_000)
        link = item.get_by_role("link").first.get_attribute("href")
        assert link is not None and "?token=" in link  # the cluster's dashboard_link
        # The card's numbers come from the scheduler: the worker asked for has joined.
        expect(item).to_contain_text("Number of Workers: 1", timeout=60_000)
        # The pane shows the cluster's plots: selected, the pane lists what the
        # dashboard offers (fetched through the Jupyter server, which reaches the HTTPS
        # dashboard with the cluster's CA and token), and a plot renders bokeh.
        item.click()
        task_stream = page.locator(".dask-DashboardListing-item button",
                                   has_text="Task Stream").first
        expect(task_stream).to_be_visible(timeout=60_000)
        task_stream.click()
        frame = page.locator(".dask-DaskDashboard-widget iframe").first
        expect(frame).to_be_visible(timeout=30_000)
        src = frame.get_attribute("src") or ""
        assert "/dask/dashboard/" in src and "token" not in src  # the token stays server-side
        plot = page.frame_locator(".dask-DaskDashboard-widget iframe").first
        # bokeh's root (its document, served over the proxied websocket) and its canvas.
        expect(plot.locator(".bk-Figure, .bk-Canvas, canvas").first).to_be_visible(
            timeout=60_000)
        # Work while the plot is open: the task stream draws it as it runs (for the
        # screenshot: a canvas's drawing is not in the page's DOM to assert on).
        found = api.credentials(made[0])
        security = Security(require_encryption=True, tls_ca_file=found["ca"],
                            tls_client_cert=found["cert"], tls_client_key=found["key"])

        def slow_square(n: int) -> int:  # local: travels by value, as a notebook's would
            time.sleep(0.05)  # (the workers cannot import the tests)
            return n * n

        with Client(found["address"], security=security, timeout=30) as client:
            assert sum(client.gather(client.map(slow_square, range(60)))) == 70210
        # Jupyter's own token in a proxied URL is not passed on to the dashboard; the
        # dashboard's token is in no URL the Jupyter server logs (nor anywhere else).
        plots = src.rsplit("/", 1)[0] + "/individual-plots.json"
        assert page.evaluate("async url => (await fetch(url)).status",
                             f"{plots}?token={token}") == 200
        log = (tmp_path / "jupyter.log").read_text()
        proxied = [line for line in log.splitlines() if "Proxying request to" in line]
        assert proxied and not [line for line in proxied if token in line]
        assert found["dashboard_token"] not in log
        shots = DOCS if os.environ.get("DASKYARD_UPDATE_SCREENSHOTS") == "1" else tmp_path
        if shots == DOCS:
            page.wait_for_timeout(2_000)  # the plot's next refresh, drawn for the docs
        page.screenshot(path=str(shots / "dask_pane.png"))
        item.locator(".dask-ClusterListingItem-stop").click()
        final = api.wait(made[0], {"DELETED", "FAILED"}, timeout=120)
        assert final["status"] == "DELETED"
        assert live.leftovers(made[0], settle=30) == []
    finally:
        browser.close()
        playwright.stop()
        lab.terminate()
        lab.wait(timeout=30)
        for name in made:  # whatever the pane made and the test did not see destroyed
            if api.get(name)["status"] in ("CREATING", "READY"):
                api.delete(name)
