"""Callers and admins (chalicelib/core/identity.py)."""

import pytest
from pydantic import ValidationError

from chalicelib.core.errors import Unauthorized
from chalicelib.core.identity import SYSTEM, UntrustedSession, caller, iam_caller
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


ACCOUNT = "123456789012"
SHARED_ID = "AROASHAREDROLE0000001"  # the role's unique id, as IAM gives it
ALICE_ID = "AIDAALICEUSER00000001"


def session(name: str, role: str = "Shared", role_id: str = SHARED_ID) -> dict[str, str]:
    """API Gateway's `requestContext.identity` for a session of `role` named `name`."""
    return {"user": f"{role_id}:{name}", "caller": f"{role_id}:{name}",
            "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}",
            "accountId": ACCOUNT}


def iam_user(name: str, user_id: str) -> dict[str, str]:
    return {"user": user_id, "caller": user_id, "accountId": ACCOUNT,
            "userArn": f"arn:aws:iam::{ACCOUNT}:user/{name}"}


TRUSTING = Settings(trusted_session_roles=[SHARED_ID],
                    trusted_session_name=r"[a-z]+@example\.com")


def test_an_iam_user_is_its_unique_id_and_keeps_what_its_arn_owned() -> None:
    alice = iam_caller(iam_user("alice", ALICE_ID), Settings())
    assert alice.id == ALICE_ID and alice.owns(ALICE_ID)
    assert alice.owns(f"arn:aws:iam::{ACCOUNT}:user/alice")  # a record of before
    assert not alice.owns(f"arn:aws:iam::{ACCOUNT}:user/bob")
    assert not alice.owns("AIDABOBUSER0000000001")


def test_two_sessions_of_a_role_are_two_owners_only_when_the_stage_trusts_its_names(
        ) -> None:
    a, b = session("alice@example.com"), session("bob@example.com")
    # Untrusted (the default): whoever may assume the role picks the name, so every
    # session of it is one owner, the role's id.
    one, other = iam_caller(a, Settings()), iam_caller(b, Settings())
    assert one.id == other.id == SHARED_ID
    assert one.owns(other.id) and other.owns(one.id)
    # Trusted (its trust policy pins the name): each session is its own owner.
    one, other = iam_caller(a, TRUSTING), iam_caller(b, TRUSTING)
    assert (one.id, other.id) == (f"{SHARED_ID}:alice@example.com",
                                  f"{SHARED_ID}:bob@example.com")
    assert not one.owns(other.id) and not other.owns(one.id)
    # A role trusted by its ARN is the same.
    by_arn = Settings(trusted_session_roles=[f"arn:aws:iam::{ACCOUNT}:role/team/Shared"])
    assert iam_caller(a, by_arn).id == f"{SHARED_ID}:alice@example.com"


def test_a_session_name_chosen_by_the_caller_does_not_make_them_anothers_owner() -> None:
    alice_user = iam_caller(iam_user("alice", ALICE_ID), Settings())
    # Bob may assume the shared role and names his session "alice" (and her user id):
    # he is the role, not alice.
    for name in ("alice", ALICE_ID, "alice@example.com"):
        bob = iam_caller(session(name), Settings())
        assert bob.id == SHARED_ID
        assert not bob.owns(alice_user.id) and not bob.owns(f"{SHARED_ID}:{name}")
        assert not bob.owns(f"arn:aws:iam::{ACCOUNT}:user/alice")
    # Another role's session of the same name is another owner.
    alice = iam_caller(session("alice@example.com"), TRUSTING)
    other = iam_caller(session("alice@example.com", "Other", "AROAOTHERROLE00000001"),
                       TRUSTING)
    assert other.id == "AROAOTHERROLE00000001" and not other.owns(alice.id)
    # A trusted role's session not named in the stage's form is refused, not guessed at.
    with pytest.raises(UntrustedSession):
        iam_caller(session("alice"), TRUSTING)
    # A federated user is a name whoever called GetFederationToken picked.
    with pytest.raises(UntrustedSession):
        iam_caller({"user": f"{ACCOUNT}:alice", "caller": f"{ACCOUNT}:alice",
                    "userArn": f"arn:aws:sts::{ACCOUNT}:federated-user/alice"}, Settings())
    # The id and the ARN must name one session (API Gateway's always do).
    forged = {**session("bob@example.com"), "userArn": session("alice@example.com")["userArn"]}
    with pytest.raises(Unauthorized):
        iam_caller(forged, TRUSTING)
    with pytest.raises(Unauthorized):
        iam_caller({}, Settings())


def test_admins_by_principal_id_and_no_admin_by_a_chosen_session_name() -> None:
    admin_session = f"arn:aws:sts::{ACCOUNT}:assumed-role/Shared/admin"
    settings = Settings(admins=[ALICE_ID, "AROAPLATFORM000000001", admin_session])
    assert iam_caller(iam_user("alice", ALICE_ID), settings).admin
    assert iam_caller(session("anyone", "Platform", "AROAPLATFORM000000001"), settings).admin
    # A session ARN in the admins names whoever picks that session name: not an admin
    # unless the stage trusts the role's names.
    assert not iam_caller(session("admin"), settings).admin
    trusted = settings.model_copy(update={"trusted_session_roles": [SHARED_ID]})
    assert iam_caller(session("admin"), trusted).admin
    assert not iam_caller(session("someone"), trusted).admin
    # A recorded owner id (a quota check) is an admin by the same entries.
    assert caller("AROAPLATFORM000000001:x", settings).admin
    assert caller(ALICE_ID, settings).admin and not caller("AIDABOB", settings).admin


def test_records_of_before_principal_ids_keep_their_owners() -> None:
    """Owners were ARNs: an IAM user's, a session's. The user keeps its records; a
    trusted session keeps its session's; an untrusted role's sessions (one owner now)
    share what any of its sessions made, as anyone who may assume it always could."""
    assert iam_caller(session("alice@example.com"), TRUSTING).owns(
        session("alice@example.com")["userArn"])
    assert not iam_caller(session("bob@example.com"), TRUSTING).owns(
        session("alice@example.com")["userArn"])
    role = iam_caller(session("x"), Settings())
    assert role.owns(session("alice@example.com")["userArn"])
    assert not role.owns(f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/alice@example.com")
    assert not role.owns(f"arn:aws:sts::{ACCOUNT}:assumed-role/SharedTwo/x")


def test_a_stage_refuses_a_session_name_pattern_that_is_not_a_regex() -> None:
    with pytest.raises(ValidationError):
        Settings(trusted_session_name="(")
