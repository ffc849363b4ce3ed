"""Service Quotas in local mode. moto answers GetServiceQuota for the `vpc` service only
and has no GetAWSDefaultServiceQuota: local mode adds the latter, answered with AWS's
documented defaults for the quotas the doctor reads, and lets a test apply a quota
(`apply`) as an account's own value. A quota never applied answers GetServiceQuota with
NoSuchResourceException, as AWS does for a quota with only its default, so the doctor
falls back to the default and says so.

moto internals touched (guarded by tests/unit/test_local_quotas.py): the backend class
`moto.servicequotas.models.ServiceQuotasBackend` (its `get_service_quota`, wrapped once)
and the response class `ServiceQuotasResponse`, which dispatches an operation to the
method of its snake-case name (one added)."""

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
}
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


def apply(service: str, code: str, value: float, region: str = REGION) -> None:
    """Make `value` the account's applied quota (until the next reset of local mode),
    as an approved quota request would."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.servicequotas.models import servicequotas_backends

    backend: Any = servicequotas_backends[DEFAULT_ACCOUNT_ID][region]
    if not hasattr(backend, "daskyard_applied"):  # a reset makes the backend afresh
        backend.daskyard_applied = {}
    backend.daskyard_applied[(service, code)] = value
