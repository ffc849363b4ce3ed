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

moto internals touched (declared in daskyard.local.seam): the backend's
`get_service_quota`, wrapped once, and the response class `ServiceQuotasResponse`, which
dispatches an operation to the method of its snake-case name (one added); IAM's account
summary (`summary_map`), `IAMBackend.create_role` and `EFSBackend.create_file_system`,
wrapped once."""

from __future__ import annotations

import json
from typing import Any

from daskyard.local import seam

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


def _quota(service: str, code: str, name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": service, "QuotaCode": code, "QuotaName": name, "Value": value,
            "QuotaArn": f"arn:aws:servicequotas:{REGION}:123456789012:{service}/{code}",
            "Unit": "None", "Adjustable": True, "GlobalQuota": False}


def _default(service: str, code: str) -> dict[str, Any]:
    if (service, code) in DEFAULTS:
        return _quota(service, code, *DEFAULTS[(service, code)])
    if service == "vpc":
        for found in seam.get(
                "moto.servicequotas.resources.default_quotas.vpc.VPC_DEFAULT_QUOTAS"):
            if found["QuotaCode"] == code:
                return dict(found)
    raise seam.get("moto.servicequotas.exceptions.NoSuchResource")()


def _applied(original: Any) -> Any:
    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        applied = getattr(self, "daskyard_applied", {})
        if (service_code, quota_code) in applied:
            name = DEFAULTS.get((service_code, quota_code), (quota_code, 0.0))[0]
            return _quota(service_code, quota_code, name, applied[(service_code, quota_code)])
        return dict(original(self, service_code, quota_code))

    return get_service_quota


def get_aws_default_service_quota(self: Any) -> str:
    """GetAWSDefaultServiceQuota, on moto's response class."""
    params = json.loads(self.body)
    found = _default(str(params.get("ServiceCode")), str(params.get("QuotaCode")))
    return json.dumps({"Quota": found})


def install() -> None:
    """Once per process (moto's classes are process-wide)."""
    seam.wrap_once("moto.servicequotas.models.ServiceQuotasBackend.get_service_quota",
                   _applied, install)
    seam.add("moto.servicequotas.responses.ServiceQuotasResponse."
             "get_aws_default_service_quota", get_aws_default_service_quota)
    _enforce()


def limit(service: str, code: str, region: str) -> float:
    """The quota in force: the applied value, else AWS's default."""
    backend = seam.backend("servicequotas", seam.get("moto.core.DEFAULT_ACCOUNT_ID"), region)
    applied = getattr(backend, "daskyard_applied", {})
    return float(applied.get((service, code), DEFAULTS[(service, code)][1]))


def _enforce() -> None:
    """The roles and file systems quotas, as IAM and EFS hold them."""
    efs_error = seam.get("moto.efs.exceptions.EFSError")
    roles_exceeded = seam.get("moto.iam.exceptions.LimitExceededException")

    def file_systems_exceeded(most: float) -> Exception:
        refusal: Exception = efs_error("FileSystemLimitExceeded", "You have reached the "
                                       f"maximum number of file systems: {most:g}")
        refusal.code = 403  # type: ignore[attr-defined]  # as EFS answers it
        return refusal

    def summary(original: Any) -> Any:
        def roles_quota(self: Any) -> dict[str, Any]:
            return {**original(self), "RolesQuota": int(limit(*IAM_ROLES, GLOBAL_REGION))}
        return roles_quota

    def roles(original: Any) -> Any:
        def create_role(self: Any, role_name: str, *args: Any, **kwargs: Any) -> Any:
            most = int(limit(*IAM_ROLES, GLOBAL_REGION))
            if len(self.roles) >= most:
                raise roles_exceeded(f"Cannot exceed quota for RolesPerAccount: {most}")
            return original(self, role_name, *args, **kwargs)
        return create_role

    def file_systems(original: Any) -> Any:
        def create_file_system(self: Any, creation_token: str, *args: Any,
                               **kwargs: Any) -> Any:
            systems = self.file_systems_by_id.values()
            known = any(fs.creation_token == creation_token for fs in systems)
            most = limit(*EFS_FILE_SYSTEMS, self.region_name)
            if not known and len(systems) >= most:  # a known token: FileSystemAlreadyExists
                raise file_systems_exceeded(most)
            return original(self, creation_token, *args, **kwargs)
        return create_file_system

    seam.wrap_once("moto.iam.models.AccountSummary.summary_map", summary, _enforce)
    seam.wrap_once("moto.iam.models.IAMBackend.create_role", roles, _enforce)
    seam.wrap_once("moto.efs.models.EFSBackend.create_file_system", file_systems, _enforce)


def apply(service: str, code: str, value: float, region: str = REGION) -> None:
    """Make `value` the account's applied quota (until the next reset of local mode),
    as an approved quota request would."""
    backend = seam.backend("servicequotas", seam.get("moto.core.DEFAULT_ACCOUNT_ID"), region)
    if not hasattr(backend, "daskyard_applied"):  # a reset makes the backend afresh
        backend.daskyard_applied = {}
    backend.daskyard_applied[(service, code)] = value
