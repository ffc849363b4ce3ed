"""Daskyard's Jupyter server extension: JupyterLab's Dask pane (dask-labextension) shows
a Daskyard cluster's dashboard plots.

A Daskyard dashboard is HTTPS under the cluster's own CA and behind the cluster's token
(images/daskyard_scheduler.py). The pane loads every plot (an iframe, and bokeh's
websocket behind it) through the Jupyter server, whose proxy (dask-labextension's
`dask/dashboard/<id>/...`, on jupyter-server-proxy) speaks plain HTTP to the dashboard's
host and forwards the browser's own headers. For a Daskyard cluster this extension makes
the Jupyter server reach the dashboard as the cluster's owner:

- TLS verified against that cluster's CA alone: a CA made for the one cluster, which
  signs nothing but its certificates, so a certificate that chains to it is the
  cluster's scheduler (as dask's own tls:// comms verify it; the certificates name no
  address, which is known only once the task runs). Nothing trusts the CA beyond the
  request, and no check is turned off.
- The token added here, as `Authorization: token <t>`: it never reaches the browser, an
  iframe's URL, the browser's history or a log line (a `?token=` in the dashboard link
  the proxy forwarded would be in all of them, and would hand the browser a cookie
  valid for the whole dashboard).
- The browser's credentials for Jupyter (its cookies, its Authorization header) are not
  forwarded: the dashboard gets the cluster's token and nothing of the Jupyter user's.

It serves the pane in both places a user meets it:
- a JupyterLab whose pane makes clusters (dask config `labextension.factory:
  {module: daskyard, class: DaskyardCluster}`, the `local` extra's): dask-labextension's
  dashboard route, for a cluster with `dashboard_access()`; other clusters as before;
- the cluster's own notebook (images/entrypoint.py): `daskyard/dashboard/...`, its own
  cluster's dashboard, which the kernels' `Client().dashboard_link` and the pane's
  default URL point at (the JupyterHub way: `{prefix}proxy/8787/status`).

This module imports nothing of daskyard: the notebook image carries it alone
(`daskyard_jupyter`, deploy/images.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

# Where the notebook's own cluster's dashboard is, on the notebook's Jupyter server.
OWN_ROUTE = "daskyard/dashboard"
# The scheduler's dashboard port (images/entrypoint.py DASHBOARD_PORT).
DASHBOARD_PORT = 8787
# The browser's credentials for Jupyter, which are not the dashboard's business.
JUPYTER_CREDENTIALS = ("Cookie", "Authorization")


@dataclass(frozen=True)
class Dashboard:
    """A Daskyard dashboard as its owner reaches it: `https://host:port`, the cluster's
    CA (PEM) and the cluster's token. Secret: the token is never printed."""

    url: str
    ca: str = field(repr=False)
    token: str = field(repr=False)

    @property
    def host(self) -> str:
        return str(urlparse(self.url).hostname)

    @property
    def port(self) -> int:
        return int(urlparse(self.url).port or 443)

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts this cluster's CA and nothing else, and requires its certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.ca)
        # The certificates name no address (made before the task has one): the chain
        # to the cluster's own CA is the check, as in dask's tls:// comms.
        context.check_hostname = False
        return context

    @classmethod
    def own(cls, environ: Mapping[str, str]) -> Dashboard | None:
        """The notebook's own cluster's dashboard, from what images/entrypoint.py gives
        Jupyter: the scheduler's address, the cluster's CA (dask config in the
        environment) and the Jupyter token, which is the dashboard's token too
        (chalicelib/steps/register_task_definitions.py). None elsewhere."""
        address = environ.get("DASK_SCHEDULER_ADDRESS", "")
        ca = environ.get("DASK_DISTRIBUTED__COMM__TLS__CA_FILE", "")
        token = environ.get("JUPYTER_TOKEN", "")
        if not (address.startswith("tls://") and ca.startswith("-----BEGIN") and token):
            return None
        host = urlparse(address).hostname
        return cls(f"https://{host}:{DASHBOARD_PORT}", ca, token)


def _proxy_classes() -> tuple[type, type]:
    """The handlers, made when Jupyter loads the extension: they subclass
    dask-labextension's and jupyter-server-proxy's, which a client without JupyterLab
    lacks."""
    from dask_labextension.dashboardhandler import DaskDashboardHandler
    from dask_labextension.manager import manager
    from jupyter_server_proxy.handlers import ProxyHandler
    from jupyter_server_proxy.websocket import pingable_ws_connect
    from tornado import httpclient

    class TlsProxy(ProxyHandler):
        """jupyter-server-proxy's handler, to a Dashboard when `self.dashboard` is set
        for the request (else as it was)."""

        dashboard: Dashboard | None = None

        def use(self, dashboard: Dashboard) -> tuple[str, int]:
            self.dashboard = dashboard
            self.host_allowlist = [dashboard.host]  # this dashboard's host, no other
            return dashboard.host, dashboard.port

        def get_client_uri(self, protocol: str, host: str, port: int,
                           proxied_path: str) -> str:
            uri = str(super().get_client_uri(protocol, host, port, proxied_path))
            if self.dashboard is None:
                return uri
            uri = uri.replace("http://", "https://", 1).replace("ws://", "wss://", 1)
            if "token" not in self.request.query_arguments:
                return uri
            # A `token` argument is Jupyter's (`?token=` opens Jupyter): not forwarded.
            query = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True)
                     if k != "token"]
            base = uri.split("?", 1)[0]
            return f"{base}?{urlencode(query)}" if query else base

        def proxy_request_headers(self) -> Any:
            headers = super().proxy_request_headers()
            if self.dashboard is not None:
                for name in JUPYTER_CREDENTIALS:
                    headers.pop(name, None)
                headers["Authorization"] = f"token {self.dashboard.token}"
            return headers

        def proxy_request_options(self) -> dict[str, Any]:
            options = dict(super().proxy_request_options())
            if self.dashboard is not None:
                options["ssl_options"] = self.dashboard.ssl_context()
            return options

        async def open_dashboard_websocket(self, proxied_path: str) -> None:
            """jupyter-server-proxy's proxy_open over TLS (its own request carries no
            TLS options): bokeh's websocket, relayed both ways."""
            assert self.dashboard is not None
            self._record_activity()
            request = httpclient.HTTPRequest(
                self.get_client_uri("ws", self.dashboard.host, self.dashboard.port,
                                    "/" + proxied_path.lstrip("/")),
                headers=self.proxy_request_headers(),
                ssl_options=self.dashboard.ssl_context())

            def relay(message: str | bytes | None) -> None:
                self._record_activity()
                if message is None:
                    self.close()
                else:
                    self.write_message(message, binary=isinstance(message, bytes))

            self.ws = await pingable_ws_connect(
                request=request, on_message_callback=relay, on_ping_callback=self.ping,
                subprotocols=self._requested_subprotocols)

    class PaneDashboard(TlsProxy, DaskDashboardHandler):
        """dask-labextension's `dask/dashboard/<cluster id>/...`: a Daskyard cluster's
        dashboard as its owner (the cluster this server made holds its CA and token);
        any other cluster's as dask-labextension proxies it."""

        def daskyard(self, cluster_id: str) -> Dashboard | None:
            # dask-labextension 7.0.0 keeps the cluster objects only here.
            cluster = manager._clusters.get(cluster_id)
            access = getattr(cluster, "dashboard_access", None)
            if access is None:
                return None
            url, ca, token = access()
            return Dashboard(url, ca, token)

        def proxy(self, cluster_id: str, proxied_path: str) -> Any:
            dashboard = self.daskyard(cluster_id)
            if dashboard is None:
                return super().proxy(cluster_id, proxied_path)
            return ProxyHandler.proxy(self, *self.use(dashboard), proxied_path)

        async def open(self, cluster_id: str, proxied_path: str) -> None:
            dashboard = self.daskyard(cluster_id)
            if dashboard is None:
                return await super().open(cluster_id, proxied_path)
            self.use(dashboard)
            return await self.open_dashboard_websocket(proxied_path)

    return TlsProxy, PaneDashboard


def _own_handler(tls_proxy: type, dashboard: Dashboard) -> type:
    class OwnDashboard(tls_proxy):
        """`daskyard/dashboard/...`: the notebook's own cluster's dashboard."""

        def initialize(self) -> None:
            self.use(dashboard)

        async def http_get(self, proxied_path: str) -> Any:
            return await self.proxy(proxied_path)

        async def open(self, proxied_path: str) -> None:
            return await self.open_dashboard_websocket(proxied_path)

        def proxy(self, proxied_path: str) -> Any:  # every method but GET comes here
            return super().proxy(dashboard.host, dashboard.port, "/" + proxied_path)

        post = put = delete = head = patch = options = proxy

    return OwnDashboard


def _replace(router: Any, old: type, new: type) -> int:
    """Route what `old` handles to `new`, in tornado's rules (a host's rules nest)."""
    replaced = 0
    for rule in getattr(router, "rules", []):
        if rule.target is old:
            rule.target = new
            replaced += 1
        else:
            replaced += _replace(rule.target, old, new)
    return replaced


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(server: Any) -> None:
    """dask-labextension loads first (Jupyter loads extensions by name): its dashboard
    route goes to PaneDashboard; the notebook's own cluster gets its route."""
    try:
        tls_proxy, pane = _proxy_classes()
    except ImportError as exc:  # no dask-labextension here: no pane to serve
        server.log.info("daskyard: no Dask pane to serve (%s)", exc)
        return
    from dask_labextension.dashboardhandler import DaskDashboardHandler
    from jupyter_server.utils import url_path_join

    web_app = server.web_app
    if not _replace(web_app.default_router, DaskDashboardHandler, pane):
        server.log.warning("daskyard: dask-labextension's dashboard route not found; "
                           "the Dask pane cannot show a Daskyard cluster's plots")
    own = Dashboard.own(os.environ)
    if own is not None:
        route = url_path_join(web_app.settings["base_url"], OWN_ROUTE, "(?P<proxied_path>.*)")
        web_app.add_handlers(".*$", [(route, _own_handler(tls_proxy, own))])
        server.log.info("daskyard: this cluster's dashboard at /%s/", OWN_ROUTE)
