"""Removes a stage's spare drives (chalicelib/steps/spare_drives.py) and their security
group, which live outside the CloudFormation stack: `make destroy-stack` runs this
first, with the deployer's credentials.

    python -m deploy.spares STAGE     # exit 1, saying what is left, after 10 minutes
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.registry import Registry
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from chalicelib.steps import spare_drives

PATIENCE = 600  # seconds: mount targets take a minute or two to go
POLL = 10


def remove(stage: str, patience: float = PATIENCE, poll: float = POLL) -> list[str]:
    """Remove what the stage keeps spare; returns what is left (nothing when done)."""
    settings = Settings.from_env({**os.environ, "DASKYARD_STAGE": stage,
                                  "DASKYARD_SPARE_DRIVES": "0"})
    clients = Clients(region=settings.region)
    rt = Runtime(settings, clients, Registry(clients.dynamodb, settings.table,
                                                   settings.ended_record_days))
    deadline = time.monotonic() + patience
    while True:
        removed = spare_drives.keep(rt)["removed"]
        left = [fs["FileSystemId"] for fs in spare_drives.untaken(rt)]
        for fs_id in removed:
            print(f"removed spare drive {fs_id}")
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    if left:
        return left
    groups = clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [naming.spares_group(stage)]},
        {"Name": f"tag:{naming.TAG_STAGE}", "Values": [stage]}])["SecurityGroups"]
    for group in groups:
        try:
            clients.ec2.delete_security_group(GroupId=group["GroupId"])
        except ClientError as exc:  # a mount target's interface still being released
            return [f"{group['GroupId']} ({exc.response['Error']['Code']})"]
        print(f"removed security group {group['GroupId']}")
    return []


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or not naming.STAGE_NAME.fullmatch(argv[0]):
        print("usage: python -m deploy.spares STAGE", file=sys.stderr)
        return 2
    left = remove(argv[0])
    if left:
        print(f"still there after {PATIENCE} s: {', '.join(left)}; run it again",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
