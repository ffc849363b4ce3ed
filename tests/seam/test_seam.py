"""The guard of the seam between local mode and moto's and chalice's internals
(daskyard/local/seam.py). `make test` runs it before anything else: after a moto or
chalice upgrade, a failure here names each internal that moved, lost an attribute or
changed its parameters. No moto server is started."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from daskyard.local import seam

STOP_TASK = "moto.ecs.models.EC2ContainerServiceBackend.stop_task"


def test_every_internal_local_mode_touches_is_as_declared() -> None:
    changed = seam.changed()
    assert not changed, ("moto or chalice changed internals local mode relies on "
                         "(daskyard/local/seam.py):\n  " + "\n  ".join(changed))


def test_a_changed_signature_fails_the_guard_naming_its_target(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    def stop_task(self: Any, cluster_str: str, task_str: str) -> Any:  # `reason` dropped
        raise AssertionError("never called")

    monkeypatch.setattr(EC2ContainerServiceBackend, "stop_task", stop_task)
    assert seam.changed() == [
        f"{STOP_TASK}: takes ('self', 'cluster_str', 'task_str'), local mode relies on "
        "('self', 'cluster_str', 'task_str', 'reason')"]
    with pytest.raises(seam.SeamBroken, match=STOP_TASK):
        seam.wrap_once(STOP_TASK, lambda original: original, object())
    assert EC2ContainerServiceBackend.__dict__["stop_task"] is stop_task  # left alone


def test_an_attribute_gone_and_a_target_gone_fail_the_guard_by_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.efs import models as efs
    from moto.stepfunctions.parser.asl.parse import asl_parser

    class MountTarget:  # its state under another name
        def __init__(self) -> None:
            self.lifecycle_state = "available"

    monkeypatch.setattr(efs, "MountTarget", MountTarget)
    monkeypatch.delattr(asl_parser, "AmazonStateLanguageParser")
    changed = seam.changed()
    assert "moto.efs.models.MountTarget: has no attribute 'life_cycle_state' any more" \
        in changed
    assert any(p.startswith("moto.stepfunctions.parser.asl.parse.asl_parser."
                            "AmazonStateLanguageParser.parse: gone") for p in changed)


def test_a_method_moto_adds_itself_is_named_so_ours_can_go(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.servicequotas.responses import ServiceQuotasResponse

    def get_aws_default_service_quota(self: Any) -> str:
        return "{}"

    monkeypatch.setattr(ServiceQuotasResponse, "get_aws_default_service_quota",
                        get_aws_default_service_quota, raising=False)
    assert seam.changed() == [
        "moto.servicequotas.responses.ServiceQuotasResponse.get_aws_default_service_quota: "
        "moto has its own now; use it and drop local mode's"]


def test_a_watched_write_method_gone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.efs.models import EFSBackend

    monkeypatch.delattr(EFSBackend, "delete_file_system")
    assert seam.changed() == ["moto.efs.models.EFSBackend.delete_file_system: gone (local "
                              "mode hears of file systems changes through it)"]


def test_only_declared_targets_are_reached_or_replaced() -> None:
    undeclared = "moto.ecs.models.EC2ContainerServiceBackend.list_clusters"
    with pytest.raises(seam.Undeclared):
        seam.get(undeclared)
    with pytest.raises(seam.Undeclared):
        seam.wrap_once(undeclared, lambda original: original, object())
    with pytest.raises(seam.Undeclared):  # declared, but not as one local mode adds
        seam.add(STOP_TASK, lambda self: None)


def test_a_replacement_is_one_layer_per_mark_and_comes_out_again() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.__dict__["stop_task"]
    mark, calls = object(), []

    def around(moto: Any) -> Any:
        def stop_task(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return moto(*args, **kwargs)
        return stop_task

    try:
        seam.wrap_once(STOP_TASK, around, mark)
        once = EC2ContainerServiceBackend.__dict__["stop_task"]
        seam.wrap_once(STOP_TASK, around, mark)
        assert EC2ContainerServiceBackend.__dict__["stop_task"] is once
        assert once.__wrapped__ is original
        assert seam.get(STOP_TASK) is seam.get(STOP_TASK) and inspect.signature(
            seam.get(STOP_TASK)).parameters.keys() == inspect.signature(
            original).parameters.keys()
    finally:
        seam.unwrap(STOP_TASK, mark)
    assert EC2ContainerServiceBackend.__dict__["stop_task"] is original


def test_a_staticmethod_stays_one() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    target = ("moto.stepfunctions.parser.asl.parse.asl_parser."
              "AmazonStateLanguageParser.parse")
    current = AmazonStateLanguageParser.__dict__["parse"]
    mark = object()
    try:
        seam.wrap_once(target, lambda moto: lambda definition: moto(definition), mark)
        assert isinstance(AmazonStateLanguageParser.__dict__["parse"], staticmethod)
        assert AmazonStateLanguageParser.parse('{"StartAt": "A", "States": {"A": '
                                               '{"Type": "Succeed"}}}')[1] is not None
    finally:
        seam.unwrap(target, mark)
    assert AmazonStateLanguageParser.__dict__["parse"] is current


def test_a_replacement_must_take_the_parameters_moto_passes() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.__dict__["stop_task"]

    def stop_task(backend: Any, cluster: str, task: str, reason: str) -> Any:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match=f"the replacement of {STOP_TASK} takes"):
        seam.wrap_once(STOP_TASK, lambda moto: stop_task, object())
    assert EC2ContainerServiceBackend.__dict__["stop_task"] is original


@pytest.mark.parametrize("operation", ["Query", "GetItem", "UpdateItem", "TransactGetItems"])
def test_item_answers_written_directly_are_what_motos_serializer_writes(operation: str) -> None:
    """speedups._items_written_directly writes an item operation's answer as JSON: the
    same document moto's serializer makes from the output shape, for every attribute
    type (binary ones in base64), with null members left out."""
    import json

    from moto.core.responses import ActionContext, ActionResult
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoResult

    from daskyard.local import speedups

    item = {"s": {"S": "text"}, "n": {"N": "12.5"}, "b": {"B": b"\x00\xffbytes"},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]},
            "m": {"M": {"inner": {"S": "x"}, "list": {"L": [{"N": "1"}, {"NULL": True}]}}},
            "l": {"L": [{"BOOL": False}, {"M": {}}]}, "null": {"NULL": True},
            "yes": {"BOOL": True}}
    answers = {"Query": {"Items": [item, {"s": {"S": "other"}}], "Count": 2, "ScannedCount": 2,
                         "LastEvaluatedKey": None, "ConsumedCapacity": None},
               "GetItem": {"Item": item},
               "UpdateItem": {"Attributes": item,
                              "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}},
               "TransactGetItems": {"Responses": [{"Item": item}, {}]}}
    model = get_service_model("dynamodb")
    context = ActionContext(model, model.operation_model(operation),
                            get_serializer_class("dynamodb", "json"), None)
    result = DynamoResult(answers[operation])
    status, headers, body = ActionResult.execute_result(result, context)  # moto's
    speedups._items_written_directly()
    fast = DynamoResult.execute_result(result, context)
    assert fast[:2] == (status, {"Content-Type": headers["Content-Type"]})
    assert json.loads(fast[2]) == json.loads(body)
