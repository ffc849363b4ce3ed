"""TLS on a real cluster (scheduler and worker processes from the images' entrypoint,
started by the local ECS agent): `DaskyardCluster` connects with the credentials the
API hands out, and so does `Client()` in the notebook's environment; a plain tcp://
client, a TLS client without a certificate and one with another CA's certificate
cannot run anything."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from distributed.security import Security

from daskyard.client import DaskyardApi
from daskyard.cluster import DaskyardCluster
from daskyard.local.stack import LocalMode
from tests.support.waiting import eventually

IMAGES = Path(__file__).resolve().parents[2] / "images"
REFUSED_WITHIN = 10  # seconds a refused client may take to give up


class NoCertificate(Security):
    """TLS that trusts the cluster's CA but presents no certificate of its own
    (distributed's Security would refuse to connect so; this reaches the scheduler)."""

    def __init__(self, ca: str) -> None:
        super().__init__(require_encryption=True, tls_ca_file=ca)

    def get_connection_args(self, role: str) -> dict[str, Any]:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.tls_ca_file)
        context.check_hostname = False
        return {"ssl_context": context, "require_encryption": True, "extra_conn_args": {}}


def refused(address: str, security: Security | None = None) -> str:
    """Connecting and running something fails, within a short time: the reason."""
    started = time.monotonic()
    with pytest.raises((OSError, TimeoutError)) as caught, \
            Client(address, security=security, timeout=5) as client:
        client.submit(sum, range(3)).result(timeout=5)
    assert time.monotonic() - started < REFUSED_WITHIN
    return str(caught.value)


def notebook_client(address: str, creds: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`Client()` with no argument, in the environment the notebook's entrypoint makes
    from what ECS injects (the client certificate, as the credentials give it)."""
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); import entrypoint\n"
        "entrypoint.use_tls('notebook'); os.environ['DASK_SCHEDULER_ADDRESS'] = sys.argv[2]\n"
        "from distributed import Client\n"
        "with Client(timeout=20) as c: print('result', c.submit(sum, range(101)).result())\n")
    env = {**os.environ, "DASKYARD_TLS_CA": creds["ca"], "DASKYARD_TLS_CERT": creds["cert"],
           "DASKYARD_TLS_KEY": creds["key"]}
    return subprocess.run([sys.executable, "-c", script, str(IMAGES), address], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_only_clients_with_the_clusters_certificate_run_anything(live: LocalMode) -> None:
    url = str(live.api_url)
    started = time.monotonic()
    with DaskyardCluster("secure", workers=1, api=url,
                         allowed_cidrs=["127.0.0.0/8"]) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        assert isinstance(cluster.security, Security) and cluster.security.require_encryption
        with Client(cluster, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            assert client.submit(sum, range(101)).result(timeout=30) == 5050
            assert all(w.startswith("tls://") for w in client.scheduler_info()["workers"])

        creds = DaskyardApi(url).credentials("secure")
        assert creds["address"] == address and creds["jupyter_token"] is None
        ran = notebook_client(address, creds)
        assert "result 5050" in ran.stdout, ran.stdout + ran.stderr

        host_port = address.removeprefix("tls://")
        print(f"\nplain tcp: {refused(f'tcp://{host_port}')}")
        print(f"TLS, no certificate: {refused(address, NoCertificate(creds['ca']))}")
        # Trusting the cluster's CA, presenting a certificate no cluster CA signed.
        foreign = Security.temporary()
        impostor = Security(require_encryption=True, tls_ca_file=creds["ca"],
                            tls_client_cert=foreign.tls_client_cert,
                            tls_client_key=foreign.tls_client_key)
        print(f"TLS, another CA's certificate: {refused(address, impostor)}")
        # It is the scheduler that refused them, at the handshake (its log may trail the
        # client's failure by a moment).
        api = DaskyardApi(str(live.api_url))
        reasons = ("TLS handshake failed with remote 'tls://127.0.0.1:", "WRONG_VERSION_NUMBER",
                   "PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_VERIFY_FAILED")

        def unlogged() -> list[str]:  # its output, as CloudWatch Logs holds it
            text = "\n".join(e["message"] for e in api.log_lines("secure", role="scheduler"))
            return [reason for reason in reasons if reason not in text]

        eventually(lambda: not unlogged(), 10, what=f"the scheduler's log names {reasons}")
        # The refusals took nothing down: the certified client still computes.
        with Client(cluster, timeout=30) as client:
            assert client.submit(sum, range(11)).result(timeout=30) == 55
    print(f"cluster up, checked and destroyed in {time.monotonic() - started:.1f}s")
    assert live.leftovers("secure", settle=30) == []
