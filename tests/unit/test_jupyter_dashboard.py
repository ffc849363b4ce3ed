"""daskyard.jupyter's view of a Daskyard dashboard (what the Jupyter server reaches it
with, for JupyterLab's Dask pane): the cluster's own CA and nothing else is trusted, a
certificate of another cluster's CA is refused, the token is never printed; the
notebook's own cluster is read from what images/entrypoint.py gives Jupyter."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.core.tls import ClusterTls, generate
from daskyard.jupyter import Dashboard


@pytest.fixture(scope="module")
def clusters() -> tuple[ClusterTls, ClusterTls]:
    return generate("a1", timedelta(days=1)), generate("b2", timedelta(days=1))


def handshake(server: ClusterTls, client: ssl.SSLContext, folder: Path) -> None:
    """A TLS server with `server`'s node certificate on loopback; `client` connects."""
    (folder / "cert.pem").write_text(server.node_cert)
    (folder / "key.pem").write_text(server.node_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    client.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
        finally:
            thread.join(timeout=5)


def test_only_the_clusters_own_ca_is_trusted(
        clusters: tuple[ClusterTls, ClusterTls], tmp_path: Path) -> None:
    a, b = clusters
    context = Dashboard("https://127.0.0.1:8787", a.ca, "t0ken").ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == \
        [((("organizationName", "Daskyard"),), (("commonName", "daskyard a1 CA"),))]
    handshake(a, context, tmp_path)  # its own scheduler: accepted
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(b, context, tmp_path)  # another cluster's: refused


def test_the_token_and_the_ca_are_never_printed(
        clusters: tuple[ClusterTls, ClusterTls]) -> None:
    dashboard = Dashboard("https://127.0.0.1:8787", clusters[0].ca, "s3cret-token")
    assert "s3cret-token" not in repr(dashboard) and "BEGIN" not in repr(dashboard)


def test_the_notebooks_own_dashboard_comes_from_its_environment(
        clusters: tuple[ClusterTls, ClusterTls]) -> None:
    environ = {"DASK_SCHEDULER_ADDRESS": "tls://10.1.2.3:8786",
               "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": clusters[0].ca,
               "JUPYTER_TOKEN": "s3cret-token"}
    own = Dashboard.own(environ)
    assert own == Dashboard("https://10.1.2.3:8787", clusters[0].ca, "s3cret-token")
    assert (own.host, own.port) == ("10.1.2.3", 8787)
    for missing in environ:  # anything missing: not a Daskyard notebook, no route
        assert Dashboard.own({k: v for k, v in environ.items() if k != missing}) is None
    assert Dashboard.own({**environ, "DASK_SCHEDULER_ADDRESS": "tcp://10.1.2.3:8786"}) is None
