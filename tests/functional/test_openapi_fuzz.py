"""The HTTP API keeps its contract (docs/openapi.json) under property-based fuzzing:
schemathesis sends generated requests, valid and invalid, to every route of the local
API over real HTTP, each SigV4-signed as an IAM user of the emulator (webhooks signed
with the stage's key), and checks that no answer is a 5xx, has a status, content type,
header or body the document does not describe, or accepts what the schema forbids."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections import Counter
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, given, strategies
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.core import signing
from chalicelib.core.runtime import runtime
from chalicelib.triggers import slack
from daskyard.local.deploy import user_keys
from daskyard.local.stack import LocalMode
from deploy.openapi import DOC
from tests.conftest import summary
from tests.support.waiting import eventually

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]
# Examples per operation and mode: 13 operations x (positive + negative) x this. 10 is
# the fewest (of 4, 6, 10, 12, 14) at which the run gets every answer, by operation, mode
# and status, that it gets at 20 (20 found no failure; at 10 it takes half the time).
# More for a deeper run by hand: DASKYARD_FUZZ_EXAMPLES=200.
EXAMPLES = int(os.environ.get("DASKYARD_FUZZ_EXAMPLES", "10"))
# The cluster the fuzzer owns, READY, so that cases reach the routes' success paths; and
# a valid name of no cluster, so that they reach the routes' 404s (a random name and a
# valid body seldom come together).
KNOWN, ABSENT = "fuzzed", "no-such-cluster"


class Signed(requests.auth.AuthBase):
    """Turns the signatures a case carries into real ones over the request as sent: the
    SigV4 `Authorization` (execute-api) API Gateway checks, and a webhook's or Slack's
    signature over the exact body. A case without them (one testing their absence) stays so."""

    def __init__(self, keys: tuple[str, str, str], webhook_key: str = "",
                 slack_secret: str = "") -> None:
        _, key_id, secret = keys
        self.credentials = Credentials(key_id, secret)
        self.webhook_key, self.slack_secret = webhook_key, slack_secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        if signing.SIGNATURE_HEADER in request.headers:
            request.headers.update(signing.signed_headers(self.webhook_key, body))
        if slack.SIGNATURE in request.headers:
            now = str(int(time.time()))
            mac = hmac.new(self.slack_secret.encode(), b"v0:" + now.encode() + b":" + body,
                           hashlib.sha256)
            request.headers.update({slack.TIMESTAMP: now,
                                    slack.SIGNATURE: f"v0={mac.hexdigest()}"})
        if "Authorization" in request.headers:
            signed = AWSRequest(method=request.method, url=request.url, data=body, headers={
                k: v for k, v in request.headers.items() if k.lower() == "content-type"})
            SigV4Auth(self.credentials, "execute-api", "us-east-1").add_auth(signed)
            request.headers.update({k: signed.headers[k] for k in ("Authorization",
                                                                   "X-Amz-Date")})
        return request


def _ready(url: str, keys: tuple[str, str, str]) -> None:
    auth = Signed(keys)
    answer = requests.post(f"{url}/clusters", json={"name": KNOWN, "workers": 1},
                           headers={"Authorization": ""}, auth=auth, timeout=30)
    assert answer.status_code == 202, answer.text

    def status() -> str:
        got = requests.get(f"{url}/clusters/{KNOWN}", headers={"Authorization": ""},
                           auth=auth, timeout=30)
        return str(got.json()["status"])

    eventually(lambda: status() == "READY", timeout=60, what=f"{KNOWN} READY")


def fuzz(strategy: Any, url: str, session: requests.Session, statuses: Counter[int]) -> int:
    """Run EXAMPLES cases of `strategy` against `url`, counting the answers' statuses;
    the number of cases run."""
    count = 0

    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                         database=None, phases=[Phase.generate, Phase.shrink],
                         suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        answer = case.call_and_validate(base_url=url, session=session, checks=CHECKS,
                                        timeout=30)
        statuses[answer.status_code] += 1

    run()
    return count


@pytest.mark.long
def test_no_generated_request_gets_a_5xx_or_an_answer_the_contract_does_not_describe(
        stack: LocalMode, stage_config: Any, request: pytest.FixtureRequest) -> None:
    url = stack.api_url or stack.serve_api()
    # A user with a quota of two clusters, as the webhook key: the creates the fuzzer
    # gets accepted start real executions, so they are bounded.
    stage_config(quota_clusters=2, quota_workers=8)
    assert stack.clients is not None
    secrets, settings = stack.clients.secrets, runtime().settings
    webhook_key, slack_secret = (secrets.get_secret_value(SecretId=name)["SecretString"]
                                 for name in (settings.webhook_secret_id,
                                              settings.slack_secret_id))
    keys = user_keys(stack.clients, "fuzzer")
    _ready(url, keys)
    schema = schemathesis.openapi.from_path(str(DOC))
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: op.method == "delete")  # the known cluster last
    cases: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            session = requests.Session()
            session.auth = Signed(keys, webhook_key, slack_secret)
            strategy = operation.as_strategy(generation_mode=mode)
            if "{name}" in operation.path and mode == GenerationMode.POSITIVE:
                strategy = strategies.one_of(strategy, *(operation.as_strategy(
                    generation_mode=mode, path_parameters={"name": name})
                    for name in (KNOWN, ABSENT)))
            label = f"{operation.method.upper()} {operation.path} {mode.value}"
            cases[label] = fuzz(strategy, url, session, statuses)
    total = sum(cases.values())
    summary(request, "schemathesis", f"{total} cases over {len(operations)} operations in "
            f"{time.monotonic() - started:.1f}s, no failure; answers by status: "
            f"{dict(sorted(statuses.items()))}")
    assert len(cases) == 2 * len(operations)
    assert statuses[200] and statuses[202], "no case got past the signatures"


def test_chalices_own_refusal_has_the_contracts_error_shape(http: Any) -> None:
    """Chalice answers a Content-Type the route does not take before the view runs; the
    middleware gives that answer the {error, code} shape every other error has."""
    answer = http.post("/clusters", headers={"Content-Type": "text/plain"},
                       body='{"name": "demo"}')
    assert answer.status_code == 415
    assert json.loads(answer.body) == {"error": "Unsupported media type: text/plain",
                                       "code": "UnsupportedMediaType"}
    assert http.get("/clusters/demo").status_code == 404
