"""The seam between local mode and the internals of moto and chalice's local server.

Local mode bends moto (the only stand-in) and chalice's local server where they differ
from AWS or are too slow, and reads their state where no API shows it. Every such
internal is declared here once, in INTERNALS (what it is, why local mode touches it, the
parameters and attributes it relies on) or in CHANGES (the backend methods whose writes
local mode hears of), and is reached only through this module: `get` and `backend` read
a declared target, `wrap_once` replaces one, `add` gives a class a method it lacks, and
the few private attributes have a function each. Nothing else in daskyard.local imports
moto (an import-linter contract).

`changed()` checks every declaration against the moto and chalice installed and names
each target that moved, lost an attribute or changed its parameters; the guard test
(tests/unit/test_seam.py) runs it first in `make test`, and `wrap_once` checks the
target it replaces before touching it. A moto or chalice upgrade so fails by the name
of what it changed, never obscurely in a test far away."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The mark on each replacement this module installs; it holds the replacing party.
MARK = "__daskyard_seam__"


@dataclass(frozen=True)
class Internal:
    """A moto or chalice internal local mode touches."""

    target: str  # dotted path: package.module[.Class].attribute
    why: str
    # Its parameters as local mode calls or replaces it (None: only that it is there).
    params: tuple[str, ...] | None = None
    # Of a class: the attributes of it or its instances local mode reads or sets.
    attributes: tuple[str, ...] = ()
    added: bool = False  # local mode adds it: moto must not have one of its own


_SFN = "moto.stepfunctions.parser"
_ECS = "moto.ecs.models.EC2ContainerServiceBackend"

INTERNALS: tuple[Internal, ...] = (
    # --- the Lambda router (emulator.MotoAdapter) ---------------------------------------
    Internal("moto.awslambda.models.LambdaFunction._invoke_lambda",
             "replaced: every Invoke, the ASL interpreter's too, runs the Chalice handler in "
             "this process (moto would start a container); returns (payload, errored, logs)",
             ("self", "event")),
    Internal("moto.events.models.Rule.send_to_targets",
             "replaced: an event matched to a rule with a Lambda target runs the handler "
             "in this process; the other targets go to moto",
             ("self", "original_event", "transform_input")),
    Internal("moto.events.models.Rule", "(the same)", attributes=("targets", "event_pattern")),
    Internal("moto.utilities.arns.parse_arn", "which of a rule's targets are Lambdas",
             ("arn",)),
    # --- the emulator's server, reset and executions (emulator.Emulator) ----------------
    Internal("moto.moto_server.threaded_moto_server.ThreadedMotoServer",
             "the moto server in this process", ("ip_address", "port", "verbose"),
             ("start", "stop", "get_host_and_port")),
    Internal("moto.core.DEFAULT_ACCOUNT_ID", "the account local mode runs in"),
    Internal("moto.core.base_backend.BackendDict",
             "every service's state in this process, to reset and to find executions",
             attributes=("_instances", "service_name", "backend")),
    Internal("moto.core.base_backend.AccountSpecificBackend.reset",
             "a service back to a new account's state", ("self",)),
    Internal("moto.core.base_backend.backend_lock", "held while the services reset"),
    Internal("moto.core.model_instances.model_data",
             "moto's dashboard tracks each model instance: a reset drops them"),
    Internal("moto.stepfunctions.models.StateMachine.stop_execution",
             "a reset stops the executions still running", ("self", "execution_arn")),
    Internal("moto.stepfunctions.models.StateMachine", "(the same)",
             attributes=("executions",)),
    Internal(f"{_SFN}.backend.execution.Execution",
             "a stopped execution waiting on a task token is woken so that it ends",
             attributes=("exec_worker", "status", "execution_arn")),
    Internal(f"{_SFN}.backend.execution_worker.ExecutionWorker", "(the same)",
             attributes=("env",)),
    Internal(f"{_SFN}.asl.eval.environment.Environment", "(the same)",
             attributes=("callback_pool_manager",)),
    Internal(f"{_SFN}.asl.eval.callback.callback.CallbackPoolManager", "(the same)",
             attributes=("_pool",)),
    Internal(f"{_SFN}.asl.eval.callback.callback.CallbackEndpoint.interrupt_all",
             "(the same)", ("self",)),
    # --- speed: what moto does on every call, done once (speedups.py) -------------------
    Internal("moto.backends.list_of_moto_modules",
             "replaced: moto lists its own package directory on every request (a fifth "
             "of each call's CPU); the list is kept", ()),
    Internal(f"{_SFN}.asl.component.state.exec.state_task.lambda_eval_utils.boto_client_for",
             "replaced: one boto3 client per endpoint instead of one per Lambda task (6 ms "
             "each), signed with the state machines' role under local IAM",
             ("region", "service", "state_credentials")),
    Internal(f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_sfn."
             "boto_client_for",
             "replaced: (the same) for the Step Functions tasks (startExecution.sync)",
             ("region", "service", "state_credentials")),
    Internal(f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_sfn."
             "StateTaskServiceSfn._normalise_parameters",
             "wrapped: a Step Functions task's parameters in the API's casing and with a "
             "generated execution name, as AWS sends them (moto passes them as written, "
             "so every states:startExecution failed with States.Runtime)",
             ("self", "parameters", "boto_service_name", "service_action_name")),
    Internal(f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_sfn."
             "StateTaskServiceSfn._normalise_response",
             "wrapped: its answer in the ASL's casing (ExecutionArn, Output), as AWS gives it",
             ("self", "response", "boto_service_name", "service_action_name")),
    Internal(f"{_SFN}.asl.component.state.exec.state_task.service.state_task_service_sfn."
             "StateTaskServiceSfn", "(the same): moto's own converters, which it leaves unused",
             attributes=("_to_boto_request", "_from_boto_response", "_get_boto_service_action")),
    Internal("moto.settings.moto_server_port", "the port the interpreter's clients call", ()),
    Internal(f"{_SFN}.asl.parse.asl_parser.AmazonStateLanguageParser.parse",
             "replaced: a definition's parse tree is kept (the ANTLR parse was an eighth "
             "of a create's CPU)", ("definition",)),
    Internal(f"{_SFN}.asl.parse.preprocessor.Preprocessor",
             "a definition's components are built once from its kept tree", (),
             ("visit",)),
    Internal(f"{_SFN}.asl.utils.json_path.parse",
             "replaced: a JSONPath parsed once by its text (moto's parser rebuilds itself "
             "from its grammar tables for every path it reads)", ("path", "debug")),
    Internal(f"{_SFN}.asl.component.common.path.result_path.parse", "(the same): ResultPath",
             ("string",)),
    Internal(f"{_SFN}.asl.component.eval_component.EvalComponent",
             "(the same): each component's key in an execution's heap made at once",
             attributes=("heap_key",)),
    Internal("moto.dynamodb.responses.DynamoResult.execute_result",
             "replaced for item operations: their answer, already in its wire shape, is "
             "written as JSON (moto's serializer walks AttributeValue's ten members for "
             "every attribute: the largest cost of a create)", ("self", "context")),
    Internal("moto.dynamodb.responses.DynamoResult", "(the same)", attributes=("result",)),
    Internal("moto.core.utils.get_service_model",
             "replaced: one botocore ServiceModel per service, not one per request",
             ("service_name",)),
    Internal("moto.core.routing.get_service_model", "(the same)", ("service_name",)),
    Internal("moto.core.responses.method_names_from_class",
             "replaced: a response class's methods listed once, not on every request",
             ("clazz",)),
    Internal("moto.ec2.models.amis.load_resource",
             "replaced: of the ECS-optimized AMIs, EC2 gets those Parameter Store recommends "
             "(moto made all 1,227, with a volume and a snapshot each, at every reset)",
             ("resource",)),
    Internal("moto.iam.models.IAMBackend._init_aws_policies",
             "replaced: AWS's managed policies made for the `aws` partition's IAM only, "
             "where local mode runs (moto made them for all six partitions)", ("self",)),
    # --- AWS behaviour moto lacks -------------------------------------------------------
    Internal("moto.dynamodb.models.DynamoDBBackend.put_item",
             "wrapped: DynamoDB checks a write's condition and writes in one step; moto's "
             "writes are serialized so that two conditional puts cannot both succeed"),
    Internal("moto.dynamodb.models.DynamoDBBackend.update_item", "(the same)"),
    Internal("moto.dynamodb.models.DynamoDBBackend.delete_item", "(the same)"),
    Internal("moto.dynamodb.models.DynamoDBBackend.transact_write_items", "(the same)"),
    Internal("moto.efs.models.EFSBackend.create_mount_target",
             "wrapped: a mount target is `creating` for the latency profile's delay, as "
             "on AWS (moto makes it available at once)",
             ("self", "file_system_id", "subnet_id", "ip_address", "security_groups")),
    Internal("moto.efs.models.EFSBackend.describe_mount_targets",
             "wrapped: (marker, targets); a creating target whose time has come is available",
             ("self", "max_items", "file_system_id", "mount_target_id", "access_point_id",
              "marker")),
    Internal("moto.efs.models.MountTarget", "(the same)", attributes=("life_cycle_state",)),
    Internal("moto.ssm.models.SimpleSystemManagerBackend.put_parameter",
             "wrapped: SSM tells EventBridge of each parameter written (Parameter Store "
             "Change), as AWS does", ("self", "name", "description", "value",
                                      "parameter_type", "allowed_pattern", "keyid",
                                      "overwrite", "tags", "data_type", "tier", "policies")),
    Internal("moto.ssm.models.SimpleSystemManagerBackend", "(the same)",
             attributes=("_parameters", "account_id", "region_name")),
    Internal("moto.events.models.events_backends", "(the same): the event is put here"),
    Internal("moto.events.models.EventsBackend.put_events", "(the same)",
             ("self", "events")),
    # --- RunTask's tasks run (standalone.py) --------------------------------------------
    Internal(f"{_ECS}.run_task",
             "wrapped: the tasks RunTask makes are handed to the standalone runner",
             ("self", "cluster_str", "task_definition_str", "count", "overrides",
              "started_by", "tags", "launch_type", "networking_configuration", "group",
              "platform_version", "capacity_provider_strategy")),
    Internal(f"{_ECS}.stop_task", "wrapped: StopTask stops the task's process",
             ("self", "cluster_str", "task_str", "reason")),
    Internal(f"{_ECS}.list_account_settings",
             "wrapped: the account's effective settings, as AWS answers (moto: only those put)",
             ("self", "name", "value")),
    Internal(f"{_ECS}.describe_task_definition", "a standalone task's definition",
             ("self", "task_definition_str")),
    Internal(f"{_ECS}.register_task_definition",
             "the peer benchmark's fault: wrapped while it runs to refuse a family",
             ("self", "family", "container_definitions", "volumes", "network_mode", "tags",
              "placement_constraints", "requires_compatibilities", "cpu", "memory",
              "task_role_arn", "execution_role_arn", "proxy_configuration",
              "inference_accelerators", "runtime_platform", "ipc_mode", "pid_mode",
              "ephemeral_storage")),
    Internal("moto.ecs.exceptions.EcsClientException", "(the same): ECS's ClientException",
             ("message",)),
    Internal(_ECS, "a standalone task is gone with its cluster or from moto's tasks",
             attributes=("tasks", "clusters", "account_settings", "account_id",
                         "region_name")),
    Internal("moto.ecs.models.Task",
             "a standalone task's status is the runner's, not moto's walk to STOPPED",
             attributes=("_transitions", "status", "desired_status", "stopped_reason",
                         "containers", "overrides", "attachments", "network_configuration",
                         "task_definition_arn", "cluster_name", "task_arn", "cluster_arn",
                         "group")),
    Internal("moto.ecs.models.Container", "(the same)", attributes=("last_status", "exitCode")),
    Internal("moto.ecs.models.TaskDefinition", "a standalone task's containers",
             attributes=("arn", "container_definitions")),
    Internal("moto.ecs.models.Cluster", "(the same)", attributes=("status",)),
    Internal("moto.ecs.models.AccountSetting", "the default settings answered",
             ("name", "value")),
    Internal("moto.ec2.models.ec2_backends", "a standalone task's ENI carries its address"),
    Internal("moto.ec2.models.EC2Backend", "(the same); IAM reads tags and launch templates",
             attributes=("enis", "tags", "launch_templates")),
    Internal("moto.ec2.models.EC2Backend.delete_network_interface",
             "a stopped standalone task's ENI is deleted, as ECS does", ("self", "eni_id")),
    Internal("moto.ec2.models.elastic_network_interfaces.NetworkInterface", "(the same)",
             attributes=("private_ip_address", "private_ip_addresses", "public_ip")),
    # --- Service Quotas (quotas.py) ------------------------------------------------------
    Internal("moto.servicequotas.models.ServiceQuotasBackend.get_service_quota",
             "wrapped: a quota a test applied is answered", ("self", "service_code",
                                                             "quota_code")),
    Internal("moto.servicequotas.models.servicequotas_backends", "where a quota is applied"),
    Internal("moto.servicequotas.responses.ServiceQuotasResponse",
             "GetAWSDefaultServiceQuota reads its request", attributes=("body", "backend")),
    Internal("moto.servicequotas.responses.ServiceQuotasResponse.get_service_quota",
             "the response class dispatches an operation to its snake-case method",
             ("self",)),
    Internal("moto.servicequotas.responses.ServiceQuotasResponse.get_aws_default_service_quota",
             "added: moto has no GetAWSDefaultServiceQuota (when it has one, use it)",
             ("self",), added=True),
    Internal("moto.servicequotas.exceptions.NoSuchResource", "a quota with no default"),
    Internal("moto.iam.models.AccountSummary.summary_map",
             "wrapped (a property): IAM's account summary gives the roles quota in force"),
    Internal("moto.iam.models.IAMBackend.create_role",
             "wrapped: CreateRole past the roles quota is refused, as IAM does",
             ("self", "role_name", "assume_role_policy_document", "path",
              "permissions_boundary", "description", "tags", "max_session_duration",
              "linked_service")),
    Internal("moto.iam.models.IAMBackend", "(the same)", attributes=("roles", "region_name")),
    Internal("moto.iam.exceptions.LimitExceededException", "(the same): its refusal"),
    Internal("moto.efs.models.EFSBackend.create_file_system",
             "wrapped: CreateFileSystem past the file systems quota is refused, as EFS does",
             ("self", "creation_token", "performance_mode", "encrypted", "kms_key_id",
              "throughput_mode", "provisioned_throughput_in_mibps", "availability_zone_name",
              "backup", "tags")),
    Internal("moto.efs.models.FileSystem", "(the same)", attributes=("creation_token",)),
    Internal("moto.efs.exceptions.EFSError", "(the same): its refusal (its `code` set)",
             ("error_type", "message", "_", "kwargs")),
    Internal("moto.servicequotas.resources.default_quotas.vpc.VPC_DEFAULT_QUOTAS",
             "the vpc service's defaults"),
    # --- local IAM (iam.py) --------------------------------------------------------------
    Internal("moto.core.authorization.ActionAuthenticatorMixin."
             "_authenticate_and_authorize_normal_action",
             "replaced: every call is authenticated and authorized by local IAM",
             ("self", "resource")),
    Internal("moto.core.authorization.ActionAuthenticatorMixin."
             "_authenticate_and_authorize_s3_action",
             "replaced: S3 calls only from local mode itself", ("self", "bucket_name",
                                                                 "key_name")),
    Internal("moto.iam.access_control.IAMRequestBase",
             "a call's SigV4 signature is recomputed with the key's secret",
             attributes=("_method", "_path", "_body", "_data", "_headers", "_region",
                         "_service", "_access_key")),
    Internal("moto.iam.access_control.IAMRequestBase.check_signature", "(the same)",
             ("self",)),
    Internal("moto.iam.access_control.IAMRequestBase._calculate_signature", "(the same)",
             ("self",)),
    Internal("moto.iam.access_control.IAMRequest", "(the same)"),
    Internal("moto.iam.access_control.S3IAMRequest", "(the same)"),
    Internal("moto.core.responses.BaseResponse.parse_parameters",
             "a call's parameters, for every protocol", ("self", "request")),
    Internal("moto.core.responses.BaseResponse._get_action", "a call's operation",
             ("self",)),
    Internal("moto.core.responses.BaseResponse",
             "what IAM reads of a call", attributes=(
                 "headers", "method", "raw_path", "parsed_url", "body", "data",
                 "boto3_service_name", "normalized_request", "params")),
    Internal("moto.core.responses.get_service_model", "a call's protocol, for its refusal; "
             "replaced as moto.core.utils.get_service_model is", ("service_name",)),
    Internal("moto.iam.models.iam_backends", "the IAM users, roles and policies"),
    Internal("moto.iam.models.IAMBackend.get_user_from_access_key_id",
             "an IAM user's key: API Gateway's and IAM's signature checks",
             ("self", "access_key_id")),
    Internal("moto.iam.models.IAMBackend.get_role", "a role's policies and boundary",
             ("self", "role_name")),
    Internal("moto.iam.models.IAMBackend.get_policy", "(the same)", ("self", "policy_arn")),
    Internal("moto.iam.models.IAMBackend.get_user", "a user's policies", ("self", "name")),
    Internal("moto.iam.models.IAMBackend.get_groups_for_user", "(the same)",
             ("self", "user_name")),
    Internal("moto.iam.models.IAMBackend.get_instance_profile",
             "iam:PassRole behind an instance profile", ("self", "profile_name")),
    Internal("moto.efs.models.efs_backends", "a file system's tags and mount targets"),
    Internal("moto.efs.models.EFSBackend.list_tags_for_resource", "(the same)",
             ("self", "resource_id")),
    Internal("moto.efs.models.EFSBackend", "(the same); the file systems quota counts them",
             attributes=("mount_targets_by_id", "file_systems_by_id", "region_name")),
    Internal("moto.ecs.models.ecs_backends", "an ECS resource's tags"),
    Internal(f"{_ECS}.list_tags_for_resource", "(the same)", ("self", "resource_arn")),
    Internal("moto.ec2.models.EC2Backend.describe_key_pairs", "a key pair's id, for its tags",
             ("self", "key_names", "filters")),
    Internal("moto.secretsmanager.models.secretsmanager_backends", "a secret's ARN"),
    Internal("moto.secretsmanager.models.SecretsManagerBackend.describe_secret",
             "(the same)", ("self", "secret_id")),
    # --- chalice's local server (gateway.py, stack.py) ----------------------------------
    Internal("chalice.local.LocalGateway",
             "the local API's gateway, its authorizer replaced by one checking SigV4",
             ("app_object", "config"), ("_authorizer",)),
    Internal("chalice.local.LocalGatewayAuthorizer.authorize", "(the same)",
             ("self", "raw_path", "lambda_event", "lambda_context")),
    Internal("chalice.local.LocalGatewayAuthorizer._route_for_event",
             "the route a request is for: does it take IAM authorization",
             ("self", "lambda_event")),
    Internal("chalice.local.ChaliceRequestHandler.__init__",
             "bypassed: the handler serves through the IAM gateway (set as `local_gateway` "
             "before the base handler's __init__ serves the request)",
             ("self", "request", "client_address", "server", "app_object", "config")),
    Internal("chalice.local.LocalDevServer", "the local API's server",
             ("app_object", "config", "host", "port", "handler_cls", "server_cls"),
             ("server", "shutdown")),
    Internal("chalice.local.LambdaContext", "each invocation's context",
             ("function_name", "memory_size", "max_runtime_ms", "time_source")),
)


@dataclass(frozen=True)
class Change:
    """Backend methods whose writes local mode hears of, as `event`."""

    backend: str  # the backend class's dotted path
    event: str
    methods: tuple[str, ...] = ()  # () : every method named as a write (WRITES)
    # By the method's first argument: a write that does not count (None: each does).
    unless: Callable[[Any], bool] | None = None


# A moto backend method whose name starts so changes the service's state.
WRITES = ("create_", "delete_", "put_", "update_", "batch_delete_", "tag_", "untag_",
          "set_", "start_", "complete_", "initiate_", "upload_")
SCHEDULER_ROLE_SUFFIX = "-scheduler"  # naming.Names.scheduler_role
# The events: the ECS agent acts at once on service changes (as ECS's control plane
# tells its agents) and sweeps a deleted file system's folder; a reset keeps the images
# and the deployment unless they changed.
SERVICES, IMAGES, FILE_SYSTEMS, DEPLOYMENT = "services", "images", "file systems", "deployment"
CHANGES: tuple[Change, ...] = (
    Change(_ECS, SERVICES, ("create_service", "update_service", "delete_service",
                            "delete_cluster")),
    Change("moto.ecr.models.ECRBackend", IMAGES),
    Change("moto.efs.models.EFSBackend", FILE_SYSTEMS, ("delete_file_system",)),
    # Each cluster's scheduler role is the app's, made and deleted as clusters come and go.
    Change("moto.iam.models.IAMBackend", DEPLOYMENT,
           ("create_role", "delete_role", "put_role_policy", "attach_role_policy",
            "delete_role_policy"),
           unless=lambda role: str(role).endswith(SCHEDULER_ROLE_SUFFIX)),
    Change("moto.awslambda.models.LambdaBackend", DEPLOYMENT,
           ("create_function", "delete_function", "update_function_code",
            "update_function_configuration")),
    Change("moto.events.models.EventsBackend", DEPLOYMENT,
           ("put_rule", "delete_rule", "put_targets", "remove_targets")),
    Change("moto.stepfunctions.models.StepFunctionBackend", DEPLOYMENT,
           ("delete_state_machine",)),
    # The interpreting backend makes and updates machines in its own methods.
    Change(f"{_SFN}.models.StepFunctionsParserBackend", DEPLOYMENT,
           ("create_state_machine", "update_state_machine")),
)

BY_TARGET: dict[str, Internal] = {i.target: i for i in INTERNALS}


class SeamBroken(RuntimeError):
    """moto or chalice no longer has an internal as declared here."""


class Undeclared(KeyError):
    """A target used that INTERNALS and CHANGES do not declare."""


def _resolve(target: str) -> tuple[Any, str]:
    """(owner, attribute name): the longest importable prefix of `target`, then its
    attributes down to the last one's owner."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise ModuleNotFoundError(target)


def _raw(owner: Any, name: str) -> Any:
    """The attribute as the owner holds it (a class's own, else inherited)."""
    if isinstance(owner, type):
        for cls in owner.__mro__:
            if name in vars(cls):
                return vars(cls)[name]
        raise AttributeError(name)
    return getattr(owner, name)


def _function(value: Any) -> Any:
    """The function a class holds as a staticmethod, classmethod or property."""
    if isinstance(value, property):
        return value.fget
    return value.__func__ if isinstance(value, staticmethod | classmethod) else value


def _unwrapped(value: Any) -> Any:
    """Below every replacement this module installed."""
    value = _function(value)
    while hasattr(value, MARK) and hasattr(value, "__wrapped__"):
        value = _function(value.__wrapped__)
    return value


def _declared(target: str) -> None:
    if target not in BY_TARGET and not _changed_method(target):
        raise Undeclared(f"{target} is not declared in daskyard.local.seam")


def _changed_method(target: str) -> Change | None:
    backend, _, method = target.rpartition(".")
    for change in CHANGES:
        if change.backend == backend and (method in change.methods or (
                not change.methods and method.startswith(WRITES))):
            return change
    return None


def get(target: str) -> Any:
    """A declared target as moto or chalice has it (below local mode's replacements)."""
    _declared(target)
    owner, name = _resolve(target)
    return _unwrapped(_raw(owner, name))


def backend(service: str, account: str, region: str = "global") -> Any:
    """moto's backend of `service` (its models' `<service>_backends`) in an account."""
    return get(f"moto.{service}.models.{service}_backends")[account][region]


_ATTRIBUTE_SET = r"\bself\.{}\s*(?::[^=\n]*)?=(?!=)"


def _has(cls: type, attribute: str) -> bool:
    """A class's attribute, or one its (or a base's) source gives its instances."""
    if hasattr(cls, attribute):
        return True
    assigned = re.compile(_ATTRIBUTE_SET.format(re.escape(attribute)))
    for base in cls.__mro__:
        if attribute in getattr(base, "__annotations__", {}):
            return True
        if base.__module__.partition(".")[0] not in ("moto", "chalice"):
            continue
        if assigned.search(_source(base)):
            return True
    return False


@functools.cache
def _source(cls: type) -> str:
    """A class's source (read once: finding it parses its whole module)."""
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""


def _problems(internal: Internal) -> list[str]:
    target = internal.target
    try:
        owner, name = _resolve(target)
        raw = _raw(owner, name)
    except (ImportError, AttributeError) as exc:
        if internal.added:
            return []
        return [f"{target}: gone ({type(exc).__name__}: {exc})"]
    if internal.added and not hasattr(_function(raw), MARK):
        return [f"{target}: moto has its own now; use it and drop local mode's"]
    found = _unwrapped(raw)
    problems = []
    if internal.params is not None:
        try:
            params = tuple(inspect.signature(found).parameters)
        except (TypeError, ValueError) as exc:
            params = (f"<no signature: {exc}>",)
        if params != internal.params:
            problems.append(f"{target}: takes {params}, local mode relies on "
                            f"{internal.params}")
    if internal.attributes:
        if not isinstance(found, type):
            problems.append(f"{target}: is no longer a class")
        else:
            problems += [f"{target}: has no attribute {a!r} any more"
                         for a in internal.attributes if not _has(found, a)]
    return problems


def _change_problems(change: Change) -> list[str]:
    try:
        owner, name = _resolve(change.backend)
        cls = _raw(owner, name)
    except (ImportError, AttributeError) as exc:
        return [f"{change.backend}: gone ({type(exc).__name__}: {exc})"]
    if not change.methods:
        writes = [m for m in vars(cls) if m.startswith(WRITES)]
        return [] if writes else [f"{change.backend}: no write method left to watch"]
    return [f"{change.backend}.{m}: gone (local mode hears of {change.event} changes "
            "through it)" for m in change.methods if not callable(vars(cls).get(m))]


def changed() -> list[str]:
    """Every declared internal moto or chalice no longer has as declared, each naming its
    target (empty: all as local mode relies on them)."""
    found = [p for internal in INTERNALS for p in _problems(internal)]
    return found + [p for change in CHANGES for p in _change_problems(change)]


def check(target: str) -> None:
    """SeamBroken naming `target` unless moto or chalice has it as declared."""
    internal = BY_TARGET.get(target)
    problems = _problems(internal) if internal is not None else []
    if problems:
        raise SeamBroken("; ".join(problems))


_LOCK = threading.RLock()


def wrap_once(target: str, around: Callable[[Any], Callable[..., Any]],
              mark: object) -> None:
    """Replace a declared target by `around(current)`, once per `mark`: a target that
    already has a replacement under `mark` (at any depth) is left as it is. The
    replacement keeps what it replaced as `__wrapped__`; a staticmethod or a property
    stays one (`around` gets and gives its function)."""
    _declared(target)
    check(target)
    with _LOCK:
        owner, name = _resolve(target)
        current = _raw(owner, name)
        layer = _function(current)
        while hasattr(layer, MARK):
            if getattr(layer, MARK) is mark:
                return
            if not hasattr(layer, "__wrapped__"):
                break
            layer = _function(layer.__wrapped__)
        replacement = around(_function(current))
        _takes_the_same(target, replacement)
        replacement.__wrapped__ = current  # type: ignore[attr-defined]
        setattr(replacement, MARK, mark)
        if isinstance(current, staticmethod):
            setattr(owner, name, staticmethod(replacement))
        elif isinstance(current, property):
            setattr(owner, name, property(replacement))
        else:
            setattr(owner, name, replacement)


def _takes_the_same(target: str, replacement: Callable[..., Any]) -> None:
    """A replacement takes the declared parameters by the same names (moto passes some by
    keyword), its first one (the instance) excepted; or any, through *args."""
    internal = BY_TARGET.get(target)
    params = inspect.signature(replacement).parameters.values()
    if internal is None or internal.params is None or any(
            p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return
    names, declared = [p.name for p in params], list(internal.params)
    if declared[:1] == ["self"]:
        names, declared = names[1:], declared[1:]
    if names != declared:
        raise TypeError(f"the replacement of {target} takes {names}, moto passes {declared}")


def unwrap(target: str, mark: object) -> None:
    """Take `mark`'s replacement of `target` out again (if it is the outermost)."""
    _declared(target)
    with _LOCK:
        owner, name = _resolve(target)
        current = _raw(owner, name)
        if getattr(_function(current), MARK, None) is mark:
            setattr(owner, name, _function(current).__wrapped__)


def add(target: str, function: Callable[..., Any]) -> None:
    """Give a class the declared method (`added=True`) moto does not have."""
    internal = BY_TARGET.get(target)
    if internal is None or not internal.added:
        raise Undeclared(f"{target} is not declared as added in daskyard.local.seam")
    check(target)
    owner, name = _resolve(target)
    setattr(function, MARK, add)
    setattr(owner, name, function)


# --- private attributes, each behind a function -----------------------------------------
def backend_dicts() -> list[Any]:
    """moto's per-service state, one BackendDict per service in use."""
    return list(get("moto.core.base_backend.BackendDict")._instances)


def callback_endpoints(execution: Any) -> list[Any]:
    """The task-token waits of a running execution."""
    return list(execution.exec_worker.env.callback_pool_manager._pool.values())


def hold_status(task: Any) -> None:
    """moto's ECS task keeps the status set on it (moto walks its tasks to STOPPED as
    they are described)."""
    task._transitions = []


def ssm_has_parameter(ssm: Any, name: str) -> bool:
    return name in ssm._parameters


def use_authorizer(gateway: Any, authorizer: Any) -> None:
    """chalice's LocalGateway authorizes through `authorizer`."""
    gateway._authorizer = authorizer


def check_sigv4(s3: bool, method: str, path: str, body: bytes, form: dict[str, Any],
                headers: Any, region: str, service: str, credentials: Any) -> None:
    """moto's own SigV4 check of a request, with `credentials` (botocore's) as the
    caller's: raises as moto does when the signature does not match."""
    kind = get("moto.iam.access_control.S3IAMRequest" if s3 else
               "moto.iam.access_control.IAMRequest")
    request = kind.__new__(kind)
    request._method, request._path, request._body, request._data = method, path, body, form
    request._headers, request._region, request._service = headers, region, service
    request._access_key = _Credentials(credentials)
    request.check_signature()


@dataclass
class _Credentials:
    credentials: Any

    def create_credentials(self) -> Any:
        return self.credentials


class Changes:
    """Tells listeners when the emulator's state changes as CHANGES says: each declared
    backend method is wrapped once per process by one factory, and the event's
    listeners are called after such a method returns."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        with self._lock:
            if self._installed:
                return
            for change in CHANGES:
                owner, name = _resolve(change.backend)
                cls = _raw(owner, name)
                methods = change.methods or tuple(m for m in vars(cls)
                                                  if m.startswith(WRITES))
                for method in methods:
                    wrap_once(f"{change.backend}.{method}", self._announcing(change), self)
            self._installed = True

    def _announcing(self, change: Change) -> Callable[[Any], Callable[..., Any]]:
        def around(original: Callable[..., Any]) -> Callable[..., Any]:
            def changed(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if change.unless is not None and len(args) > 1 and change.unless(args[1]):
                    return result
                for listener in list(self._listeners.get(change.event, ())):
                    listener()
                return result

            return changed

        return around

    def subscribe(self, event: str, listener: Callable[[], None]) -> None:
        self.install()
        with self._lock:
            self._listeners.setdefault(event, []).append(listener)

    def unsubscribe(self, event: str, listener: Callable[[], None]) -> None:
        with self._lock:
            listeners = self._listeners.get(event, [])
            if listener in listeners:
                listeners.remove(listener)


# One per process: moto's classes are process-wide.
CHANGED = Changes()
