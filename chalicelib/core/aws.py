"""The one place boto3 clients are made.

One Session, one botocore Config with adaptive retries (standard retries plus a client
side rate limiter that slows down once AWS throttles, so a fan-out of destroys backs off
instead of spending its attempts), and the endpoint from
`AWS_ENDPOINT_URL` (boto3 reads it too) so the whole app can be pointed at an
emulator. Clients are made lazily: a Lambda pays only for the clients it uses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.exceptions import ClientError
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_efs import EFSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_sfn import SFNClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

    from chalicelib.core.quotas import QuotaCache

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5,
                      read_timeout=30)


_PATHS = threading.Lock()  # the shared loader's search paths, which boto3 appends to


@cache
def _models(data_path: str | None) -> botocore.loaders.Loader:
    """One loader of botocore's service models for every Clients in this process: each
    Session would otherwise parse the same JSON models again (EC2's alone is about
    0.1 s of CPU), and local mode makes a Clients per Lambda role and per task's
    execution role. Parsed models are only read."""
    return botocore.loaders.create_loader(data_path)


def _session(region: str, keys: Mapping[str, str]) -> boto3.session.Session:
    core = botocore.session.get_session()
    models = _models(core.get_config_variable("data_path"))  # as botocore makes its own
    core.register_component("data_loader", models)
    with _PATHS:
        session = boto3.session.Session(
            botocore_session=core, region_name=region,
            aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=keys.get("AWS_SESSION_TOKEN"))
        # boto3 adds its data folder to the loader it is given, each time: once will do.
        models.search_paths[:] = dict.fromkeys(models.search_paths)
    return session


class Clients:
    """Lazily made, shared boto3 clients. Pass this object to domain code."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION", "us-east-1")
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        # `credentials` (AWS_ACCESS_KEY_ID... as the environment spells them) sign as one
        # role's session, as a Lambda's role does; by default boto3's own chain.
        self._session = _session(self.region, dict(credentials or {}))
        # Session.client is not thread safe; the local runtime calls from threads.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            return self._session.client(service, config=RETRY_CONFIG,  # type: ignore[call-overload]
                                        endpoint_url=self.endpoint_url)

    @cached_property
    def ec2(self) -> EC2Client:
        return self.client("ec2")

    @cached_property
    def ecs(self) -> ECSClient:
        return self.client("ecs")

    @cached_property
    def efs(self) -> EFSClient:
        return self.client("efs")

    @cached_property
    def ecr(self) -> ECRClient:
        return self.client("ecr")

    @cached_property
    def ssm(self) -> SSMClient:
        return self.client("ssm")

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        return self.client("secretsmanager")

    @cached_property
    def secret_store(self) -> SecretsProvider:
        """Secrets Manager values through powertools' cache: one fetch per container
        per `max_age`, so a signed request is checked without a round trip."""
        # Imported here: only the Lambdas that sign or check a webhook use it, and
        # powertools' parameters package brings a provider for every service it knows.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=self.secrets)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")

    @cached_property
    def sfn(self) -> SFNClient:
        return self.client("stepfunctions")

    @cached_property
    def codebuild(self) -> CodeBuildClient:
        return self.client("codebuild")

    @cached_property
    def autoscaling(self) -> AutoScalingClient:
        return self.client("autoscaling")

    @cached_property
    def logs(self) -> CloudWatchLogsClient:
        return self.client("logs")

    @cached_property
    def events(self) -> EventBridgeClient:
        return self.client("events")

    @cached_property
    def iam(self) -> IAMClient:
        return self.client("iam")

    @cached_property
    def lambda_(self) -> LambdaClient:
        return self.client("lambda")

    @cached_property
    def quotas(self) -> ServiceQuotasClient:
        return self.client("service-quotas")

    @cached_property
    def quota_cache(self) -> QuotaCache:
        """The Service Quotas values this container has read, each for a while
        (chalicelib.core.quotas): kept as long as the clients are."""
        from chalicelib.core.quotas import QuotaCache

        return QuotaCache()

    @cached_property
    def tagging(self) -> ResourceGroupsTaggingAPIClient:
        return self.client("resourcegroupstaggingapi")

    @cached_property
    def sts(self) -> STSClient:
        return self.client("sts")

    @cached_property
    def account_id(self) -> str:
        return self.sts.get_caller_identity()["Account"]


def error_code(exc: ClientError) -> str:
    """An AWS error's code ("" when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
