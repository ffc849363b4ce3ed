"""Seed step 1: the cluster's TLS CA and certificates and its Jupyter token, in one
Secrets Manager secret, and, for a launch type with a shell to reach (EC2's instances;
Fargate tasks take no SSH), an EC2 key pair whose private key is kept in SSM
SecureString only. Each name is derived from the cluster, so the delete twin removes
what a create made before it crashed."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

from botocore.exceptions import ClientError

from chalicelib.core import naming, tls
from chalicelib.core.launch_types import launch_type
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok

# Certificates outlive the longest a cluster may live by this much (clock and slack).
TLS_MARGIN = timedelta(days=30)
# A cluster with teardown 'never' and no TTL has no bound; its certificates get this.
UNBOUNDED_LIFE = timedelta(days=365)


def create(rt: Runtime, call: StepCall) -> StepResult:
    cluster = call.cluster
    tags = call.tags()
    material = replace(tls.generate(cluster, tls_validity(call.spec)),
                       jupyter_token=secrets.token_urlsafe(32))
    call.remember(credentials_secret=_secret(
        rt, call.names.credentials_secret(), material.to_json(), tags,
        f"TLS CA, certificates and Jupyter token of Daskyard cluster {cluster}"))
    if launch_type(call.spec).ssh:
        _key_pair(rt, call, tags)
    return {"credentials_secret": call.made.credentials_secret,
            "key_pair": call.made.key_pair}


def tls_validity(spec: ClusterSpec) -> timedelta:
    """The longest the cluster may live (its TTL, else until the nightly teardown) and
    a margin: certificates that expire soon after the cluster is gone."""
    if spec.ttl_hours is not None:
        life = timedelta(hours=spec.ttl_hours)
    else:
        life = timedelta(days=1) if spec.teardown == "nightly" else UNBOUNDED_LIFE
    return life + TLS_MARGIN


def _secret(rt: Runtime, name: str, value: str, tags: dict[str, str],
            description: str) -> str:
    """The ARN of secret `name`, made with `value` unless a retried step made it before
    (then it stays as it is: tasks may already hold the certificates and the token)."""
    try:
        return str(rt.clients.secrets.create_secret(Name=name, SecretString=value,
                                                    Tags=naming.kv(tags),
                                                    Description=description)["ARN"])
    except ClientError as exc:
        if error_code(exc) != "ResourceExistsException":
            raise
    # GetSecretValue, not DescribeSecret: the one read the steps' policy already grants.
    return str(rt.clients.secrets.get_secret_value(SecretId=name)["ARN"])


def _key_pair(rt: Runtime, call: StepCall, tags: dict[str, str]) -> None:
    ec2, ssm = rt.clients.ec2, rt.clients.ssm
    key_name, param = call.names.base(), call.names.private_key_parameter()
    try:
        key = ec2.create_key_pair(KeyName=key_name, KeyType="ed25519", TagSpecifications=[
            {"ResourceType": "key-pair", "Tags": naming.kv(tags)}])
        call.remember(key_pair=key_name)
        ssm.put_parameter(Name=param, Value=key["KeyMaterial"], Type="SecureString",
                          Tags=naming.kv(tags), Description=f"SSH key for {key_name}")
    except ClientError as exc:
        # A retried step: the pair exists. Its private key is only usable if we stored it.
        if error_code(exc) not in ("InvalidKeyPair.Duplicate", "ParameterAlreadyExists"):
            raise
        call.remember(key_pair=key_name)
    call.remember(private_key_parameter=param)


def delete(rt: Runtime, call: StepCall) -> StepResult:
    names = call.names
    # Looked up first: IAM authorizes DeleteKeyPair by the pair's tags, so deleting a pair
    # that is not there (a Fargate cluster has none) is refused, not "not found".
    with gone_ok("InvalidKeyPair.NotFound"):
        if rt.clients.ec2.describe_key_pairs(KeyNames=[names.base()])["KeyPairs"]:
            rt.clients.ec2.delete_key_pair(KeyName=names.base())
    with gone_ok("ParameterNotFound"):
        rt.clients.ssm.delete_parameter(Name=names.private_key_parameter())
    with gone_ok("ResourceNotFoundException"):
        rt.clients.secrets.delete_secret(SecretId=names.credentials_secret(),
                                          ForceDeleteWithoutRecovery=True)
    return {}
