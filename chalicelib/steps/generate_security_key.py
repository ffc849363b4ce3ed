"""Seed step 1: an EC2 key pair (private key kept in SSM SecureString only) and the
Jupyter token in Secrets Manager."""

from __future__ import annotations

import secrets

from botocore.exceptions import ClientError

from chalicelib import naming
from chalicelib.steps import StepContext, StepResult, error_code, gone_ok


def create(ctx: StepContext) -> StepResult:
    c, ec2, ssm, sm = ctx.cluster, ctx.clients.ec2, ctx.clients.ssm, ctx.clients.secrets
    tags = naming.tags(c)
    key_name, param = naming.base(c), naming.private_key_parameter(c)
    try:
        key = ec2.create_key_pair(KeyName=key_name, KeyType="ed25519", TagSpecifications=[
            {"ResourceType": "key-pair", "Tags": naming.kv(tags)}])
        ctx.remember("key_pair", key_name)
        ssm.put_parameter(Name=param, Value=key["KeyMaterial"], Type="SecureString",
                          Tags=naming.kv(tags), Description=f"SSH key for {key_name}")
    except ClientError as exc:
        # A retried step: the pair exists. Its private key is only usable if we stored it.
        if error_code(exc) not in ("InvalidKeyPair.Duplicate", "ParameterAlreadyExists"):
            raise
        ctx.remember("key_pair", key_name)
    ctx.remember("private_key_parameter", param)

    name = naming.token_secret(c)
    try:
        arn = sm.create_secret(Name=name, SecretString=secrets.token_urlsafe(32),
                               Description=f"Jupyter token for Daskyard cluster {c}",
                               Tags=naming.kv(tags))["ARN"]
    except ClientError as exc:
        if error_code(exc) != "ResourceExistsException":
            raise
        arn = sm.describe_secret(SecretId=name)["ARN"]
    ctx.remember("token_secret", arn)
    return {"key_pair": key_name, "token_secret": arn}


def delete(ctx: StepContext) -> StepResult:
    c = ctx.cluster
    with gone_ok("InvalidKeyPair.NotFound"):
        ctx.clients.ec2.delete_key_pair(KeyName=naming.base(c))
    with gone_ok("ParameterNotFound"):
        ctx.clients.ssm.delete_parameter(Name=naming.private_key_parameter(c))
    with gone_ok("ResourceNotFoundException"):
        ctx.clients.secrets.delete_secret(SecretId=naming.token_secret(c),
                                          ForceDeleteWithoutRecovery=True)
    return {}
