"""Every cluster's own CA and certificates (GenerateSecurityKey), how tasks get them
(ECS `secrets`, resolved by the local agent as ECS does), and the credentials route
that hands a client certificate out for a READY cluster only, never in the record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from chalicelib.core.aws import Clients
from chalicelib.core.models import StepEvent
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from chalicelib.core.tls import ClusterTls
from chalicelib.steps import StepCall, generate_security_key
from daskyard.local.agent import LocalTask
from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from tests.support.clusters import create, destroy, spec
from tests.support.records import make

KEY_MARKERS = ("BEGIN", "PRIVATE KEY", "CERTIFICATE")


def step(rt: Runtime, name: str = "demo") -> StepCall:
    return StepCall(StepEvent(action="create", cluster=name), rt.registry, STAGE)


def stored(clients: Clients, name: str = "demo") -> ClusterTls:
    return ClusterTls.from_json(clients.secrets.get_secret_value(
        SecretId=Names(STAGE, name).credentials_secret())["SecretString"])


def cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_security_key_makes_a_ca_whose_certificates_chain_to_it_and_delete_removes_it(
        rt: Runtime, clients: Clients) -> None:
    rt.registry.create(spec("demo", ttl_hours=8), "test", [], "")
    made = step(rt)
    out = generate_security_key.create(rt, made)
    rt.registry.steps.end("demo", "GenerateSecurityKey", made.made)
    names = Names(STAGE, "demo")
    described = clients.secrets.describe_secret(SecretId=names.credentials_secret())
    assert names.credentials_secret() == f"daskyard/{STAGE}/demo/credentials"
    assert out["credentials_secret"] == described["ARN"]
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == names.tags()
    tls = stored(clients)
    ca = cert(tls.ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Both certificates chain to the cluster's CA, each only for its use: the node's
    # serves and connects (scheduler, workers), the client's only connects.
    policy = PolicyBuilder().store(Store([ca]))
    server = policy.build_server_verifier(x509.DNSName("dask-internal"))
    assert len(server.verify(cert(tls.node_cert), [])) == 2
    assert len(policy.build_client_verifier().verify(cert(tls.client_cert), []).chain) == 2
    with pytest.raises(VerificationError, match="EKU"):
        server.verify(cert(tls.client_cert), [])
    # Valid for the cluster's longest life (its TTL) and a margin, not for years.
    expires = ca.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=30) < expires < timedelta(days=31)
    # The record holds the secret's ARN, never the PEMs; a retried step keeps the CA.
    record = rt.registry.require("demo")
    assert record.resources.credentials_secret == described["ARN"]
    assert not any(m in json.dumps(record.model_dump(mode="json")) for m in KEY_MARKERS)
    assert generate_security_key.create(rt, step(rt))["credentials_secret"] == described["ARN"]
    assert stored(clients).ca == tls.ca
    generate_security_key.delete(rt, step(rt))
    generate_security_key.delete(rt, step(rt))  # already gone is fine
    assert not [s for s in clients.secrets.list_secrets()["SecretList"]
                if s["Name"].startswith("daskyard/demo/")]


def test_a_secret_made_before_a_crash_is_found_by_name_and_removed(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    """The create made the secret and died before recording it: the delete twin finds
    it by its derived name, and the inventory of leftovers would have listed it."""
    rt.registry.create(spec("demo"), "test", [], "")
    generate_security_key.create(rt, step(rt))  # end_step never ran: nothing recorded
    assert rt.registry.require("demo").resources.credentials_secret == ""
    assert f"secret daskyard/{STAGE}/demo/credentials" in stack.leftovers("demo")
    generate_security_key.delete(rt, step(rt))
    assert stack.leftovers("demo") == []


def get(http: Any, path: str) -> tuple[int, Any, dict[str, str]]:
    response = http.get(path)
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_credentials_route_hands_out_a_client_certificate_for_a_ready_cluster_only(
        http: Any, rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    status, body, _ = get(http, "/clusters/nobody/credentials")
    assert status == 404 and body["code"] == "ClusterNotFound"
    make(rt, spec("busy"))  # CREATING: no credentials yet
    status, body, _ = get(http, "/clusters/busy/credentials")
    assert status == 409 and body["code"] == "ClusterBusy" and "READY" in body["error"]

    assert create(rt, stack, "demo", notebook=True)["status"] == "SUCCEEDED"
    status, creds, headers = get(http, "/clusters/demo/credentials")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    tls, record = stored(clients), rt.registry.require("demo")
    assert len(tls.jupyter_token) >= 32
    assert creds == {"address": record.scheduler.address, "ca": tls.ca,
                     "cert": tls.client_cert, "key": tls.client_key,
                     "jupyter_token": tls.jupyter_token, "dashboard_token": tls.jupyter_token}
    assert creds["address"].startswith("tls://")
    # Neither the record nor the list ever carries key material or the token.
    for path in ("/clusters/demo", "/clusters"):
        status, shown, _ = get(http, path)
        text = json.dumps(shown)
        assert status == 200 and "demo" in text
        assert not any(m in text for m in KEY_MARKERS) and tls.jupyter_token not in text
        assert tls.client_key not in text and tls.ca not in text

    assert destroy(rt, stack, "demo")["status"] == "SUCCEEDED"
    status, body, _ = get(http, "/clusters/demo/credentials")
    assert status == 409 and body["code"] == "ClusterBusy"


def test_a_cluster_without_a_notebook_has_no_jupyter_token(http: Any, rt: Runtime,
                                                           stack: LocalMode) -> None:
    assert create(rt, stack, "plain")["status"] == "SUCCEEDED"
    status, creds, _ = get(http, "/clusters/plain/credentials")
    assert status == 200 and creds["jupyter_token"] is None and creds["cert"]
    assert len(creds["dashboard_token"]) >= 32  # its dashboard wants the cluster's token


def test_tasks_get_their_pems_and_token_by_ecs_secrets_never_in_plain_sight(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    assert create(rt, stack, "demo", notebook=True)["status"] == "SUCCEEDED"
    record, tls = rt.registry.require("demo"), stored(clients)
    assert stack.agent is not None
    for role, arn in record.resources.task_definitions.items():
        definition = clients.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        [container] = definition["containerDefinitions"]
        # Only references: no PEM or token in the environment or the command.
        plain = json.dumps([container["environment"], container["command"]])
        assert not any(m in plain for m in KEY_MARKERS) and "TOKEN" not in plain
        kind, secret = "client" if role == "notebook" else "node", \
            record.resources.credentials_secret
        assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == {
            "DASKYARD_TLS_CA": f"{secret}:ca::",
            "DASKYARD_TLS_CERT": f"{secret}:{kind}_cert::",
            "DASKYARD_TLS_KEY": f"{secret}:{kind}_key::",
            **({"JUPYTER_TOKEN": f"{secret}:jupyter_token::"} if role == "notebook"
               else {}),
            **({"DASKYARD_DASHBOARD_TOKEN": f"{secret}:jupyter_token::"}
               if role == "scheduler" else {})}
        # The local agent resolves them as ECS does, JSON keys included.
        env = stack.agent._task_env(LocalTask(
            arn="arn:task/x", cluster_arn="arn:cluster/x", group="service:x",
            task_definition=definition, ip="127.0.0.9", eni="eni-x"))
        assert env["DASKYARD_TLS_CA"] == tls.ca
        assert env["DASKYARD_TLS_CERT"] == getattr(tls, f"{kind}_cert")
        assert env["DASKYARD_TLS_KEY"] == getattr(tls, f"{kind}_key")
