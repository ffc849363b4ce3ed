"""deploy/scan_policies.py: the template's policies reach parliament as plain ARNs, the
checked-in policies pass with their skips, and an unskipped finding or a stale skip fails."""

from __future__ import annotations

import json

import pytest

from deploy.scan_policies import Skip, load_skips, policies, scan

WILDCARD = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Oops", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def test_every_template_role_policy_is_scanned_without_intrinsics() -> None:
    names = [name for name, _ in policies()]
    assert ".chalice/policy-steps.json" in names
    assert "template:StatesRole/daskyard" in names
    for name, text in policies():
        assert "${" not in text and "Fn::" not in text and '"Ref"' not in text, name


def test_checked_in_policies_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert scan(policies(), load_skips()) == 0, capsys.readouterr().out


def test_an_unskipped_finding_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert scan([("scratch.json", WILDCARD)], []) == 1
    assert "FAILED: scratch.json [Oops] RESOURCE_STAR" in capsys.readouterr().out


def test_a_skip_covers_only_its_policy_issue_and_actions() -> None:
    skip = Skip("scratch.json", "RESOURCE_STAR", ["s3:GetObject"], "a reason")
    assert scan([("scratch.json", WILDCARD)], [skip]) == 0
    other = Skip("other.json", "RESOURCE_STAR", ["s3:GetObject"], "a reason")
    assert scan([("scratch.json", WILDCARD)], [other]) == 1  # unskipped, and stale


def test_a_stale_skip_fails(capsys: pytest.CaptureFixture[str]) -> None:
    stale = Skip("scratch.json", "UNKNOWN_ACTION", ["s3:Nothing"], "a reason")
    assert scan([("scratch.json", WILDCARD)], [
        Skip("scratch.json", "RESOURCE_STAR", ["s3:GetObject"], "a reason"), stale]) == 1
    assert "STALE skip" in capsys.readouterr().out
