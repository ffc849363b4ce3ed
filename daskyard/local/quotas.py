"""Service Quotas in local mode. moto answers GetServiceQuota for the `vpc` service only
and has no GetAWSDefaultServiceQuota: local mode adds the latter, answered with AWS's
documented defaults for the quotas Daskyard reads, and lets a test apply a quota
(`apply`) as an account's own value. A quota never applied answers GetServiceQuota with
NoSuchResourceException, as AWS does for a quota with only its default, so the reader
falls back to the default and says so.

The IAM roles and EFS file systems quotas hold as AWS holds them: IAM's account summary
gives the roles quota in force (RolesQuota; moto's is fixed at 1,000), CreateRole past it
is refused with LimitExceeded and CreateFileSystem past its quota with
FileSystemLimitExceeded (moto refuses neither).

moto internals touched (guarded by tests/unit/test_local_quotas.py): the backend class
`moto.servicequotas.models.ServiceQuotasBackend` (its `get_service_quota`, wrapped once)
and the response class `ServiceQuotasResponse`, which dispatches an operation to the
method of its snake-case name (one added); `moto.iam.models.AccountSummary.summary_map`
(a property), `IAMBackend.create_role` and its `roles`, `EFSBackend.create_file_system`
and its `file_systems_by_id`."""

from __future__ import annotations

import json
from typing import Any

REGION = "us-east-1"
# (service code, quota code) -> (name, default) from AWS's documentation: Fargate's in
# "Amazon ECS endpoints and quotas" (AWS General Reference), EFS's in "Amazon EFS
# quotas". The vpc service's come from moto's table.
DEFAULTS: dict[tuple[str, str], tuple[str, float]] = {
    ("fargate", "L-3032A538"): ("Fargate On-Demand vCPU resource count", 6.0),
    ("fargate", "L-36FBB829"): ("Fargate Spot vCPU resource count", 6.0),
    ("elasticfilesystem", "L-848C634D"): ("File systems per account", 1000.0),
    ("iam", "L-FE177D64"): ("Roles per account", 1000.0),
}
IAM_ROLES = ("iam", "L-FE177D64")
EFS_FILE_SYSTEMS = ("elasticfilesystem", "L-848C634D")
# Service Quotas keeps a global service's quotas (IAM's) in us-east-1.
GLOBAL_REGION = "us-east-1"
_MARK = "__daskyard_quotas__"


def _quota(service: str, code: str, name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": service, "QuotaCode": code, "QuotaName": name, "Value": value,
            "QuotaArn": f"arn:aws:servicequotas:{REGION}:123456789012:{service}/{code}",
            "Unit": "None", "Adjustable": True, "GlobalQuota": False}


def _default(backend: Any, service: str, code: str) -> dict[str, Any]:
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    if (service, code) in DEFAULTS:
        return _quota(service, code, *DEFAULTS[(service, code)])
    if service == "vpc":
        for found in VPC_DEFAULT_QUOTAS:
            if found["QuotaCode"] == code:
                return dict(found)
    raise NoSuchResource


def install() -> None:
    """Once per process (moto's classes are process-wide)."""
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    original = ServiceQuotasBackend.__dict__["get_service_quota"]
    if getattr(original, _MARK, False):
        return
    _enforce()

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        applied = getattr(self, "daskyard_applied", {})
        if (service_code, quota_code) in applied:
            name = DEFAULTS.get((service_code, quota_code), (quota_code, 0.0))[0]
            return _quota(service_code, quota_code, name, applied[(service_code, quota_code)])
        return dict(original(self, service_code, quota_code))

    def get_aws_default_service_quota(self: Any) -> str:
        params = json.loads(self.body)
        found = _default(self.backend, str(params.get("ServiceCode")),
                         str(params.get("QuotaCode")))
        return json.dumps({"Quota": found})

    setattr(get_service_quota, _MARK, True)
    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]
    ServiceQuotasResponse.get_aws_default_service_quota = (  # type: ignore[attr-defined]
        get_aws_default_service_quota)


def limit(service: str, code: str, region: str) -> float:
    """The quota in force: the applied value, else AWS's default."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.servicequotas.models import servicequotas_backends

    backend: Any = servicequotas_backends[DEFAULT_ACCOUNT_ID][region]
    applied = getattr(backend, "daskyard_applied", {})
    return float(applied.get((service, code), DEFAULTS[(service, code)][1]))


def _enforce() -> None:
    """The roles and file systems quotas, as IAM and EFS hold them."""
    from moto.efs.exceptions import EFSError
    from moto.efs.models import EFSBackend
    from moto.iam.exceptions import LimitExceededException
    from moto.iam.models import AccountSummary, IAMBackend

    class FileSystemLimitExceeded(EFSError):
        code = 403  # as EFS answers it

        def __init__(self, most: float) -> None:
            super().__init__("FileSystemLimitExceeded",
                             f"You have reached the maximum number of file systems: {most:g}")

    summary_map = AccountSummary.__dict__["summary_map"]

    def roles_quota(self: Any) -> dict[str, Any]:
        return {**summary_map.fget(self), "RolesQuota": int(limit(*IAM_ROLES, GLOBAL_REGION))}

    AccountSummary.summary_map = property(roles_quota)  # type: ignore[assignment,method-assign]

    create_role = IAMBackend.__dict__["create_role"]

    def create_role_within_quota(self: Any, role_name: str, *args: Any, **kwargs: Any) -> Any:
        most = int(limit(*IAM_ROLES, GLOBAL_REGION))
        if len(self.roles) >= most:
            raise LimitExceededException(f"Cannot exceed quota for RolesPerAccount: {most}")
        return create_role(self, role_name, *args, **kwargs)

    IAMBackend.create_role = create_role_within_quota  # type: ignore[method-assign]

    create_file_system = EFSBackend.__dict__["create_file_system"]

    def create_file_system_within_quota(self: Any, creation_token: str, *args: Any,
                                        **kwargs: Any) -> Any:
        systems = self.file_systems_by_id.values()
        known = any(fs.creation_token == creation_token for fs in systems)
        most = limit(*EFS_FILE_SYSTEMS, self.region_name)
        if not known and len(systems) >= most:  # a known token: FileSystemAlreadyExists
            raise FileSystemLimitExceeded(most)
        return create_file_system(self, creation_token, *args, **kwargs)

    EFSBackend.create_file_system = create_file_system_within_quota  # type: ignore[method-assign]


def apply(service: str, code: str, value: float, region: str = REGION) -> None:
    """Make `value` the account's applied quota (until the next reset of local mode),
    as an approved quota request would."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.servicequotas.models import servicequotas_backends

    backend: Any = servicequotas_backends[DEFAULT_ACCOUNT_ID][region]
    if not hasattr(backend, "daskyard_applied"):  # a reset makes the backend afresh
        backend.daskyard_applied = {}
    backend.daskyard_applied[(service, code)] = value
