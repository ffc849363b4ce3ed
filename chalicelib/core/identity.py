"""Who is asking. Every request has a caller, stored as the owner of what it creates:
the IAM ARN API Gateway verified (SigV4), `slack:<team>/<user>`, `webhook:<key id>`,
or the scheduled teardown acting for the stage. Admins come from the stage config."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.core.settings import Settings

SYSTEM_ID = "daskyard:system"
# An assumed role's session ARN; an admin entry naming the role covers its sessions.
ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True)
class Caller:
    id: str
    admin: bool = False

    def owns(self, owner: str) -> bool:
        """May this caller see and act on a cluster owned by `owner`?"""
        return self.admin or (bool(owner) and owner == self.id)

    def may_use(self, owner: str, shares: list[str]) -> bool:
        """May this caller name a drive owned by `owner` and shared with `shares`?"""
        return self.owns(owner) or self.id in shares


# The stage's own schedules (nightly teardown, TTL expiry, the sweeper).
SYSTEM = Caller(SYSTEM_ID, admin=True)


def _names(caller_id: str) -> set[str]:
    """The ids an admin entry may use for this caller: itself, and for an assumed-role
    session the role's ARN (sessions of an admin role are admins)."""
    names = {caller_id}
    if match := ASSUMED_ROLE.fullmatch(caller_id):
        partition, account, role = match.groups()
        names.add(f"arn:{partition}:iam::{account}:role/{role}")
    return names


def caller(caller_id: str, settings: Settings) -> Caller:
    return Caller(caller_id, admin=bool(_names(caller_id) & set(settings.admins)))
