"""Callers and admins (chalicelib/core/identity.py)."""

from chalicelib.core.identity import SYSTEM, caller
from chalicelib.core.settings import Settings

ROLE = "arn:aws:iam::123456789012:role/Platform"
SESSION = "arn:aws:sts::123456789012:assumed-role/Platform/alice@example.com"


def test_admins_come_from_the_stage_and_an_admin_role_covers_its_sessions() -> None:
    settings = Settings(admins=[ROLE, "slack:T1/U1"])
    assert caller(SESSION, settings).admin
    assert caller("slack:T1/U1", settings).admin
    assert not caller("slack:T1/U2", settings).admin
    assert not caller("arn:aws:sts::123456789012:assumed-role/Platform2/x", settings).admin
    assert not caller("arn:aws:iam::123456789012:user/Platform", settings).admin


def test_a_caller_owns_its_own_clusters_and_an_admin_all() -> None:
    alice = caller("arn:aws:iam::123456789012:user/alice", Settings())
    assert alice.owns(alice.id) and not alice.owns("arn:aws:iam::123456789012:user/bob")
    assert not alice.owns("")  # a record without an owner is an admin's to act on
    assert SYSTEM.owns("anyone") and SYSTEM.owns("")
