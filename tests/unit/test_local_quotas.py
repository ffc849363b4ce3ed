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



def test_moto_iam_and_efs_internals() -> None:
    """What local mode's roles and file systems quotas wrap and count
    (daskyard/local/quotas.py): moto's own code, read as source (the classes may be
    wrapped already in this process)."""
    import moto.efs.models
    import moto.iam.models
    from moto.efs.exceptions import EFSError
    from moto.iam.exceptions import LimitExceededException

    iam, efs = inspect.getsource(moto.iam.models), inspect.getsource(moto.efs.models)
    assert "    @property\n    def summary_map(self)" in iam
    assert '"RolesQuota": self._roles_quota' in iam
    assert "    def create_role(\n        self,\n        role_name: str," in iam
    assert "self.roles[role_id] = role" in iam
    assert "    def create_file_system(\n        self,\n        creation_token: str," in efs
    assert "self.file_systems_by_id[fsid] = " in efs or "self.file_systems_by_id[" in efs
    assert LimitExceededException.code == "LimitExceeded"
    assert EFSError("FileSystemLimitExceeded", "x").error_type == "FileSystemLimitExceeded"
