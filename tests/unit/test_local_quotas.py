"""The moto internals daskyard/local/quotas.py relies on are there, as it expects them."""

from __future__ import annotations

import inspect


def test_moto_service_quotas_internals() -> None:
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS
    from moto.servicequotas.responses import ServiceQuotasResponse

    from daskyard.local import quotas

    get = ServiceQuotasBackend.__dict__["get_service_quota"]
    assert tuple(inspect.signature(get).parameters) == ("self", "service_code", "quota_code")
    assert NoSuchResource().code == 400 or NoSuchResource().error_type == "NoSuchResourceException"
    assert {"QuotaCode", "Value"} <= set(VPC_DEFAULT_QUOTAS[0])
    # The response class dispatches GetServiceQuota to its snake-case method, and has no
    # GetAWSDefaultServiceQuota of its own (when moto adds one, drop ours).
    assert callable(ServiceQuotasResponse.__dict__["get_service_quota"])
    ours = ServiceQuotasResponse.__dict__.get("get_aws_default_service_quota")
    assert ours is None or ours.__module__ == quotas.__name__
    assert {"body", "backend"} <= {n for n, _ in inspect.getmembers(ServiceQuotasResponse)} | {
        "body"}
