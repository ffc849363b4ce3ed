"""Seed step 1: the Jupyter token in Secrets Manager and, for EC2 clusters (Fargate
tasks take no SSH), an EC2 key pair whose private key is kept in SSM SecureString only."""

from __future__ import annotations

import secrets

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok

LEASED = True


def create(rt: Runtime, call: StepCall) -> StepResult:
    cluster, secretsmanager = call.cluster, rt.clients.secrets
    tags = call.names.tags()
    name = call.names.token_secret()
    try:
        arn = secretsmanager.create_secret(Name=name, SecretString=secrets.token_urlsafe(32),
                               Description=f"Jupyter token for Daskyard cluster {cluster}",
                               Tags=naming.kv(tags))["ARN"]
    except ClientError as exc:
        if error_code(exc) != "ResourceExistsException":
            raise
        arn = secretsmanager.describe_secret(SecretId=name)["ARN"]
    call.remember(token_secret=arn)
    if call.spec.launch_type == "EC2":
        _key_pair(rt, call, tags)
    return {"token_secret": arn, "key_pair": call.made.key_pair}


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
    with gone_ok("InvalidKeyPair.NotFound"):
        rt.clients.ec2.delete_key_pair(KeyName=names.base())
    with gone_ok("ParameterNotFound"):
        rt.clients.ssm.delete_parameter(Name=names.private_key_parameter())
    with gone_ok("ResourceNotFoundException"):
        rt.clients.secrets.delete_secret(SecretId=names.token_secret(),
                                          ForceDeleteWithoutRecovery=True)
    return {}
