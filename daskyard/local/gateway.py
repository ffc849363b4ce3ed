"""The local API as API Gateway serves it with IAM authorization: a route with an
`IAMAuthorizer` takes only requests signed with SigV4 by an access key the emulator's
IAM holds; the caller goes into the event's `requestContext.identity` as the deployed
API has it: `userArn`, and its unique id (IAM's UserId, `aws:userid`) as `user` and
`caller`. Anything else is refused with 403, as API Gateway does.
(Chalice's own local server admits every request on such routes.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NamedTuple

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from chalice.app import Chalice, IAMAuthorizer
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LambdaContext,
    LocalGateway,
    LocalGatewayAuthorizer,
)

from daskyard.local import seam

# access key id -> (the IAM user's ARN, secret key, user id), or None for a key IAM
# does not hold.
KeyLookup = Callable[[str], tuple[str, str, str] | None]
SERVICE = "execute-api"
# Local mode's region (daskyard.local.stack.LOCAL_ENV): API Gateway takes a signature
# scoped to its own region only.
REGION = "us-east-1"
# SigV4's basic format, ASCII digits only (strptime's %Y would take any Unicode digit).
AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# API Gateway refuses a signature older (or newer) than this.
MAX_SKEW = 300
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<day>[0-9]{8})/"
    r"(?P<region>[a-z0-9-]{1,32})/(?P<service>[a-z0-9-]{1,32})/aws4_request, ?"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]{1,1024}), ?Signature=(?P<signature>[0-9a-f]{64})")


class Signer(NamedTuple):
    """Whose key signed a request: the IAM user's ARN and unique id."""

    arn: str
    user_id: str


class SignatureRefused(Exception):
    """Why a request's SigV4 signature was refused (the 403's message)."""


def _payload_hash(lower: dict[str, str], body: bytes) -> None:
    """A signature covers the body through `X-Amz-Content-Sha256` when that is sent
    (botocore signs the header's value, not the body): anything but the body's own hash
    would let a captured request carry another body under the same signature. Only a
    request without a body may say UNSIGNED-PAYLOAD."""
    declared = lower.get("x-amz-content-sha256")
    if declared is None or (declared == UNSIGNED_PAYLOAD and not body):
        return
    if declared == UNSIGNED_PAYLOAD:
        raise SignatureRefused("X-Amz-Content-Sha256: UNSIGNED-PAYLOAD is not accepted for "
                               "a request with a body; sign the payload")
    if not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest()):
        raise SignatureRefused("The provided 'x-amz-content-sha256' header does not match "
                               "what was computed.")


def verify(method: str, path: str, headers: dict[str, str], body: bytes,
           lookup: KeyLookup, now: float | None = None, region: str = REGION) -> Signer:
    """The IAM user whose key signed this request, or SignatureRefused."""
    lower = {k.lower(): v for k, v in headers.items()}
    match = AUTHORIZATION.fullmatch(lower.get("authorization", ""))
    if match is None:
        raise SignatureRefused("Missing Authentication Token")
    amz_date = lower.get("x-amz-date", "")
    try:
        if not AMZ_DATE.fullmatch(amz_date):
            raise ValueError(amz_date)
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureRefused("X-Amz-Date: missing or not a SigV4 timestamp") from exc
    if abs((time.time() if now is None else now) - signed_at.timestamp()) > MAX_SKEW:
        raise SignatureRefused("Signature expired")
    if match["service"] != SERVICE or match["day"] != amz_date[:8]:
        raise SignatureRefused(f"Credential should be scoped to {SERVICE} on {amz_date[:8]}")
    if match["region"] != region:  # API Gateway's words, trailing space included
        raise SignatureRefused(f"Credential should be scoped to a valid region, not "
                               f"'{match['region']}'. ")
    _payload_hash(lower, body)
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed or \
            any(name not in lower for name in signed):
        raise SignatureRefused("SignedHeaders must name host and x-amz-date, all present")
    found = lookup(match["key"])
    if found is None:
        raise SignatureRefused("The security token included in the request is invalid")
    arn, secret, user_id = found
    # Recompute the signature over exactly the headers the client signed.
    request = AWSRequest(method=method, url=f"http://{lower['host']}{path}", data=body,
                         headers={name: lower[name] for name in signed})
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(match["key"], secret), SERVICE, match["region"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)),
                              request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRefused("The request signature we calculated does not match the "
                               "signature you provided")
    return Signer(arn, user_id)


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw if isinstance(raw, bytes) else str(raw).encode()


class IamAuthorizer(LocalGatewayAuthorizer):
    """Chalice's local authorizer, with IAM (SigV4) routes checked as API Gateway does."""

    def __init__(self, app: Chalice, lookup: KeyLookup) -> None:
        super().__init__(app)
        self.lookup = lookup

    def authorize(self, raw_path: str, lambda_event: Any,
                  lambda_context: LambdaContext) -> Any:
        route = self._route_for_event(lambda_event)
        if route is None or not isinstance(route.authorizer, IAMAuthorizer):
            return super().authorize(raw_path, lambda_event, lambda_context)
        context = lambda_event["requestContext"]
        try:
            signer = verify(context["httpMethod"], raw_path, lambda_event["headers"],
                         _body(lambda_event), self.lookup)
        except SignatureRefused as exc:
            raise ForbiddenError(
                {"x-amzn-RequestId": lambda_context.aws_request_id,
                 "x-amzn-ErrorType": "AccessDeniedException",
                 "Content-Type": "application/json"},
                json.dumps({"message": str(exc)}).encode()) from exc
        user = signer.user_id
        context["identity"].update(userArn=signer.arn, user=user, caller=user,
                                   accountId=signer.arn.split(":")[4])
        return lambda_event, lambda_context


class IamGateway(LocalGateway):
    def __init__(self, app: Chalice, config: Config, lookup: KeyLookup) -> None:
        super().__init__(app, config)
        seam.use_authorizer(self, IamAuthorizer(app, lookup))


def handler_class(lookup: KeyLookup) -> type[ChaliceRequestHandler]:
    """Chalice's request handler for LocalDevServer, serving through an IamGateway."""

    class Handler(ChaliceRequestHandler):
        def __init__(self, request: Any, client_address: Any, server: Any,
                     app_object: Chalice, config: Config) -> None:
            self.local_gateway = IamGateway(app_object, config, lookup)
            super(ChaliceRequestHandler, self).__init__(request, client_address, server)

        def log_message(self, format: str, *args: Any) -> None:  # one line per request
            pass

        def send_error(self, code: int, message: str | None = None,
                       explain: str | None = None) -> None:
            """What http.server answers itself (a method no route has, a malformed
            request line), as JSON the way API Gateway answers: an unknown method is
            its 403 "Missing Authentication Token", not an HTML 501 page."""
            if code == HTTPStatus.NOT_IMPLEMENTED:
                code, message = HTTPStatus.FORBIDDEN, "Missing Authentication Token"
            body = json.dumps({"message": message or HTTPStatus(code).phrase}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)

    return Handler
