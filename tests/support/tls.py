"""A cluster's TLS material as tests use it: made once per process (the same code
GenerateSecurityKey runs), the environment ECS would inject into a task, and the client
side's `Security`."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from distributed.security import Security

from chalicelib.core.aws import Clients
from chalicelib.core.naming import Names
from chalicelib.core.tls import ClusterTls, generate
from daskyard.local.deploy import STAGE


@cache
def material(cluster: str = "demo") -> ClusterTls:
    return generate(cluster, timedelta(days=1))


def task_env(tls: ClusterTls, role: str) -> dict[str, str]:
    """What the task definition's `secrets` give a task of `role`."""
    kind = "client" if role == "notebook" else "node"
    return {"DASKYARD_TLS_CA": tls.ca, "DASKYARD_TLS_CERT": getattr(tls, f"{kind}_cert"),
            "DASKYARD_TLS_KEY": getattr(tls, f"{kind}_key")}


def client_security(tls: ClusterTls) -> Security:
    return Security(require_encryption=True, tls_ca_file=tls.ca,
                    tls_client_cert=tls.client_cert, tls_client_key=tls.client_key)


def cluster_security(clients: Clients, cluster: str) -> Security:
    """The client side of a cluster GenerateSecurityKey made (as the credentials route
    hands it out)."""
    return client_security(ClusterTls.from_json(clients.secrets.get_secret_value(
        SecretId=Names(STAGE, cluster).credentials_secret())["SecretString"]))
