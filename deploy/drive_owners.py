"""Owners for the named drives a stage made before drives had owners, run once after the
upgrade with the deployer's credentials. Until a drive has an owner, the first create
naming it takes it: this gives each old drive the owner its clusters had instead.

    python -m deploy.drive_owners STAGE                       # list, change nothing
    python -m deploy.drive_owners STAGE --adopt               # owners where one is clear
    python -m deploy.drive_owners STAGE --owner DRIVE=ARN     # the operator decides

A drive whose cluster records name one owner is clear; one that several owners' clusters
named is not (any of them may have planted files on it: the audit's attack), nor one no
record names any more: those wait for `--owner`. Their files stay where they were (in
`/shared` on the file system), outside every owner's folder, until an operator moves
them."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.registry import Registry
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings


def unowned(rt: Runtime) -> dict[str, list[str]]:
    """Drive -> the owners whose cluster records named it, earliest first, for each of
    the stage's named drives without an owner."""
    stage = rt.settings.stage
    drives = set()
    for page in rt.clients.efs.get_paginator("describe_file_systems").paginate():
        for fs in page["FileSystems"]:
            tags = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}
            if tags.get(naming.TAG_STAGE) == stage and naming.TAG_DRIVE in tags:
                drives.add(tags[naming.TAG_DRIVE])
    records = sorted(rt.registry.list(), key=lambda r: r.created_at)
    found: dict[str, list[str]] = {}
    for drive in sorted(drives):
        if rt.drives.get(drive) is None:
            owners = [r.owner for r in records if r.spec.drive == drive and r.owner]
            found[drive] = list(dict.fromkeys(owners))
    return found


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    adopt = "--adopt" in args
    assigned: dict[str, str] = {}
    while "--owner" in args:
        at = args.index("--owner")
        drive, _, owner = (args[at + 1] if at + 1 < len(args) else "").partition("=")
        if not owner:
            print("--owner DRIVE=PRINCIPAL", file=sys.stderr)
            return 2
        assigned[drive] = owner
        del args[at:at + 2]
    stages = [a for a in args if a != "--adopt"]
    if len(stages) != 1 or not naming.STAGE_NAME.fullmatch(stages[0]):
        print("usage: python -m deploy.drive_owners STAGE [--adopt] [--owner DRIVE=ARN]",
              file=sys.stderr)
        return 2
    settings = Settings.from_env({**os.environ, "DASKYARD_STAGE": stages[0]})
    clients = Clients(region=settings.region)
    rt = Runtime(settings, clients, Registry(clients.dynamodb, settings.table))
    waiting = 0
    for drive, owners in unowned(rt).items():
        owner = assigned.get(drive) or (owners[0] if adopt and len(owners) == 1 else "")
        if owner:
            made = rt.drives.claim(drive, owner)
            print(f"{drive}: owner {made.owner}")
        else:
            waiting += 1
            print(f"{drive}: no owner; named by {', '.join(owners) or 'no live record'}")
    return 1 if waiting and (adopt or assigned) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
