"""Callers for tests that drive lifecycle directly (the HTTP tests sign as IAM users)."""

from chalicelib.core.identity import Caller

ALICE = Caller("arn:aws:iam::123456789012:user/alice")
BOB = Caller("arn:aws:iam::123456789012:user/bob")
