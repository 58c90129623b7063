"""Read template.yaml: the wiring of functions, queues and tables, for the local stack and the infra tests.

The local stack and tests/infra take every timeout, batch size, route and environment variable from here, so
they cannot drift from what `sam deploy` gives CloudFormation. `load_template` turns CloudFormation's short
tags (!Ref, !GetAtt, !Sub, ...) into their long forms; `describe` merges SAM's Globals into each function,
substitutes parameters (defaults unless overridden) and keeps references to resources as small values that
`resolve` turns into local names once the local resources exist.

Only what the local stack can drive is described: Serverless functions with HttpApi/Api, SQS and Schedule
events, SQS queues and DynamoDB tables. Other resources and event types are ignored; an intrinsic function
this reader cannot evaluate (Fn::If, Fn::Join, ...) in a value it needs raises TemplateError.

Examples
--------
>>> wiring = describe(load_template("template.yaml"), {"BatchSize": "10"})
>>> wiring.functions["SyncWorkerFunction"].sqs_source.batch_size
10
>>> local = {"SyncQueue": "http://localhost/q", "ConfigTable": "c", "LedgerTable": "l", "StatsTable": "s"}
>>> wiring.functions["IngestFunction"].resolved_environment(local)["SYNC_QUEUE_URL"]
'http://localhost/q'
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml

__all__ = [
    "Authorizer",
    "EnvValue",
    "FunctionSpec",
    "GetAtt",
    "QueueSpec",
    "Ref",
    "Route",
    "Schedule",
    "SqsSource",
    "Sub",
    "TableSpec",
    "TemplateError",
    "Wiring",
    "describe",
    "load_template",
    "parse_template",
    "resolve",
]


class TemplateError(ValueError):
    """The template is not what this reader understands, or a parameter value is missing or invalid."""


# --- loading ----

# Short tag -> long form. Rules-only functions (Contains, EachMemberEquals, ...) are included so that a
# template with a Rules section loads.
_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "Sub",
            "Join",
            "If",
            "Equals",
            "Select",
            "Split",
            "FindInMap",
            "ImportValue",
            "Base64",
            "Not",
            "And",
            "Or",
            "GetAZs",
            "Cidr",
            "Contains",
            "EachMemberEquals",
            "EachMemberIn",
            "RefAll",
            "ValueOf",
            "ValueOfAll",
            "Length",
            "ToJsonString",
            "Transform",
        )
    },
}
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _construct(loader: Any, node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _long_form(name: str) -> Callable[[Any, Any], dict[str, Any]]:
    def construct(loader: Any, node: Any) -> dict[str, Any]:
        return {name: _construct(loader, node)}

    return construct


def _get_att(loader: Any, node: Any) -> dict[str, Any]:
    value = _construct(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute.With.Dots": the logical id never contains a dot, the attribute may.
        logical_id, dot, attribute = value.partition(".")
        if not dot or not logical_id or not attribute:
            raise TemplateError(
                f"line {node.start_mark.line + 1}: !GetAtt {value!r} is not of the form Resource.Attribute"
            )
        value = [logical_id, attribute]
    return {"Fn::GetAtt": value}


# A SafeLoader subclass built with type(): PyYAML ships without type information, and subclassing an
# untyped class is an error under mypy --strict.
_Loader: Any = type("_CloudFormationLoader", (yaml.SafeLoader,), {})
# CloudFormation reads 2010-09-09 as a string, not a date.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _name in _SHORT_TAGS.items():
    _Loader.add_constructor(f"!{_tag}", _long_form(_name))
_Loader.add_constructor("!GetAtt", _get_att)


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into long-form CloudFormation."""
    data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError("not a CloudFormation template: no Resources mapping")
    return data


def load_template(path: str | Path) -> dict[str, Any]:
    """Read a template file into long-form CloudFormation.

    Examples
    --------
    >>> load_template("template.yaml")["Resources"]["SyncQueue"]["Properties"]["RedrivePolicy"]
    {'deadLetterTargetArn': {'Fn::GetAtt': ['SyncDLQ', 'Arn']}, 'maxReceiveCount': {'Ref': 'MaxReceiveCount'}}
    """
    try:
        return parse_template(Path(path).read_text(encoding="utf-8"))
    except TemplateError as exc:
        raise TemplateError(f"{path}: {exc}") from exc


# --- the description ----


@dataclass(frozen=True)
class Ref:
    """A reference to a resource's physical id (queue URL, table name, ...) or to a pseudo parameter."""

    logical_id: str


@dataclass(frozen=True)
class GetAtt:
    """An attribute of a resource (e.g. SyncQueue.Arn)."""

    logical_id: str
    attribute: str


@dataclass(frozen=True)
class Sub:
    """An Fn::Sub string whose parameters are substituted already; ${Name} and ${Name.Attr} remain."""

    template: str


EnvValue: TypeAlias = str | Ref | GetAtt | Sub


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an HttpApi (its Auth.Authorizers entry): payload format 2.0."""

    name: str
    function_logical_id: str
    identity_headers: tuple[str, ...]
    simple_responses: bool


@dataclass(frozen=True)
class Route:
    """An HTTP route of an HttpApi (or Api) event; `path` keeps API Gateway's {name} placeholders;
    `authorizer` is the route's own (Auth.Authorizer) or its API's DefaultAuthorizer, None for NONE."""

    method: str
    path: str
    authorizer: Authorizer | None = None


@dataclass(frozen=True)
class SqsSource:
    """An SQS event source mapping, with Lambda's defaults where the template sets nothing."""

    queue_logical_id: str
    batch_size: int
    max_batching_window_seconds: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class Schedule:
    """A Schedule / ScheduleV2 event: an EventBridge rate() or cron() expression."""

    event_name: str
    expression: str
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function with SAM's Globals merged in (the function's own values win)."""

    logical_id: str
    code_uri: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, EnvValue]
    routes: list[Route]
    sqs_source: SqsSource | None
    schedules: list[Schedule]
    policies: list[Any]

    @property
    def handler_module(self) -> str:
        """'app' for Handler 'app.lambda_handler'."""
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        """'lambda_handler' for Handler 'app.lambda_handler'."""
        return self.handler.rpartition(".")[2]

    @property
    def handler_file(self) -> Path:
        """The handler module's file, relative to the template's directory."""
        return Path(self.code_uri) / (self.handler_module.replace(".", "/") + ".py")

    def resolved_environment(self, physical: Mapping[str, str]) -> dict[str, str]:
        """The environment with every reference looked up in `physical` (see `resolve`)."""
        return {name: resolve(value, physical) for name, value in self.environment.items()}


@dataclass(frozen=True)
class QueueSpec:
    """One AWS::SQS::Queue, with SQS's defaults where the template sets nothing."""

    logical_id: str
    visibility_timeout: int
    message_retention_period: int
    dead_letter_logical_id: str | None
    max_receive_count: int | None
    fifo: bool

    def create_queue_attributes(self, dead_letter_arn: str | None = None) -> dict[str, str]:
        """Attributes for boto3 `create_queue(QueueName=..., Attributes=...)`.

        `dead_letter_arn` is the ARN of the local queue created for `dead_letter_logical_id`.
        """
        attributes = {
            "VisibilityTimeout": str(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.message_retention_period),
        }
        if self.fifo:
            attributes["FifoQueue"] = "true"
        if self.dead_letter_logical_id is not None:
            if dead_letter_arn is None:
                raise TemplateError(
                    f"{self.logical_id} redrives to {self.dead_letter_logical_id}: pass that queue's ARN"
                )
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": self.max_receive_count}
            )
        return attributes


@dataclass(frozen=True)
class TableSpec:
    """One AWS::DynamoDB::Table in the shapes boto3 takes (CloudFormation's property names match boto3's)."""

    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None
    billing_mode: str = "PAY_PER_REQUEST"
    provisioned_throughput: dict[str, int] | None = None

    def create_table_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for boto3 `create_table(TableName=..., **spec.create_table_kwargs())`.

        Time to live is not a create_table argument: call `update_time_to_live` for `ttl_attribute`.
        """
        kwargs: dict[str, Any] = {
            "KeySchema": copy.deepcopy(self.key_schema),
            "AttributeDefinitions": copy.deepcopy(self.attribute_definitions),
            "BillingMode": self.billing_mode,
        }
        if self.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = copy.deepcopy(self.global_secondary_indexes)
        if self.provisioned_throughput is not None:
            kwargs["ProvisionedThroughput"] = dict(self.provisioned_throughput)
        return kwargs


@dataclass(frozen=True)
class Wiring:
    """What `describe` found; `parameters` holds every parameter's value as CloudFormation would see it."""

    functions: dict[str, FunctionSpec]
    queues: dict[str, QueueSpec]
    tables: dict[str, TableSpec]
    parameters: dict[str, str]
    buckets: list[str] = field(default_factory=list)
    """Logical ids of the AWS::S3::Bucket resources (created empty; their properties do not matter locally)."""


def describe(template: Mapping[str, Any], parameter_overrides: Mapping[str, str] | None = None) -> Wiring:
    """Describe the functions, queues, tables and buckets of a long-form template (see `load_template`).

    Parameters take their Default unless `parameter_overrides` sets them (as `sam deploy
    --parameter-overrides` would); values are checked against Type, AllowedValues, AllowedPattern,
    MinValue/MaxValue and MinLength/MaxLength. Number parameters substitute as int (or float).
    """
    parameters = _parameter_values(template.get("Parameters") or {}, parameter_overrides or {})
    resources: Mapping[str, Any] = template["Resources"]
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    context = _Context(parameters, frozenset(resources))
    apis = {
        logical_id: _api_auth(logical_id, context.substitute(resource.get("Properties") or {}))
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::HttpApi"
    }
    functions: dict[str, FunctionSpec] = {}
    queues: dict[str, QueueSpec] = {}
    tables: dict[str, TableSpec] = {}
    buckets: list[str] = []
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            merged = _merge_globals(globals_function, properties)
            functions[logical_id] = _function(logical_id, context.substitute(merged), context, apis)
        elif kind == "AWS::SQS::Queue":
            queues[logical_id] = _queue(logical_id, context.substitute(properties))
        elif kind == "AWS::DynamoDB::Table":
            tables[logical_id] = _table(logical_id, context.substitute(properties))
        elif kind == "AWS::S3::Bucket":
            buckets.append(logical_id)
    return Wiring(
        functions=functions,
        queues=queues,
        tables=tables,
        parameters={name: _to_text(value) for name, value in parameters.items()},
        buckets=buckets,
    )


def resolve(value: EnvValue, physical: Mapping[str, str]) -> str:
    """Turn an environment value into a string.

    `physical` maps logical ids to local names or URLs ("SyncQueue" -> its queue URL, "ConfigTable" -> the
    table name), "Id.Attribute" keys to attributes ("SyncQueue.Arn") and pseudo parameters to values
    ("AWS::Region" -> "us-east-1").

    Examples
    --------
    >>> resolve(Ref("ConfigTable"), {"ConfigTable": "sqlsync-config"})
    'sqlsync-config'
    >>> resolve(Sub("${AWS::Region}/${Q.QueueName}"), {"AWS::Region": "r", "Q.QueueName": "q"})
    'r/q'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Ref):
        return _physical(physical, value.logical_id)
    if isinstance(value, GetAtt):
        return _physical(physical, f"{value.logical_id}.{value.attribute}")

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # ${!Literal} stands for the text ${Literal}
            return "${" + match.group(2) + "}"
        return _physical(physical, match.group(2))

    return _SUB_VARIABLE.sub(replace, value.template)


def _physical(physical: Mapping[str, str], key: str) -> str:
    try:
        return physical[key]
    except KeyError:
        raise TemplateError(f"no local value for {key!r}: add it to the physical mapping") from None


# --- parameters and intrinsic functions ----

Scalar: TypeAlias = str | int | float
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")
_INTEGER = re.compile(r"[+-]?\d+")


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_values(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Scalar]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {', '.join(unknown)}")
    values: dict[str, Scalar] = {}
    for name, declaration in declared.items():
        if name in overrides:
            raw = str(overrides[name])
        elif "Default" in declaration:
            raw = _to_text(declaration["Default"])
        else:
            raise TemplateError(f"parameter {name} has no Default and no override")
        values[name] = _checked_parameter(name, declaration, raw)
    return values


def _checked_parameter(name: str, declaration: Mapping[str, Any], raw: str) -> Scalar:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and raw not in {_to_text(v) for v in allowed}:
        raise TemplateError(f"parameter {name}={raw!r} is not one of {allowed}")
    if declaration.get("Type", "String") != "Number":
        pattern = declaration.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, raw) is None:
            raise TemplateError(f"parameter {name}={raw!r} does not match {pattern}")
        if not int(declaration.get("MinLength", 0)) <= len(raw) <= int(declaration.get("MaxLength", len(raw))):
            raise TemplateError(f"parameter {name}={raw!r} has a length outside MinLength..MaxLength")
        return raw
    number: int | float
    try:
        number = int(raw) if _INTEGER.fullmatch(raw.strip()) else float(raw)
    except ValueError:
        raise TemplateError(f"parameter {name}={raw!r} is not a number") from None
    if "MinValue" in declaration and number < float(declaration["MinValue"]):
        raise TemplateError(f"parameter {name}={raw} is below MinValue {declaration['MinValue']}")
    if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
        raise TemplateError(f"parameter {name}={raw} is above MaxValue {declaration['MaxValue']}")
    return number


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or (isinstance(key, str) and key.startswith("Fn::"))


_DROP = object()  # what {"Ref": "AWS::NoValue"} becomes: the property or list item disappears


@dataclass(frozen=True)
class _Context:
    parameters: Mapping[str, Scalar]
    resources: frozenset[str]

    def substitute(self, value: Any) -> Any:
        """A deep copy with parameter Refs and Fn::Sub variables substituted, AWS::NoValue dropped."""
        result = self._substitute(value)
        return None if result is _DROP else result

    def _substitute(self, value: Any) -> Any:
        if _is_intrinsic(value):
            return self._intrinsic(value)
        if isinstance(value, dict):
            items = ((key, self._substitute(item)) for key, item in value.items())
            return {key: item for key, item in items if item is not _DROP}
        if isinstance(value, list):
            return [item for item in map(self._substitute, value) if item is not _DROP]
        return value

    def _intrinsic(self, value: dict[str, Any]) -> Any:
        ((key, argument),) = value.items()
        if key == "Ref" and argument == "AWS::NoValue":
            return _DROP
        if key == "Ref" and argument in self.parameters:
            return self.parameters[argument]
        if key == "Fn::Sub":
            return self._sub(argument)
        return {key: self._substitute(argument)}

    def _sub(self, argument: Any) -> Any:
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], self._substitute(argument[1])
            plain = {name: v for name, v in variables.items() if isinstance(v, str | int | float)}
            if len(plain) != len(variables):
                raise TemplateError(f"Fn::Sub variables must be plain values here: {argument!r}")
        elif isinstance(argument, str):
            text, plain = argument, {}
        else:
            raise TemplateError(f"Fn::Sub takes a string or [string, variables]: {argument!r}")
        values = {**self.parameters, **plain}

        def replace(match: re.Match[str]) -> str:
            name = match.group(2)
            if match.group(1) or name not in values:
                return match.group(0)
            return _to_text(values[name])

        substituted = _SUB_VARIABLE.sub(replace, text)
        return substituted if _SUB_VARIABLE.search(substituted) is None else {"Fn::Sub": substituted}

    def env_value(self, value: Any, where: str) -> EnvValue:
        """An environment value after `substitute`: a string, or a reference for `resolve`."""
        if isinstance(value, str | int | float):
            return _to_text(value)
        if _is_intrinsic(value):
            ((key, argument),) = value.items()
            if key == "Ref" and isinstance(argument, str):
                return Ref(self._known(argument, where))
            if key == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
                return GetAtt(self._known(str(argument[0]), where), str(argument[1]))
            if key == "Fn::Sub" and isinstance(argument, str):
                for match in _SUB_VARIABLE.finditer(argument):
                    if not match.group(1):
                        self._known(match.group(2).partition(".")[0], where)
                return Sub(argument)
        raise TemplateError(f"{where}: cannot evaluate {value!r} locally")

    def _known(self, logical_id: str, where: str) -> str:
        if logical_id in self.resources or logical_id.startswith("AWS::"):
            return logical_id
        raise TemplateError(f"{where}: reference to unknown resource or parameter {logical_id!r}")


def _merge_globals(global_properties: Mapping[str, Any], local: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's rules: maps merge (the resource wins per key), lists add up (globals first), others: resource."""
    merged = copy.deepcopy(dict(global_properties))
    for key, value in local.items():
        merged[key] = _merge_value(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def _merge_value(global_value: Any, local_value: Any) -> Any:
    if (
        isinstance(global_value, dict)
        and isinstance(local_value, dict)
        and not _is_intrinsic(global_value)
        and not _is_intrinsic(local_value)
    ):
        return _merge_globals(global_value, local_value)
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*copy.deepcopy(global_value), *copy.deepcopy(local_value)]
    return copy.deepcopy(local_value)


# --- resources ----


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise TemplateError(f"{where}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise TemplateError(f"{where}: expected a whole number, got {value!r}")


def _as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _require_str(properties: Mapping[str, Any], key: str, where: str) -> str:
    value = properties.get(key)
    if not isinstance(value, str) or not value:
        raise TemplateError(f"{where}: {key} must be a string here, got {value!r}")
    return value


def _get_att_target(value: Any, attribute: str, where: str) -> str:
    argument = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if not isinstance(argument, list) or len(argument) != 2 or argument[1] != attribute:
        raise TemplateError(f"{where}: expected !GetAtt <Resource>.{attribute}, got {value!r}")
    return str(argument[0])


def _function(
    logical_id: str, properties: Mapping[str, Any], context: _Context, apis: Mapping[str, _ApiAuth]
) -> FunctionSpec:
    where = f"function {logical_id}"
    if properties.get("PackageType", "Zip") != "Zip":
        raise TemplateError(f"{where}: only Zip functions run locally")
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    routes: list[Route] = []
    sqs_sources: list[SqsSource] = []
    schedules: list[Schedule] = []
    for event_name, event in (properties.get("Events") or {}).items():
        kind = event.get("Type")
        event_properties = event.get("Properties") or {}
        event_where = f"{where}, event {event_name}"
        if kind in ("HttpApi", "Api"):
            routes.append(_route(event_properties, apis, event_where))
        elif kind == "SQS":
            source = _sqs_source(event_properties, event_where)
            if source is not None:
                sqs_sources.append(source)
        elif kind in ("Schedule", "ScheduleV2"):
            schedules.append(_schedule(event_name, event_properties, event_where))
    if len(sqs_sources) > 1:
        raise TemplateError(f"{where}: more than one SQS event source")
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=_require_str(properties, "CodeUri", where),
        handler=_require_str(properties, "Handler", where),
        runtime=_require_str(properties, "Runtime", where),
        timeout=_as_int(properties.get("Timeout", 3), f"{where}: Timeout"),
        memory_size=_as_int(properties.get("MemorySize", 128), f"{where}: MemorySize"),
        environment={
            name: context.env_value(value, f"{where}: environment variable {name}") for name, value in variables.items()
        },
        routes=routes,
        sqs_source=sqs_sources[0] if sqs_sources else None,
        schedules=schedules,
        policies=list(properties.get("Policies") or []),
    )


@dataclass(frozen=True)
class _ApiAuth:
    default: str | None
    authorizers: dict[str, Authorizer]


def _api_auth(logical_id: str, properties: Mapping[str, Any]) -> _ApiAuth:
    auth = properties.get("Auth") or {}
    authorizers: dict[str, Authorizer] = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        where = f"HttpApi {logical_id}, authorizer {name}"
        if "FunctionArn" not in spec:
            raise TemplateError(f"{where}: only Lambda authorizers run locally")
        if str(spec.get("AuthorizerPayloadFormatVersion", "")) != "2.0":
            raise TemplateError(f"{where}: only AuthorizerPayloadFormatVersion 2.0 runs locally")
        headers = ((spec.get("Identity") or {}).get("Headers")) or []
        authorizers[name] = Authorizer(
            name=name,
            function_logical_id=_get_att_target(spec["FunctionArn"], "Arn", f"{where}: FunctionArn"),
            identity_headers=tuple(str(header) for header in headers),
            simple_responses=_as_bool(spec.get("EnableSimpleResponses", False)),
        )
    default = auth.get("DefaultAuthorizer")
    if default is not None and default not in authorizers:
        raise TemplateError(f"HttpApi {logical_id}: DefaultAuthorizer {default!r} is not one of its Authorizers")
    return _ApiAuth(default, authorizers)


def _route(properties: Mapping[str, Any], apis: Mapping[str, _ApiAuth], where: str) -> Route:
    api_ref = properties.get("ApiId")
    api = apis.get(api_ref["Ref"]) if isinstance(api_ref, dict) and "Ref" in api_ref else None
    name = (properties.get("Auth") or {}).get("Authorizer", api.default if api else None)
    authorizer = None
    if name is not None and name != "NONE":
        if api is None or name not in api.authorizers:
            raise TemplateError(f"{where}: authorizer {name!r} is not one of its HttpApi's Authorizers")
        authorizer = api.authorizers[name]
    # An HttpApi event without Method and Path is the catch-all $default route.
    return Route(
        method=str(properties.get("Method", "ANY")).upper(),
        path=str(properties.get("Path", "$default")),
        authorizer=authorizer,
    )


def _sqs_source(properties: Mapping[str, Any], where: str) -> SqsSource | None:
    if "Enabled" in properties and not _as_bool(properties["Enabled"]):
        return None  # a disabled mapping delivers nothing
    return SqsSource(
        queue_logical_id=_get_att_target(properties.get("Queue"), "Arn", f"{where}: Queue"),
        batch_size=_as_int(properties.get("BatchSize", 10), f"{where}: BatchSize"),
        max_batching_window_seconds=_as_int(
            properties.get("MaximumBatchingWindowInSeconds", 0), f"{where}: MaximumBatchingWindowInSeconds"
        ),
        report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
    )


def _schedule(event_name: str, properties: Mapping[str, Any], where: str) -> Schedule:
    expression = properties.get("Schedule", properties.get("ScheduleExpression"))
    if not isinstance(expression, str):
        raise TemplateError(f"{where}: no schedule expression")
    enabled = _as_bool(properties.get("Enabled", True)) and properties.get("State", "ENABLED") == "ENABLED"
    return Schedule(event_name=event_name, expression=expression, enabled=enabled)


def _queue(logical_id: str, properties: Mapping[str, Any]) -> QueueSpec:
    where = f"queue {logical_id}"
    redrive = properties.get("RedrivePolicy")
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    dead_letter: str | None = None
    max_receive_count: int | None = None
    if redrive:
        dead_letter = _get_att_target(redrive.get("deadLetterTargetArn"), "Arn", f"{where}: RedrivePolicy")
        max_receive_count = _as_int(redrive.get("maxReceiveCount"), f"{where}: maxReceiveCount")
    name = properties.get("QueueName")
    return QueueSpec(
        logical_id=logical_id,
        visibility_timeout=_as_int(properties.get("VisibilityTimeout", 30), f"{where}: VisibilityTimeout"),
        message_retention_period=_as_int(
            properties.get("MessageRetentionPeriod", 345_600), f"{where}: MessageRetentionPeriod"
        ),
        dead_letter_logical_id=dead_letter,
        max_receive_count=max_receive_count,
        fifo=_as_bool(properties.get("FifoQueue", False)) or (isinstance(name, str) and name.endswith(".fifo")),
    )


def _string_maps(items: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(items, list) or not items:
        raise TemplateError(f"{where}: expected a non-empty list")
    return [{str(key): str(value) for key, value in item.items()} for item in items]


def _table(logical_id: str, properties: Mapping[str, Any]) -> TableSpec:
    where = f"table {logical_id}"
    ttl = properties.get("TimeToLiveSpecification") or {}
    throughput = properties.get("ProvisionedThroughput")
    return TableSpec(
        logical_id=logical_id,
        key_schema=_string_maps(properties.get("KeySchema"), f"{where}: KeySchema"),
        attribute_definitions=_string_maps(properties.get("AttributeDefinitions"), f"{where}: AttributeDefinitions"),
        global_secondary_indexes=copy.deepcopy(list(properties.get("GlobalSecondaryIndexes") or [])),
        ttl_attribute=str(ttl["AttributeName"]) if _as_bool(ttl.get("Enabled", False)) else None,
        billing_mode=str(properties.get("BillingMode", "PROVISIONED")),
        provisioned_throughput=(
            {key: _as_int(value, f"{where}: {key}") for key, value in throughput.items()}
            if isinstance(throughput, dict)
            else None
        ),
    )
