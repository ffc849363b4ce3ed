"""What moto and its ASL interpreter redo on every call, done once: a test suite (and
`make demo`) runs thousands of emulated AWS calls, and most of their CPU was moto's own
bookkeeping, not the services' behaviour. Each function replaces one declared internal
(daskyard/local/seam.py, "speed") by one that answers the same, and says what it saved,
measured; `install` puts them all in place (Emulator.start)."""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

import boto3

from daskyard.local import seam


def install() -> None:
    _list_services_once()
    _parse_each_definition_once()
    _json_paths_parsed_once()
    _one_lambda_client_per_endpoint()
    _items_written_directly()
    _service_models_once()
    _recommended_ecs_amis_only()
    _managed_policies_where_local_mode_runs()


def _list_services_once() -> None:
    """moto's server finds the service of every request by listing its own package
    directory (os.listdir and an isdir per entry, under a lock): a fifth of the CPU of
    each emulated AWS call, measured. The directory does not change while we run."""

    def once(original: Callable[[], Any]) -> Callable[[], tuple[str, ...]]:
        names = tuple(original())

        def listed() -> tuple[str, ...]:
            return names

        return listed

    seam.wrap_once("moto.backends.list_of_moto_modules", once, _list_services_once)


STATE_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"


def _one_lambda_client_per_endpoint() -> None:
    """The ASL interpreter makes a new boto3 client for every Lambda (and Step Functions)
    task it runs (its `boto_client_for`, 6 ms of CPU each): a fifteenth of the CPU of a
    create and its destroy, measured. The client depends only on the region, the service and the
    server's port, and boto3 clients may be shared between threads: one is kept per
    (region, service, port)."""
    moto_server_port = seam.get("moto.settings.moto_server_port")

    def kept(original: Callable[..., Any]) -> Callable[..., Any]:
        clients: dict[tuple[str, str, str, str], Any] = {}
        lock = threading.Lock()

        def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            from daskyard.local import iam

            signer = iam.ACTIVE.states_key if iam.ACTIVE is not None else None
            key = (region, service, moto_server_port(), signer[0] if signer else "")
            with lock:
                if key not in clients:
                    client = original(region, service, state_credentials)
                    if signer is not None:  # Step Functions calls with its machines' role
                        client = boto3.client(  # type: ignore[call-overload]
                            service, region_name=region,
                            endpoint_url=client.meta.endpoint_url,
                            aws_access_key_id=signer[0], aws_secret_access_key=signer[1],
                            config=client.meta.config)
                    clients[key] = client
                return clients[key]

        return client_for

    for module in ("lambda_eval_utils", "service.state_task_service_sfn"):
        seam.wrap_once(f"{STATE_TASK}.{module}.boto_client_for", kept,
                       _one_lambda_client_per_endpoint)


def _parse_each_definition_once() -> None:
    """The ASL interpreter parses a machine's definition with ANTLR and builds its
    evaluation components at the start of every execution: an eighth of the CPU of a
    create for the parse, as much again for the components, measured. Both are kept per
    definition. The components hold no execution's state (it is in each execution's
    Environment: moto runs a Map's concurrent iterations on the same components), except
    a key each makes itself the first time it is asked (its retry counters' place in the
    Environment), so every key is made at once here, before two executions could race."""
    preprocessor = seam.get("moto.stepfunctions.parser.asl.parse.preprocessor.Preprocessor")
    component = seam.get("moto.stepfunctions.parser.asl.component.eval_component."
                         "EvalComponent")

    def keyed(program: Any) -> Any:
        seen, found = set(), [program]
        while found:
            part = found.pop()
            if id(part) in seen:
                continue
            seen.add(id(part))
            if isinstance(part, component):
                part.heap_key  # noqa: B018  # made now, once
            if isinstance(part, dict):
                found += part.values()
            elif isinstance(part, (list, tuple, set, frozenset)):
                found += part
            elif type(part).__module__.startswith("moto.stepfunctions"):
                found += vars(part).values() if hasattr(part, "__dict__") else ()
        return program

    def kept(original: Callable[[str], Any]) -> Callable[[str], tuple[Any, Any]]:
        programs: dict[str, tuple[Any, Any]] = {}
        lock = threading.Lock()

        def parse(definition: str) -> tuple[Any, Any]:
            with lock:
                made = programs.get(definition)
            if made is None:
                _, tree = original(definition)  # raises on a bad definition
                made = keyed(preprocessor().visit(tree)), tree
                with lock:
                    made = programs.setdefault(definition, made)
            return made

        return parse

    seam.wrap_once("moto.stepfunctions.parser.asl.parse.asl_parser."
                   "AmazonStateLanguageParser.parse", kept, _parse_each_definition_once)


def _json_paths_parsed_once() -> None:
    """The ASL interpreter parses each JSONPath (`$.cluster`, a ResultPath) with a
    parser it builds afresh from its grammar tables on every use: a thirtieth of a
    create's CPU. A path's parsed expression is only read (`find`, `update_or_create`
    change the data, not the expression), so each is kept by its text."""

    def kept(original: Callable[[str], Any]) -> Callable[[str], Any]:
        return functools.lru_cache(maxsize=1024)(original)

    for module in ("utils.json_path", "component.common.path.result_path"):
        seam.wrap_once(f"moto.stepfunctions.parser.asl.{module}.parse", kept,
                       _json_paths_parsed_once)


def _recommended_ecs_amis_only() -> None:
    """moto gives each region's EC2 all 1,227 ECS-optimized AMIs Amazon has published,
    each made with a volume and a snapshot under random ids, at every reset: 30 ms of
    CPU, a tenth of a short test's. Local mode keeps the ones Parameter Store names as
    recommended (what the EC2 launch type's `.../recommended/image_id` answers; 20 in
    us-east-1) and moto's other AMIs."""

    def recommended(tree: Any, under: bool = False) -> set[str]:
        if isinstance(tree, dict):
            return set().union(*(recommended(value, under or key == "recommended")
                                 for key, value in tree.items()))
        return set(re.findall(r"ami-[0-9a-f]+", tree)) if under and isinstance(tree, str) \
            else set()

    def kept(original: Callable[[str], Any]) -> Callable[[str], Any]:
        @functools.cache
        def ecs_amis(resource: str) -> tuple[dict[str, Any], ...]:
            named = recommended(original(resource.replace("ec2/", "ssm/", 1)))
            return tuple(ami for ami in original(resource) if ami["ami_id"] in named)

        def load_resource(resource: str) -> Any:
            if resource.startswith("ec2/resources/ecs/optimized_amis/"):
                # Read once; a copy each time, as moto changes what it loads.
                return copy.deepcopy(list(ecs_amis(resource)))
            return original(resource)
        return load_resource

    seam.wrap_once("moto.ec2.models.amis.load_resource", kept, _recommended_ecs_amis_only)


def _managed_policies_where_local_mode_runs() -> None:
    """moto makes IAM's 1,582 AWS managed policies (4.7 MB of JSON) for each of its six
    partitions, at the first signed call after a start or a whole reset; local mode runs
    in the `aws` partition only: the others' IAM is left without them (0.3 s of CPU a
    start)."""

    def aws_only(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def _init_aws_policies(backend: Any) -> Any:
            return original(backend) if backend.region_name == "aws" else []
        return _init_aws_policies

    seam.wrap_once("moto.iam.models.IAMBackend._init_aws_policies", aws_only,
                   _managed_policies_where_local_mode_runs)


# DynamoDB's item operations: their answers hold only items, counts, keys and capacity.
ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query",
                             "Scan", "BatchGetItem", "BatchWriteItem", "TransactGetItems",
                             "TransactWriteItems"})


def _plain_json(value: Any) -> Any:
    """A DynamoDB answer as its JSON protocol writes it: no null members, binary values
    in base64 (moto keeps them as bytes for its serializer)."""
    if isinstance(value, dict):
        return {key: _plain_json(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [_plain_json(member) for member in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _items_written_directly() -> None:
    """moto serializes every answer by walking its output shape member by member; for a
    DynamoDB item that is every one of AttributeValue's ten members for each attribute:
    the largest single cost of a create, measured. An item operation's answer is already
    in its wire shape (moto's `dynamo_to_dict`), so it is written as JSON directly
    (tests/seam/test_seam.py compares both ways on every attribute type)."""

    def direct(original: Callable[..., Any]) -> Callable[..., Any]:
        def execute_result(result: Any, context: Any) -> Any:
            if context.operation_model.name not in ITEM_OPERATIONS \
                    or not isinstance(result.result, dict):
                return original(result, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(
                _plain_json(result.result))
        return execute_result

    seam.wrap_once("moto.dynamodb.responses.DynamoResult.execute_result", direct,
                   _items_written_directly)


def _service_models_once() -> None:
    """moto builds a new botocore ServiceModel for every request it answers (and so
    resolves its shapes again), and lists a response class's methods with
    `inspect.getmembers` for every request: both are kept (a model is read-only; a
    class's methods are listed again should local mode add one, seam.add)."""

    kept: dict[Any, Callable[[str], Any]] = {}

    def kept_models(original: Callable[[str], Any]) -> Callable[[str], Any]:
        # The three modules import the same function: one cache serves them all.
        return kept.setdefault(original, functools.cache(original))

    def kept_names(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
        @functools.cache
        def listed(clazz: object, members: int) -> tuple[str, ...]:
            return tuple(original(clazz))

        def method_names_from_class(clazz: object) -> list[str]:
            return list(listed(clazz, len(vars(clazz))))
        return method_names_from_class

    for module in ("utils", "responses", "routing"):
        seam.wrap_once(f"moto.core.{module}.get_service_model", kept_models,
                       _service_models_once)
    seam.wrap_once("moto.core.responses.method_names_from_class", kept_names,
                   _service_models_once)
