"""Pydantic models for requests, records and events."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo

from chalicelib.core.launch_types import LAUNCH_TYPES
from chalicelib.core.naming import CLUSTER_NAME
from chalicelib.core.settings import (
    FARGATE_SIZES,
    MAX_GROUP_RULES,
    MAX_SERVICE_TASKS,
    Settings,
)


class Status(StrEnum):
    CREATING = "CREATING"
    READY = "READY"
    FAILED = "FAILED"  # a create failed and what it made was removed
    DELETING = "DELETING"
    DELETED = "DELETED"
    DELETE_FAILED = "DELETE_FAILED"  # a destroy or rollback stopped; resources may remain


LIVE_STATUSES = {Status.CREATING, Status.READY, Status.DELETING}


# AWS's tag characters; container variable names as shells take them.
TAG_TEXT = re.compile(r"[\w .:/=+@-]+")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED_ENV_PREFIXES = ("DASKYARD_", "AWS_", "ECS_", "DASK_DISTRIBUTED__COMM__")
RESERVED_ENV = {"JUPYTER_TOKEN", "DASK_SCHEDULER_ADDRESS", "PATH", "HOME"}
MAX_ENVIRONMENT = 50
MAX_ENV_VALUE = 4096
MAX_USER_TAGS = 40
MAX_WORKER_THREADS = 64


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ClusterSpec(Strict):
    """A create request, checked against the stage limits by `check_limits`."""

    name: Annotated[str, Field(pattern=CLUSTER_NAME.pattern)]
    workers: Annotated[int, Field(ge=0, le=MAX_SERVICE_TASKS)] = 2
    worker_cpu: Annotated[int, Field(ge=128, le=max(FARGATE_SIZES))] = 1024
    # MiB; when not given, 4096, or on EC2 what the instance type offers up to that.
    worker_memory: Annotated[int, Field(ge=512, le=max(FARGATE_SIZES[max(FARGATE_SIZES)]))] = 4096
    launch_type: Literal["FARGATE", "FARGATE_SPOT", "EC2"] = "FARGATE"
    instance_type: Annotated[str, Field(max_length=32)] = "t3.medium"
    notebook: bool = False
    allowed_cidrs: list[str] = Field(default_factory=list)
    teardown: Literal["nightly", "never"] = "nightly"
    ttl_hours: Annotated[int, Field(ge=1, le=24 * 14)] | None = None
    drive: Annotated[str, Field(pattern=CLUSTER_NAME.pattern)] | None = None
    # An image URI from the stage's `allowed_images`, run by every role (None = the
    # stage's own build of images/).
    image: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    # Extra variables for every task; Daskyard's own and the TLS ones cannot be set.
    environment: dict[str, str] = Field(default_factory=dict)
    # The owner's tags, put on the cluster's resources beside Daskyard's own.
    tags: dict[str, str] = Field(default_factory=dict)
    # Threads per worker; None = one per vCPU of `worker_cpu` (at least one).
    worker_threads: Annotated[int, Field(ge=1, le=MAX_WORKER_THREADS)] | None = None

    @property
    def threads(self) -> int:
        return self.worker_threads or max(1, self.worker_cpu // 1024)

    @property
    def network_mode(self) -> str:
        """The tasks' ECS network mode, their launch type's (core/launch_types.py)."""
        return LAUNCH_TYPES[self.launch_type].network_mode

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_ENVIRONMENT:
            raise ValueError(f"at most {MAX_ENVIRONMENT} variables")
        for name, text in value.items():
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not a variable name ({ENV_NAME.pattern})")
            if name.upper().startswith(RESERVED_ENV_PREFIXES) or name.upper() in RESERVED_ENV:
                raise ValueError(f"{name} is Daskyard's own or AWS's; it cannot be set")
            if len(text) > MAX_ENV_VALUE:
                raise ValueError(f"{name}: at most {MAX_ENV_VALUE} characters")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_USER_TAGS:
            raise ValueError(f"at most {MAX_USER_TAGS} tags (AWS allows 50 with Daskyard's)")
        for key, text in value.items():
            if not TAG_TEXT.fullmatch(key) or len(key) > 128:
                raise ValueError(f"tag key {key[:40]!r}: 1-128 letters, digits, "
                                 "spaces and _ . : / = + - @")
            if key.lower().startswith(("aws:", "daskyard:")):
                raise ValueError(f"tag key {key}: the aws: and daskyard: prefixes are reserved")
            if len(text) > 256 or (text and not TAG_TEXT.fullmatch(text)):
                raise ValueError(f"tag {key}: the value must be at most 256 letters, digits, "
                                 "spaces and _ . : / = + - @")
        return value
    # Minutes without tasks and without a client before the cluster destroys itself;
    # 0 = never, None = the stage's default (Settings.idle_timeout_minutes).
    idle_timeout_minutes: Annotated[int, Field(ge=0, le=24 * 60 * 14)] | None = None

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        out = []
        for cidr in value:
            try:
                out.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR block") from exc
        return out

    @model_validator(mode="after")
    def _teardown(self) -> ClusterSpec:
        if self.teardown == "never" and self.ttl_hours is not None:
            raise ValueError("ttl_hours cannot be combined with teardown='never'")
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_memory(cls, data: Any) -> Any:
        launch = LAUNCH_TYPES.get(str(data.get("launch_type", "FARGATE"))) \
            if isinstance(data, dict) and "worker_memory" not in data else None
        if launch is None:  # given, or an unknown launch type (refused as such)
            return data
        return {**data, "worker_memory": launch.default_worker_memory(data)}

    @model_validator(mode="after")
    def _worker_size(self) -> ClusterSpec:
        LAUNCH_TYPES[self.launch_type].check_size(self)
        return self

    @model_validator(mode="after")
    def _group_rules(self) -> ClusterSpec:
        """Each CIDR opens Jupyter and the scheduler's ports (and SSH where the launch
        type has a shell), one rule each, beside the rule for traffic within the group:
        all must fit one group."""
        ports = 3 if LAUNCH_TYPES[self.launch_type].ssh else 2
        most = (MAX_GROUP_RULES - 1) // ports
        if len(self.allowed_cidrs) > most:
            raise ValueError(f"allowed_cidrs: at most {most} for a {self.launch_type} cluster "
                             f"(a security group holds {MAX_GROUP_RULES} inbound rules)")
        return self

    def check_limits(self, settings: Settings) -> list[tuple[str, str]]:
        """Stage limits; returns (field, reason) pairs, empty when the spec is allowed."""
        problems = []
        if self.workers > settings.max_workers:
            problems.append(("workers", f"at most {settings.max_workers} workers are allowed"))
        problems += LAUNCH_TYPES[self.launch_type].limits(self, settings)
        if self.image is not None and self.image not in settings.allowed_images:
            problems.append(("image", "not one of the stage's allowed images"
                             + (f": {', '.join(settings.allowed_images)}"
                                if settings.allowed_images else " (the stage allows none)")))
        allowed = [ipaddress.ip_network(c) for c in settings.allowed_cidrs]
        for cidr in self.allowed_cidrs:
            net = ipaddress.ip_network(cidr)
            if net.prefixlen == 0 and not settings.allow_public_ingress:
                problems.append(("allowed_cidrs", "0.0.0.0/0 is not allowed on this stage"))
            elif not settings.allow_public_ingress and not any(
                    net.version == a.version and net.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
                problems.append(("allowed_cidrs",
                                 f"{cidr} is outside the stage's allowed ranges "
                                 f"{', '.join(settings.allowed_cidrs)}"))
        return problems


class Adapt(Strict):
    """Adaptive scaling bounds: the scheduler keeps its workers within them, deciding
    with distributed's Adaptive options when given (else distributed's defaults). A
    request without `maximum` gets the stage's maximum, as the owner's quota allows."""

    minimum: Annotated[int, Field(ge=0, le=MAX_SERVICE_TASKS)] = 0
    maximum: Annotated[int | None, Field(ge=0, le=MAX_SERVICE_TASKS)] = None
    # distributed.deploy.Adaptive's own: seconds between decisions, how many decisions
    # in a row a worker must be chosen before it goes, the work a worker should hold.
    interval: Annotated[float | None, Field(gt=0, le=3600)] = None
    wait_count: Annotated[int | None, Field(ge=1, le=1000)] = None
    target_duration: Annotated[float | None, Field(gt=0, le=86400)] = None

    @model_validator(mode="after")
    def _ordered(self) -> Adapt:
        if self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum ({self.minimum}) is above maximum ({self.maximum})")
        return self

    @model_serializer(mode="wrap")
    def _given(self, handler: Any) -> dict[str, Any]:
        """Only the options given: the record and the scheduler's parameter stay small."""
        return {k: v for k, v in handler(self).items() if v is not None}


class Claim(BaseModel):
    """Workers a scale or adapt of a cluster has claimed against its owner's quota while
    it applies them: `holder` is that request's, and it lapses at epoch second `lapses`
    should its Lambda die before it ends."""

    workers: int
    holder: str
    lapses: int
    counted: int | None = None  # the record's count before the claim (given back on release)


class Notify(BaseModel):
    """Where to announce READY, FAILED or DELETED: a Slack response_url or a webhook's
    callback_url. These URLs are capabilities, so records never show them."""

    kind: Literal["slack", "webhook"]
    url: str


class Network(BaseModel):
    vpc: str
    subnets: list[str]
    security_group: str


class Drive(BaseModel):
    file_system: str
    kept: bool = False  # a named drive outlives the cluster
    spare: bool = False  # taken from the stage's spares, its mount targets already made
    mount_targets: list[str] = Field(default_factory=list)
    access_point: str = ""
    dns: str = ""


class Resources(BaseModel):
    """What a cluster's create steps made, as later steps need it. Delete twins find
    resources by their derived names and tags, never only by this record."""

    model_config = ConfigDict(extra="forbid")

    key_pair: str = ""
    private_key_parameter: str = ""
    credentials_secret: str = ""  # the ARN; the PEMs and the token never enter the record
    network: Network | None = None
    drive: Drive | None = None
    launch_template: str = ""
    auto_scaling_group: str = ""
    capacity_provider: str = ""
    ecs_cluster: str = ""
    images: dict[str, str] = Field(default_factory=dict)  # role -> image URI
    image_build: str = ""
    log_group: str = ""
    task_definitions: dict[str, str] = Field(default_factory=dict)  # role -> ARN
    scheduler_role: str = ""  # the scheduler's own task role (steps/scheduler_task.py)
    services: dict[str, str] = Field(default_factory=dict)  # role -> ARN


class TaskCrash(BaseModel):
    """The latest task of a role that ended on its own (ECS: stopCode
    EssentialContainerExited), with its exit code, ECS's reason and its last lines."""

    count: int  # such ends of this role's tasks since the cluster was made
    at: str
    task: str
    exit_code: int | None = None
    reason: str = ""
    last_lines: list[str] = Field(default_factory=list)


def _flat(name: str, **field: Any) -> Any:
    """A field of a record's part, named `name` in the flat shape: the API's answer
    (ClusterRecord.public) and records stored before the parts were nested."""
    return Field(serialization_alias=name, **field)


class Scheduler(BaseModel):
    """The current scheduler task as discovery found it (chalicelib/discovery.py). A
    task's event publishes it only if it is newer (`order`) than what is recorded."""

    address: str = _flat("scheduler_address", default="")
    task: str = _flat("scheduler_task", default="")
    order: str = _flat("scheduler_order", default="")
    stale: bool = _flat("scheduler_stale", default=False)  # it stopped; no replacement yet
    public_ip: str = _flat("public_ip", default="")
    dashboard_url: str = _flat("dashboard_url", default="")


class Notebook(BaseModel):
    """The notebook's task: `status` STARTING (RUNNING, health check not passed yet),
    SERVING (Jupyter answers), STOPPED (its task exited: `error` says how)."""

    ip: str = _flat("notebook_ip", default="")
    url: str = _flat("notebook_url", default="")
    status: str = _flat("notebook_status", default="")
    error: str = _flat("notebook_error", default="")
    stops: int = _flat("notebook_stops", default=0)
    task: str = _flat("notebook_task", default="", repr=False)


class Cost(BaseModel):
    """Estimated USD (core/pricing.py): the rate while it runs, which follows the workers
    that run, and the cost before `since` at the rates of the moments it ran; the cost
    so far adds `per_hour` since then."""

    per_hour: float = _flat("cost_per_hour", default=0.0)
    accrued: float = _flat("cost_accrued", default=0.0)
    since: datetime | None = _flat("cost_since", default=None)


class Workers(BaseModel):
    """The workers service as ECS's task events show it (chalicelib/workers.py): what it
    asks for (adapt, scale, ECS) and the worker tasks RUNNING now; None before any."""

    desired: int | None = _flat("workers_desired", default=None)
    running: int | None = _flat("workers_running", default=None)
    # worker task id -> RUNNING or STOPPED, from the events (a late RUNNING of a task
    # already STOPPED changes nothing).
    tasks: dict[str, str] = _flat("worker_tasks", default_factory=dict, repr=False)


class Lease(BaseModel):
    """What holds the cluster while something changes it, each lapsing should its
    Lambda die: building steps (`inflight`: state -> the epoch second its Lambda must
    have ended by), a scale or adapt's `claim`; and the workers `counted` for it on its
    owner's quota counter (core/registry.py; None: none), which a claim raises."""

    inflight: dict[str, int] = _flat("inflight", default_factory=dict)
    claim: Claim | None = _flat("claim", default=None)
    counted: int | None = _flat("counted", default=None)


class Tokens(BaseModel):
    """Step Functions task tokens of the create's waits; they die with the create, so
    a late event cannot complete a wait of a destroyed cluster."""

    scheduler: str = _flat("task_token", default="", repr=False)  # WaitForScheduler
    images: str = _flat("image_token", default="", repr=False)  # PrepareImages' image build


# The record's parts: each a model of its own, one map in the stored item.
PARTS: dict[str, type[BaseModel]] = {"scheduler": Scheduler, "notebook": Notebook,
                                     "cost": Cost, "workers": Workers, "lease": Lease,
                                     "tokens": Tokens}
# A part's field -> its name in the flat shape, per part.
FLAT: dict[str, dict[str, str]] = {
    part: {name: str(field.serialization_alias) for name, field in model.model_fields.items()}
    for part, model in PARTS.items()}
# The stored item's shape: items without `record_version` hold the parts' fields flat
# (tests/fixtures/flat_records.json); ClusterRecord lifts them on read and the registry's
# first write to such an item rewrites it in this shape (Registry._lift).
RECORD_VERSION = 2


class ClusterRecord(BaseModel):
    """What the registry holds for a cluster. Its tokens never leave chalicelib."""

    name: str
    status: Status
    step: str = ""
    spec: ClusterSpec
    resources: Resources = Field(default_factory=Resources)
    error: str = ""
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    execution_arn: str = ""
    scheduler: Scheduler = Field(default_factory=Scheduler)
    notebook: Notebook = Field(default_factory=Notebook)
    owner: str = ""  # the caller who created it (see core/identity.py)
    cost: Cost = Field(default_factory=Cost)
    workers: Workers = Field(default_factory=Workers)
    crashes: dict[str, TaskCrash] = Field(default_factory=dict)  # role -> its latest
    adapt: Adapt | None = None  # adaptive scaling, carried out by the scheduler
    destroy_reason: str = ""  # why the system destroyed it (e.g. idle), told to the owner
    lease: Lease = Field(default_factory=Lease, repr=False)
    tokens: Tokens = Field(default_factory=Tokens, repr=False)
    notify: list[Notify] = Field(default_factory=list, repr=False)
    record_version: int = Field(default=RECORD_VERSION, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _lift_flat(cls, data: Any) -> Any:
        """An item stored before the parts were nested holds their fields at the top:
        each moves into its part, value for value. A part the item holds as a map wins
        over flat fields beside it (only the nested shape writes the map)."""
        if not isinstance(data, dict) or "record_version" in data:
            return data
        data = dict(data)
        for part, names in FLAT.items():
            lifted = {field: data.pop(flat) for field, flat in names.items() if flat in data}
            data.setdefault(part, lifted)
        return data

    def flat(self) -> dict[str, Any]:
        """Every field in the flat shape (the parts' fields by their flat names), JSON."""
        whole = self.model_dump(mode="json", exclude={"record_version"})
        out: dict[str, Any] = {}
        for name, value in whole.items():
            if name in PARTS:
                out.update(getattr(self, name).model_dump(mode="json", by_alias=True))
            else:
                out[name] = value
        return out

    def public(self) -> dict[str, Any]:
        """The record as the API shows it: flat, no token, no callback URLs, no
        bookkeeping."""
        return {k: v for k, v in self.flat().items() if k not in PRIVATE_FIELDS}


# Flat names the API never shows.
PRIVATE_FIELDS = {"task_token", "image_token", "notify", "inflight", "scheduler_order",
                  "scheduler_task", "notebook_task", "claim", "counted", "worker_tasks"}


# The API's answers, for the OpenAPI document (deploy/openapi.py). Every field is in
# every answer, so the schema requires them all; and no other, so an answer that leaked
# a private field (a task token) would break the contract. Their validators are built
# on first use (defer_build): the Lambdas build one at most (Credentials), never at import.
ANSWER = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True,
                    defer_build=True)



def _answer_fields() -> dict[str, tuple[Any, FieldInfo]]:
    """The record's fields in the flat shape (a part's under their flat names), in
    order, but the private ones."""
    fields: dict[str, tuple[Any, FieldInfo]] = {}
    for name, field in ClusterRecord.model_fields.items():
        inner = PARTS[name].model_fields if name in PARTS else {name: field}
        for key, info in inner.items():
            flat = FLAT[name][key] if name in PARTS else key
            if flat not in PRIVATE_FIELDS and flat != "record_version":
                fields[flat] = (info.annotation, FieldInfo.merge_field_infos(
                    info, serialization_alias=None))
    return fields


# A cluster as the API shows it (ClusterRecord.public()): the record's fields, flat, but
# the private ones, derived so that a field added to the record is in the contract too.
Cluster: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Cluster", __config__=ANSWER, __doc__="A cluster's record as the API shows it.",
    **_answer_fields())


class ClusterList(BaseModel):
    """`GET /clusters`: a page of the caller's clusters (an admin's: all)."""

    model_config = ANSWER
    clusters: list[Cluster]  # type: ignore[valid-type]
    next_token: str | None = Field(description="for the next page; null on the last")


class Credentials(BaseModel):
    """What a client needs to connect to a READY cluster over TLS. Secret."""

    model_config = ANSWER
    address: str = Field(description="the scheduler's address, tls://<ip>:8786")
    ca: str = Field(description="the cluster's CA certificate, PEM")
    cert: str = Field(description="the client certificate, PEM")
    key: str = Field(description="the client certificate's private key, PEM")
    jupyter_token: str | None = Field(description="the notebook's token; null without one")
    dashboard_token: str = Field(description="opens the scheduler's dashboard (HTTPS): "
                                             "`?token=` once, then its cookie")


class LogLine(BaseModel):
    """A line a task printed, as CloudWatch Logs holds it (chalicelib/logs.py)."""

    model_config = ANSWER
    timestamp: int = Field(description="milliseconds since the epoch")
    time: str = Field(description="the same, ISO 8601 UTC")
    role: str = Field(description="scheduler, worker or notebook")
    task: str = Field(description="the ECS task's id")
    id: str = Field(description="the log event's id")
    message: str


class LogPage(BaseModel):
    """`GET /clusters/{name}/logs`: a page of what the cluster's tasks printed."""

    model_config = ANSWER
    cluster: str
    events: list[LogLine]
    next_token: str | None = Field(description="for the next page; null on the last")


class Step(BaseModel):
    """A state the cluster's execution entered (chalicelib/timeline.py)."""

    model_config = ANSWER
    name: str
    type: str = Field(description="Task, Parallel, Choice, Fail...")
    start: str = Field(description="ISO 8601 UTC")
    end: str | None = Field(description="null while it runs")
    outcome: str = Field(description="SUCCEEDED, FAILED, RUNNING or STOPPED")
    attempts: int = Field(description="Lambda invocations, retries included")
    error: str = Field(description="the error it ended with, if any")


class Timeline(BaseModel):
    """`GET /clusters/{name}/events`: every step of the cluster's latest execution."""

    model_config = ANSWER
    name: str
    status: Status
    execution_arn: str
    execution_ended: bool
    steps: list[Step]


class DoctorCheck(BaseModel):
    """One preflight check of the stage's account (chalicelib/doctor.py)."""

    model_config = ANSWER
    name: str
    status: Literal["OK", "WARN", "FAIL"]
    figure: str = Field(description="what was found, e.g. `quota 6 vCPU; ... needs 18`")
    advice: str = Field(description="what to do about it; empty when OK")
    default: bool = Field(description="answered with AWS's documented default quota, the "
                                      "account's applied value not being available")


class DoctorReport(BaseModel):
    """`GET /doctor`: every preflight check, in order; `ok` unless one failed."""

    model_config = ANSWER
    stage: str
    region: str
    ok: bool
    checks: list[DoctorCheck]


class ErrorBody(BaseModel):
    """Every refusal and failure the app answers: the status comes from the error's
    class (chalicelib/core/errors.py), `code` is its name."""

    model_config = ANSWER
    error: str = Field(description="what was wrong and why, naming the field")
    code: str = Field(description="the error's name, e.g. InvalidRequest, ClusterNotFound")


# Whom a drive can be shared with: callers as identity.py names them (an IAM principal
# id: `AIDA...` a user, `AROA...` a role, `AROA...:<session>` a trusted role's session;
# an IAM ARN as records made before principal ids name owners; a Slack user; a webhook
# key), and nothing else: a share names one principal exactly.
PRINCIPAL = re.compile(r"^(A(IDA|ROA)[A-Z0-9]{8,128}(:[A-Za-z0-9_+=,.@-]{2,64})?"
                       r"|arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9_+=,.@/-]{1,512}"
                       r"|slack:[A-Z0-9]{1,32}/[A-Z0-9]{1,32}|webhook:[A-Za-z0-9_.-]{1,64})$")
MAX_SHARES = 50


class DriveRecord(BaseModel):
    """A named drive: its owner (the caller whose create first named it) and the
    principals the owner shares it with. Only they (and admins) can name it in a create;
    each owner's clusters get a root of their own on it (naming.Names.drive_root)."""

    model_config = ANSWER
    name: str
    owner: str
    shares: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class DriveShares(Strict):
    """`PUT /drives/{name}/shares`: the whole list of whom the drive is shared with
    (it replaces the list; [] shares it with nobody)."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)
    principals: Annotated[list[Annotated[str, Field(pattern=PRINCIPAL.pattern)]],
                          Field(max_length=MAX_SHARES)]

    @field_validator("principals")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class StepEvent(BaseModel):
    """What the state machines send a step Lambda."""

    model_config = ConfigDict(extra="ignore")

    action: str
    cluster: str
    state: str = ""
    token: str | None = None
    status: Status | None = None
    error: dict[str, Any] | None = None
    # What earlier states made, carried by the machine's state instead of the registry.
    file_system: str = ""
    images: list[dict[str, str]] = Field(default_factory=list)  # one item: role -> URI
