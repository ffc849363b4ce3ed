"""Service Quotas in local mode. moto answers GetServiceQuota for the `vpc` service only
and has no GetAWSDefaultServiceQuota: local mode adds the latter, answered with AWS's
documented defaults for the quotas the doctor reads, and lets a test apply a quota
(`apply`) as an account's own value. A quota never applied answers GetServiceQuota with
NoSuchResourceException, as AWS does for a quota with only its default, so the doctor
falls back to the default and says so.

moto internals touched (declared in daskyard.local.seam): the backend's
`get_service_quota`, wrapped once, and the response class `ServiceQuotasResponse`, which
dispatches an operation to the method of its snake-case name (one added)."""

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
}


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


def apply(service: str, code: str, value: float, region: str = REGION) -> None:
    """Make `value` the account's applied quota (until the next reset of local mode),
    as an approved quota request would."""
    backend = seam.backend("servicequotas", seam.get("moto.core.DEFAULT_ACCOUNT_ID"), region)
    if not hasattr(backend, "daskyard_applied"):  # a reset makes the backend afresh
        backend.daskyard_applied = {}
    backend.daskyard_applied[(service, code)] = value
