"""Who is asking. Every request has a caller, stored as the owner of what it creates:
the IAM principal API Gateway verified (SigV4), by its unique id (`aws:userid`, not a
name the caller picks), `slack:<team>/<user>`, `webhook:<key id>`, or the scheduled
teardown acting for the stage. Admins come from the stage config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import Forbidden, Unauthorized
from chalicelib.core.settings import Settings

SYSTEM_ID = "daskyard:system"
# An assumed role's session ARN (API Gateway's `userArn` for a role session). Its
# session name is whatever the caller passed to AssumeRole.
ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/(.+)")
# A role's ARN (a path may come before the name; the session ARN has none).
ROLE = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:.+/)?([^/]+)")
# `aws:userid` of a role session: the role's unique id, then the session name.
ROLE_SESSION_ID = re.compile(r"(AROA[A-Z0-9]{8,}):(.+)")
# GetFederationToken's users: `<account>:<name>`, the name the caller passed.
FEDERATED_USER = re.compile(r"arn:aws[a-z-]*:sts::[0-9]{12}:federated-user/.+")


class UntrustedSession(Forbidden):
    """A session whose name tells nobody apart: a trusted role's under a name not of
    the stage's form, or a federated user's (GetFederationToken takes any name)."""


@dataclass(frozen=True)
class Caller:
    id: str
    admin: bool = False
    # Owners this caller held before owners were principal ids (IAM ARNs): exact, and
    # a prefix (every session ARN of a role whose session names are not trusted).
    former: tuple[str, ...] = ()
    former_prefix: str = ""

    def owns(self, owner: str) -> bool:
        """May this caller see and act on a cluster owned by `owner`?"""
        if self.admin:
            return True
        if not owner:
            return False
        return owner == self.id or owner in self.former or \
            (bool(self.former_prefix) and owner.startswith(self.former_prefix))

    def may_use(self, owner: str, shares: list[str]) -> bool:
        """May this caller name a drive owned by `owner` and shared with `shares`?"""
        return self.owns(owner) or self.id in shares


# The stage's own schedules (nightly teardown, TTL expiry, the sweeper).
SYSTEM = Caller(SYSTEM_ID, admin=True)


def _names(caller_id: str) -> set[str]:
    """The ids an admin entry may use for this caller: itself, and for a role session
    its role (sessions of an admin role are admins): the role's id for `<role id>:
    <session>`, the role's ARN for an assumed-role ARN (an owner of before principal
    ids, or a trusted session's ARN)."""
    names = {caller_id}
    if match := ROLE_SESSION_ID.fullmatch(caller_id):
        names.add(match[1])
    if match := ASSUMED_ROLE.fullmatch(caller_id):
        partition, account, role, _ = match.groups()
        names.add(f"arn:{partition}:iam::{account}:role/{role}")
    return names


def _is_admin(names: set[str], settings: Settings) -> bool:
    return bool(names & set(settings.admins))


def caller(caller_id: str, settings: Settings) -> Caller:
    """The caller an owner id stands for (Slack, webhooks, a record's owner)."""
    return Caller(caller_id, admin=_is_admin(_names(caller_id), settings))


def _trusted_role(settings: Settings, role_id: str, partition: str, account: str,
                  role: str) -> bool:
    """Does the stage trust this role's session names (its trust policy pins them)?"""
    for entry in settings.trusted_session_roles:
        if entry == role_id:
            return True
        if (match := ROLE.fullmatch(entry)) and match.groups() == (partition, account, role):
            return True
    return False


def iam_caller(identity: Mapping[str, Any], settings: Settings) -> Caller:
    """The caller of a request API Gateway verified, from its request context's
    `identity`: the principal's unique id (`user`: `AIDA...` for an IAM user,
    `AROA...:<session>` for a role session), as IAM's `aws:userid`.

    A role session's name is chosen by whoever assumes the role, so it names an owner
    only for the roles the stage trusts (`trusted_session_roles`, whose trust policies
    pin the name), and then only in the stage's form (`trusted_session_name`); every
    other role's sessions are one owner, the role's id. An IAM user's id is unique to
    it (a user made again under the same name has another)."""
    arn, user = str(identity.get("userArn") or ""), str(identity.get("user") or "")
    if not arn or not user:
        raise Unauthorized("no verified caller: sign the request with SigV4 (IAM)")
    if FEDERATED_USER.fullmatch(arn):
        raise UntrustedSession("a federated user is a name its caller picked: sign as "
                               "an IAM user or a role session")
    session = ASSUMED_ROLE.fullmatch(arn)
    if session is None:  # an IAM user (or the account's root)
        names = {user, arn}  # the user's ARN: admin entries and owners of before
        return Caller(user, admin=_is_admin(names, settings), former=(arn,))
    partition, account, role, name = session.groups()
    role_id, _, named = user.partition(":")
    if named != name:
        raise Unauthorized("the caller's id and ARN name different sessions")
    role_arn = f"arn:{partition}:iam::{account}:role/{role}"
    if _trusted_role(settings, role_id, partition, account, role):
        if not re.fullmatch(settings.trusted_session_name, name):
            raise UntrustedSession(f"a session of {role} must be named as the stage "
                                   "trusts (DASKYARD_TRUSTED_SESSION_NAME)")
        names = {user, role_id, role_arn, arn}
        return Caller(user, admin=_is_admin(names, settings), former=(arn,))
    # Anyone who may assume this role may pick any session name: one owner, the role.
    return Caller(role_id, admin=_is_admin({role_id, role_arn}, settings),
                  former_prefix=f"arn:{partition}:sts::{account}:assumed-role/{role}/")
