"""IAM in local mode: every call the emulator receives is authorized as IAM would,
before moto executes it.

A call's access key names its principal: local mode's own key (the account's root: the
deployment, the ECS agent acting as ECS, the tests' set-up), an IAM user's key (the
local admin, teammates) or a role's session (each Lambda group's role, the state
machines' role, each task's task role and execution role, each cluster's scheduler role
under its permissions boundary), minted here as STS would. Unsigned calls, unknown keys
and bad signatures are refused. The decision is @cloud-copilot/iam-simulate's (a real
evaluator: identity policies, permission boundaries, every condition operator), fed the
policies the emulator's IAM holds (deployed from the very files AWS gets) and, for each
call, the requests `iam_requests` derives: its action and resource ARNs, the condition
context from the request and the emulator's state, and what AWS checks behind the call.
A deny answers as the service does on AWS (AccessDeniedException, UnauthorizedOperation,
AccessDenied), naming the principal, the action and the resource.

iam-simulate is AGPL: it is a development tool installed into node_modules by `make
install` (package.json), run as one Node process, and never part of the wheel or the
Lambda package. Without it local mode runs without IAM and says so."""

from __future__ import annotations

import functools
import itertools
import json
import logging
import secrets
import shutil
import subprocess  # nosec B404  # the evaluator is a Node process of our own script
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes our own error text; parses nothing

from werkzeug.exceptions import HTTPException

from daskyard.local import seam
from daskyard.local.iam_requests import IAM_DATA, PREFIX, Call, IamRequest, Unmodelled, requests_for

log = logging.getLogger("daskyard.local")
SERVER = Path(__file__).with_name("iam_simulate.mjs")
SIMULATE = IAM_DATA.parents[1] / "iam-simulate"
ROOT_ARN = "arn:aws:iam::{account}:root"
Policy = dict[str, Any]


def unavailable() -> str | None:
    """Why local IAM cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not SIMULATE.is_dir() or not IAM_DATA.is_dir():
        return f"{SIMULATE.parent} lacks iam-simulate and iam-data (run `npm install`)"
    return None


class Simulator:
    """iam-simulate in one long-running Node process (about 1.5 ms a decision), with
    each decision kept: a create asks the same few questions many times."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(  # nosec B603 B607  # node on our own script
            ["node", str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=SERVER.parents[2], text=True, bufsize=1)
        self._ids = itertools.count()
        self._waiting: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._cache: dict[Hashable, str] = {}
        self.asked = 0
        threading.Thread(target=self._read, name="iam-simulate", daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            answer = json.loads(line)
            with self._lock:
                future = self._waiting.pop(answer["id"], None)
            if future is not None:
                future.set_result(answer)
        with self._lock:
            for future in self._waiting.values():
                future.set_exception(RuntimeError("the IAM evaluator stopped"))
            self._waiting.clear()

    def decide(self, simulation: dict[str, Any], key: Hashable | None = None) -> str:
        """"Allowed", "ImplicitlyDenied" or "ExplicitlyDenied". `key` names the question
        as well as the simulation does, more cheaply (by default its whole JSON)."""
        key = key if key is not None else json.dumps(simulation, sort_keys=True)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            number = next(self._ids)
            future: Future[dict[str, Any]] = Future()
            self._waiting[number] = future
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"id": number, "simulation": simulation}) + "\n")
            self._proc.stdin.flush()
            self.asked += 1
        answer = future.result(timeout=30)
        if answer["result"] == "Error":
            raise Unmodelled(f"iam-simulate refused the request: {answer.get('errors')} "
                             f"({simulation['request']})")
        with self._lock:
            self._cache[key] = str(answer["result"])
        return str(answer["result"])

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@dataclass(frozen=True)
class Principal:
    arn: str  # as AWS names the caller: root, user, or assumed-role/<role>/<session>
    kind: str  # "root", "user", "role"
    name: str  # the user's or the role's name ("" for root)


@dataclass(frozen=True)
class Key:
    principal: Principal
    secret: str
    token: str | None = None


class EmulatorState:
    """iam_requests.State over moto's backends in this process."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    def _ec2(self) -> Any:
        return seam.backend("ec2", self.account, self.region)

    def _efs(self) -> Any:
        return seam.backend("efs", self.account, self.region)

    def _iam(self) -> Any:
        return seam.backend("iam", self.account)

    def tags(self, arn: str) -> dict[str, str]:
        service, rest = arn.split(":")[2], arn.split(":", 5)[5]
        kind, _, ident = rest.partition("/")
        try:
            if service == "ec2":
                if kind == "key-pair":  # EC2 tags a key pair by its id, IAM names it by name
                    pairs = self._ec2().describe_key_pairs(key_names=[ident])
                    ident = pairs[0].id if pairs else ident
                return dict(self._ec2().tags.get(ident, {}))
            if service == "elasticfilesystem":
                return {t["Key"]: t["Value"]
                        for t in self._efs().list_tags_for_resource(ident)}
            if service == "ecs":
                return {t["key"]: t["value"] for t in seam.backend(
                    "ecs", self.account, self.region).list_tags_for_resource(arn)}
        except Exception:  # not there (yet, or any more): a resource without tags
            return {}
        return {}

    def mount_target_file_system(self, mount_target: str) -> str | None:
        found = self._efs().mount_targets_by_id.get(mount_target)
        return str(found.file_system_id) if found else None

    def launch_template(self, id_or_name: str) -> dict[str, Any] | None:
        ec2 = self._ec2()
        for template in ec2.launch_templates.values():
            if id_or_name in (template.id, template.name):
                data = template.latest_version().data
                return {"id": template.id, "data": data}
        return None

    def secret_arn(self, secret_id: str) -> str | None:
        backend = seam.backend("secretsmanager", self.account, self.region)
        try:
            return str(backend.describe_secret(secret_id).arn)
        except Exception:  # not there: the request names its own ARN form
            return None

    def _role(self, name: str) -> Any:
        try:
            return self._iam().get_role(name)
        except Exception:
            return None

    def role_boundary(self, role_name: str) -> str | None:
        role = self._role(role_name)
        return str(role.permissions_boundary_arn) if role is not None and \
            role.permissions_boundary_arn else None

    def role_path(self, role_name: str) -> str | None:
        role = self._role(role_name)
        return str(role.path) if role is not None else None

    def instance_profile_role(self, profile: str) -> str | None:
        name = profile.rsplit("/", 1)[-1]
        try:
            found = self._iam().get_instance_profile(name)
        except Exception:
            return None
        return str(found.roles[0].arn) if found.roles else None

    def policies(self, principal: Principal) -> tuple[tuple[str, ...], str | None]:
        """(identity policies, permissions boundary) the emulator's IAM holds, as their
        JSON texts (the same text objects until a policy changes: `document` parses each
        once, and a decision is known by them)."""
        iam = self._iam()
        documents: list[Any] = []
        boundary = None
        if principal.kind == "role":
            role = iam.get_role(principal.name)
            documents += list(role.policies.values())
            documents += [_default(p) for p in role.managed_policies.values()]
            if role.permissions_boundary_arn:
                boundary = _default(iam.get_policy(role.permissions_boundary_arn))
        elif principal.kind == "user":
            user = iam.get_user(principal.name)
            documents += list(user.policies.values())
            documents += [_default(p) for p in user.managed_policies.values()]
            for group in iam.get_groups_for_user(principal.name):
                documents += list(group.policies.values())
                documents += [_default(p) for p in group.managed_policies.values()]
        return tuple(d if isinstance(d, str) else json.dumps(d) for d in documents), boundary


def _default(policy: Any) -> str:
    return str(next(v.document for v in policy.versions if v.is_default))


@functools.lru_cache(maxsize=1024)
def document(text: str) -> Policy:
    """A policy's JSON text, parsed once (the result is only read)."""
    return dict(json.loads(text))


class AccessDenied(Exception):
    """A call IAM refuses: the principal, and the request that was not allowed."""

    def __init__(self, principal: Principal, request: IamRequest) -> None:
        behind = f" (which {request.because} requires)" if request.because else ""
        super().__init__(f"User: {principal.arn} is not authorized to perform: "
                         f"{request.action} on resource: {request.resource}{behind} "
                         f"because no identity-based policy allows the {request.action} "
                         "action")
        self.principal, self.request = principal, request


class Iam:
    """The keys the emulator knows and the decisions on each call made with them."""

    def __init__(self, account: str, region: str,
                 simulator: Simulator | None = None) -> None:
        self.account, self.region = account, region
        self.state = EmulatorState(account, region)
        self.simulator = simulator or Simulator()
        self._keys: dict[str, Key] = {}
        self._lock = threading.Lock()
        self.decisions: Counter[str] = Counter()
        self.denials: list[AccessDenied] = []
        self.gaps: list[str] = []
        # Every request allowed while `recording` (the mutation test reads it).
        self.recording = False
        self.allowed: list[tuple[Principal, IamRequest]] = []
        # Step Functions invokes a stage's Lambdas with its machines' role
        # (`daskyard-<stage>-<region>-states`): moto's interpreter signs with one key for all.
        self.states_key = self._mint(Principal("", "states", ""))
        self.root = self._mint(Principal(ROOT_ARN.format(account=account), "root", ""))

    def _mint(self, principal: Principal, token: bool = False) -> tuple[str, str, str | None]:
        prefix = "ASIA" if token else "AKIA"
        key_id = prefix + secrets.token_hex(8).upper()
        secret = secrets.token_urlsafe(30)
        session = secrets.token_urlsafe(48) if token else None
        with self._lock:
            self._keys[key_id] = Key(principal, secret, session)
        return key_id, secret, session

    def assume(self, role_arn: str, session: str) -> dict[str, str]:
        """Credentials of a session of `role_arn` (as STS AssumeRole answers), as the
        environment variables boto3 reads."""
        name = role_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:sts::{self.account}:assumed-role/{name}/{session}"
        key_id, secret, token = self._mint(Principal(arn, "role", name), token=True)
        assert token is not None
        return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_SESSION_TOKEN": token}

    def key(self, key_id: str) -> Key | None:
        with self._lock:
            found = self._keys.get(key_id)
        if found is not None:
            return found
        user = seam.backend("iam", self.account).get_user_from_access_key_id(key_id)
        if user is None:
            return None
        for access_key in user.access_keys:
            if access_key.access_key_id == key_id and access_key.status == "Active":
                return Key(Principal(str(user.arn), "user", str(user.name)),
                           str(access_key.secret_access_key))
        return None

    def authorize(self, principal: Principal, call: Call) -> None:
        """Raises AccessDenied unless every request behind `call` is allowed."""
        if principal.kind == "root":
            self.decisions["root"] += 1
            return
        requests = requests_for(call, self.state)
        if principal.kind == "states":
            principal = self._states_role(requests)
        texts, boundary_text = self.state.policies(principal)
        identity = [document(text) for text in texts]
        boundary = document(boundary_text) if boundary_text is not None else None
        for request in requests:
            # The question by the texts it was asked with: a changed policy is a new one.
            key = (principal.arn, request.action, request.resource,
                   json.dumps(request.context, sort_keys=True), texts, boundary_text)
            result = self.simulator.decide(self._simulation(principal, request, identity,
                                                            boundary), key)
            self.decisions[result] += 1
            if result == "Allowed" and self.recording:
                self.allowed.append((principal, request))
            if result != "Allowed":
                denied = AccessDenied(principal, request)
                self.denials.append(denied)
                log.info("IAM: %s", denied)
                raise denied

    def allows_mount(self, role_arn: str, file_system_arn: str,
                     file_system_policy: dict[str, Any] | None,
                     context: dict[str, str]) -> bool:
        """Whether EFS lets a task of `role_arn` mount `file_system_arn` (ClientMount,
        with IAM authorization): the role's policies and the file system's policy, as
        EFS decides (one account: either may allow, an explicit deny in either
        refuses). `context`: the mount's keys (TLS, its access point)."""
        name = role_arn.rsplit("/", 1)[-1]
        principal = Principal(f"arn:aws:sts::{self.account}:assumed-role/{name}/ecs-task",
                              "role", name)
        tags = {f"aws:ResourceTag/{k}": v for k, v in self.state.tags(file_system_arn).items()}
        texts, boundary_text = self.state.policies(principal)
        simulation = self._simulation(principal, IamRequest(
            "elasticfilesystem:ClientMount", file_system_arn, {**tags, **context}),
            [document(text) for text in texts],
            document(boundary_text) if boundary_text is not None else None)
        if file_system_policy is not None:
            simulation["resourcePolicy"] = file_system_policy
        result = self.simulator.decide(simulation)
        self.decisions[result] += 1
        return result == "Allowed"

    def _states_role(self, requests: list[IamRequest]) -> Principal:
        """The machines' role of the stage whose function or machine a call of Step
        Functions' key names (a Lambda it invokes, an execution it starts or watches)."""
        for request in requests:
            if request.action.partition(":")[0] not in ("lambda", "states"):
                continue
            ours = [p for p in request.resource.split(":") if p.startswith("daskyard-")]
            if ours:
                stage = ours[0].split("-")[1]
                region = request.resource.split(":")[3]  # IAM names carry it
                name = f"daskyard-{stage}-{region}-states"  # naming.regional
                return Principal(f"arn:aws:sts::{self.account}:assumed-role/{name}/"
                                 "states", "role", name)
        raise Unmodelled(f"Step Functions' key used for {[r.action for r in requests]}")

    def decide(self, principal: Principal, request: IamRequest, identity: list[Policy],
               boundary: Policy | None = None) -> str:
        """The evaluator's answer for `request` under other policies than the principal's
        (what-if questions: a statement removed)."""
        return self.simulator.decide(self._simulation(principal, request, identity, boundary))

    def _simulation(self, principal: Principal, request: IamRequest,
                    identity: list[Policy], boundary: Policy | None) -> dict[str, Any]:
        context = {"aws:PrincipalArn": principal.arn, "aws:PrincipalAccount": self.account,
                   "aws:RequestedRegion": self.region, "aws:SecureTransport": "true",
                   **request.context}
        simulation: dict[str, Any] = {
            "request": {"principal": principal.arn, "action": request.action,
                        "resource": {"resource": request.resource, "accountId": self.account},
                        "contextVariables": context},
            "identityPolicies": [{"name": f"p{i}", "policy": p}
                                 for i, p in enumerate(identity)],
            "serviceControlPolicies": [], "resourceControlPolicies": []}
        if boundary is not None:
            simulation["permissionBoundaryPolicies"] = [{"name": "boundary",
                                                         "policy": boundary}]
        return simulation

    def close(self) -> None:
        self.simulator.close()


# The emulator's authorizer; None lets every call through (moto's own behaviour).
ACTIVE: Iam | None = None


class Refused(HTTPException):
    """A refusal in the service's protocol: JSON (`__type`) or XML (`Error`/`Code`), as
    botocore parses each; raised from the authorization step, which moto answers with."""

    def __init__(self, protocol: str, code: str, message: str, status: int = 403) -> None:
        super().__init__()
        self.code = status
        self.error_type = code
        if protocol in ("json", "rest-json"):
            self.description = json.dumps({"__type": code, "message": message})
            self.content_type = "application/json"
        else:
            root = "Response" if protocol == "ec2" else "ErrorResponse"
            self.description = (f"<{root}><Errors><Error><Code>{escape(code)}</Code>"
                                f"<Message>{escape(message)}</Message></Error></Errors>"
                                f"<RequestID>{secrets.token_hex(8)}</RequestID></{root}>")
            self.content_type = "text/xml"

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("X-Amzn-ErrorType", self.error_type), ("Content-Type", self.content_type)]

    def get_body(self, *args: Any, **kwargs: Any) -> str:
        return str(self.description)


def _error(service_model: Any, code: str, message: str, status: int = 403) -> Refused:
    protocol = service_model.protocol if service_model is not None else "json"
    return Refused(protocol, code, message, status)


_DENY_CODE = {"json": "AccessDeniedException", "rest-json": "AccessDeniedException",
              "ec2": "UnauthorizedOperation", "query": "AccessDenied"}


def _authenticate(iam: Iam, response: Any, model: Any, s3: bool = False) -> tuple[Key, str]:
    """(the caller's key, the signing name) of a call whose SigV4 signature is good;
    else the refusal AWS answers with."""
    headers = response.headers
    authorization = headers.get("Authorization", "")
    if "Credential=" not in authorization:
        raise _error(model, "MissingAuthenticationTokenException"
                     if model is None or model.protocol != "ec2" else "AuthFailure",
                     "Missing Authentication Token", 403)
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    key_id, region, signing = scope[0], scope[2], scope[3]
    found = iam.key(key_id)
    if found is None or (found.token is not None and
                         headers.get("X-Amz-Security-Token") != found.token):
        raise _error(model, "UnrecognizedClientException" if model is None or
                     model.protocol in ("json", "rest-json") else "InvalidClientTokenId",
                     "The security token included in the request is invalid.")
    if region != iam.region:
        raise _error(model, "InvalidSignatureException",
                     f"Credential should be scoped to a valid region, not '{region}'.")
    _check_signature(response, found, scope, s3)
    return found, signing


def check(response: Any, resource: str = "*") -> None:
    """Replaces moto's `_authenticate_and_authorize_normal_action` (see daskyard.local.seam):
    authenticate the call's signature, then authorize it."""
    iam = ACTIVE
    if iam is None:
        return
    model = _service_model(response)
    found, signing = _authenticate(iam, response, model)
    operation = response._get_action()
    call = Call(PREFIX.get(signing, signing), str(operation), _params(response), iam.region,
                iam.account)
    try:
        iam.authorize(found.principal, call)
    except Unmodelled as gap:  # a gap in local IAM's tables: said loudly, never allowed
        log.warning("IAM: cannot model %s:%s: %s", call.prefix, call.operation, gap)
        iam.gaps.append(f"{call.prefix}:{call.operation}: {gap}")
        raise _error(model, "InternalFailure", f"local IAM cannot model this call: {gap}",
                     500) from None
    except AccessDenied as denied:
        protocol = model.protocol if model is not None else "json"
        raise _error(model, _DENY_CODE.get(protocol, "AccessDenied"), str(denied)) from None


def check_s3(response: Any, bucket_name: str | None = None,
             key_name: str | None = None) -> None:
    """Replaces moto's `_authenticate_and_authorize_s3_action`: Daskyard calls no S3 API,
    so S3 is authenticated like every service and then left to the account's root (local
    mode itself) alone; any other caller is refused."""
    iam = ACTIVE
    if iam is None:
        return
    found, _ = _authenticate(iam, response, None, s3=True)
    if found.principal.kind != "root":
        raise Refused("rest-xml", "AccessDenied",
                      f"User: {found.principal.arn} is not authorized to perform S3 calls "
                      "in local mode (Daskyard calls none; local IAM does not model S3)")


def _service_model(response: Any) -> Any:
    try:
        return seam.get("moto.core.responses.get_service_model")(response.boto3_service_name)
    except Exception:
        return None


def _params(response: Any) -> dict[str, Any]:
    """The call's parameters as botocore's parser reads them (for every protocol)."""
    params = getattr(response, "params", None)
    if isinstance(params, dict) and params:
        return params
    try:
        response.parse_parameters(response.normalized_request)
        return dict(response.params)
    except Exception:  # an operation moto routes by hand: its JSON body, if any
        try:
            return dict(json.loads(response.body or "{}"))
        except (ValueError, TypeError):
            return {}


def _check_signature(response: Any, key: Key, scope: list[str], s3: bool = False) -> None:
    """The SigV4 signature recomputed with the key's secret, as AWS checks it. `scope`:
    the credential scope (key id, date, region, service, ...) the request names."""
    from botocore.credentials import Credentials

    path = response.raw_path
    if response.parsed_url.query:
        path += "?" + response.parsed_url.query
    # The signed payload is the body as sent; a form body (the query protocol) werkzeug
    # has parsed away is encoded again from its fields, as moto's own check does.
    form = "x-www-form-urlencoded" in str(response.headers.get("Content-Type", ""))
    body = response.raw_body or b""
    seam.check_sigv4(s3, response.method, path, body,
                     response.data if form and not body else {}, response.headers,
                     scope[2], scope[3], Credentials(scope[0], key.secret, key.token))


# moto's per-call authorization, replaced (declared in daskyard.local.seam).
HOOKS: dict[str, Callable[..., None]] = {"_authenticate_and_authorize_normal_action": check,
         "_authenticate_and_authorize_s3_action": check_s3}


def _instead(hook: Callable[..., None]) -> Callable[[Any], Callable[..., None]]:
    """A replacement that does not call moto's own check."""
    return lambda _moto: hook


def install() -> None:
    """Route moto's per-call authorization through `check` (once per process)."""
    for name, hook in HOOKS.items():
        seam.wrap_once(f"moto.core.authorization.ActionAuthenticatorMixin.{name}",
                       _instead(hook), install)


def activate(iam: Iam | None) -> None:
    global ACTIVE
    if iam is not None:
        install()
    ACTIVE = iam
