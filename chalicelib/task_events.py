"""The ECS task state change, parsed once: EventBridge's envelope checked (source and
detail type), the task's group read back to this stage's cluster and role, and the detail
validated into one typed, frozen TaskEvent that every reaction (chalicelib.reactions)
reads. An event of another stage, or a foreign or malformed one, never reaches them.

ECS delivers each event at least once and not in order: every reaction copes with a
duplicate and a late event (the version orders a task's events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from chalicelib.core import naming

SOURCE = "aws.ecs"
DETAIL_TYPE = "ECS Task State Change"


def pattern(stage: str) -> dict[str, Any]:
    """The EventBridge rule's pattern: this stage's services' task state changes only."""
    return {"source": [SOURCE], "detail-type": [DETAIL_TYPE],
            "detail": {"group": [{"prefix": f"service:daskyard-{stage}-"}]}}


class NotOurs(ValueError):
    """Not a task state change of one of this stage's services: ignored."""

    def __init__(self, why: str, group: str = "") -> None:
        super().__init__(why)
        self.group = group  # the task's group, when the event has one


class MalformedEvent(ValueError):
    """One of this stage's task events that does not have the schema ECS documents:
    ignored (a redelivery would be as malformed), its errors logged."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__(f"{len(errors)} schema error(s)")
        self.errors = errors


class _Wire(BaseModel):
    """ECS's camelCase names, the rest of the detail ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel,
                              populate_by_name=True)


class NameValue(_Wire):
    name: str
    value: str = ""


class Attachment(_Wire):
    type: str = ""
    details: tuple[NameValue, ...] = ()


class Binding(_Wire):
    container_port: int
    host_port: int


class Container(_Wire):
    name: str = ""
    network_bindings: tuple[Binding, ...] = ()
    exit_code: int | None = None  # in STOPPED events, once the container has exited


class TaskEvent(_Wire):
    """One of this stage's task state changes. `cluster` and `role` come from the task's
    group (`service:daskyard-<stage>-<cluster>-<service>`), the rest from the detail."""

    cluster: str
    role: naming.Role
    task_arn: str
    cluster_arn: str
    status: str = Field(alias="lastStatus")  # PROVISIONING ... RUNNING ... STOPPED
    version: int
    created_at: str
    updated_at: str = ""
    health: str = Field("UNKNOWN", alias="healthStatus")
    stop_code: str = ""  # STOPPED: EssentialContainerExited, TaskFailedToStart, ...
    stopped_reason: str = ""
    stopped_at: str = ""
    attachments: tuple[Attachment, ...] = ()
    containers: tuple[Container, ...] = ()
    container_instance_arn: str | None = None  # EC2 only

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def exit_code(self) -> int | None:
        """The exit code of the task's container (one per task: the role's), once it
        exited; None before, or when ECS did not get one."""
        return next((c.exit_code for c in self.containers if c.exit_code is not None), None)

    @property
    def idle_exit(self) -> bool:
        """A scheduler that stopped because its idle timeout fired: no crash (idle.py)."""
        return (self.role == "scheduler" and self.status == "STOPPED"
                and self.exit_code == naming.EXIT_IDLE)

    def eni_detail(self, name: str) -> str:
        """A detail of the task's network interface (awsvpc), "" without one."""
        for attachment in self.attachments:
            if attachment.type in ("eni", "ElasticNetworkInterface"):  # events say "eni"
                for item in attachment.details:
                    if item.name == name:
                        return item.value
        return ""

    def host_port(self, container_port: int) -> int | None:
        """Bridge mode (EC2): the host port ECS bound to `container_port`."""
        return next((b.host_port for c in self.containers for b in c.network_bindings
                     if b.container_port == container_port), None)

    def order(self) -> str:
        """Orders a role's tasks' events: a later task beats an earlier one, and within
        a task a higher version beats a lower one (compared as strings by DynamoDB)."""
        return f"{self.created_at}#{self.version:012d}"

    def identity(self) -> dict[str, str]:
        """What names the event in a log line (no secret is in a task event)."""
        return {"cluster": self.cluster, "role": self.role, "task": self.task_id,
                "status": self.status, "version": str(self.version)}


def parse(event: Mapping[str, Any], stage: str) -> TaskEvent:
    """The EventBridge event (its envelope: `source`, `detail-type`, `detail`) as a
    TaskEvent of `stage`. NotOurs for another source, detail type, stage or service;
    MalformedEvent for a detail without the fields the reactions need."""
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise NotOurs(f"not ours: {event.get('source')!s:.40} {event.get('detail-type')!s:.40}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEvent([{"loc": ("detail",), "msg": "not an object"}])
    group = str(detail.get("group", ""))
    ours = naming.cluster_from_group(stage, group)
    if ours is None:
        raise NotOurs("not ours", group[:200])
    cluster, role = ours
    try:
        return TaskEvent.model_validate({**detail, "cluster": cluster, "role": role})
    except ValidationError as exc:
        raise MalformedEvent(exc.errors(include_input=False)) from None
