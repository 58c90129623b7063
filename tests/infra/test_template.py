"""Invariants of template.yaml that `sam validate --lint` does not check.

Everything is read through sqlsync.local.cfn, the same reader the local stack uses, with the parameter
defaults (what `sam deploy` uses unless samconfig.toml overrides them).
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sqlsync.local.cfn import FunctionSpec, Ref, Wiring, describe, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
WIRING = describe(TEMPLATE)
SETTINGS = ROOT / "layers" / "core" / "sqlsync" / "settings.py"

# Lambda rejects an SQS event source whose BatchSize exceeds 10 unless its batching window is 1 s or more.
MAX_BATCH_WITHOUT_WINDOW = 10
# AWS recommends a source queue visibility timeout of at least six times the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6


def sqs_workers(wiring: Wiring = WIRING) -> list[FunctionSpec]:
    return [function for function in wiring.functions.values() if function.sqs_source is not None]


def test_the_template_has_an_sqs_worker() -> None:
    # Guards the tests below against passing vacuously.
    assert sorted(function.logical_id for function in sqs_workers()) == [
        "HookDispatcherFunction",
        "ImporterFunction",
        "SyncWorkerFunction",
    ]


# --- the SQS event source ---------------------------------------------------------------------------------


@pytest.mark.parametrize("function", sqs_workers(), ids=lambda f: f.logical_id)
def test_queue_visibility_timeout_is_at_least_six_times_the_worker_timeout(function: FunctionSpec) -> None:
    assert function.sqs_source is not None
    queue = WIRING.queues[function.sqs_source.queue_logical_id]
    assert queue.visibility_timeout >= VISIBILITY_TIMEOUT_FACTOR * function.timeout, (
        f"{queue.logical_id} VisibilityTimeout {queue.visibility_timeout}s < "
        f"{VISIBILITY_TIMEOUT_FACTOR} x {function.logical_id} Timeout {function.timeout}s: messages would "
        "come back while a worker still processes them"
    )


@pytest.mark.parametrize("function", sqs_workers(), ids=lambda f: f.logical_id)
def test_batches_over_ten_messages_have_a_batching_window(function: FunctionSpec) -> None:
    # Lambda rejects an SQS event source with BatchSize > 10 and MaximumBatchingWindowInSeconds 0.
    source = function.sqs_source
    assert source is not None
    assert source.batch_size <= MAX_BATCH_WITHOUT_WINDOW or source.max_batching_window_seconds >= 1, (
        f"BatchSize {source.batch_size} needs MaximumBatchingWindowInSeconds >= 1, "
        f"got {source.max_batching_window_seconds}"
    )


def _evaluate_rule(expression: Any, parameters: Mapping[str, str]) -> Any:
    """Just enough of CloudFormation's rule functions to evaluate this template's Rules."""
    if isinstance(expression, list):
        return [_evaluate_rule(item, parameters) for item in expression]
    if not isinstance(expression, dict):
        return str(expression)
    ((function, argument),) = expression.items()
    if function == "Ref":
        return parameters[argument]
    values = _evaluate_rule(argument, parameters)
    if function == "Fn::Equals":
        return values[0] == values[1]
    if function == "Fn::Not":
        return not values[0]
    if function == "Fn::Or":
        return any(values)
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Contains":
        return values[1] in values[0]
    raise AssertionError(f"the test does not evaluate {function}")


@pytest.mark.parametrize(
    ("rule_name", "size", "window_name"),
    [
        ("BatchWindowForLargeBatches", "BatchSize", "MaximumBatchingWindowInSeconds"),
        ("HookBatchWindowForLargeBatches", "HookBatchSize", "HookBatchWindowSeconds"),
    ],
)
@pytest.mark.parametrize(("batch_size", "window"), list(itertools.product([1, 10, 11, 100, 10_000], [0, 1, 5, 300])))
def test_the_template_rule_rejects_large_batches_without_a_window(
    rule_name: str, size: str, window_name: str, batch_size: int, window: int
) -> None:
    # The rule fails a deployment whose overrides break the constraint before Lambda does, mid-deployment.
    rule = TEMPLATE["Rules"][rule_name]
    parameters = {size: str(batch_size), window_name: str(window)}
    accepted = all(_evaluate_rule(assertion["Assert"], parameters) for assertion in rule["Assertions"])
    assert accepted == (batch_size <= MAX_BATCH_WITHOUT_WINDOW or window >= 1)


@pytest.mark.parametrize(
    ("function", "size", "window"),
    [
        ("SyncWorkerFunction", "BatchSize", "MaximumBatchingWindowInSeconds"),
        ("HookDispatcherFunction", "HookBatchSize", "HookBatchWindowSeconds"),
    ],
)
def test_batch_parameters_feed_the_worker_event_source(function: str, size: str, window: str) -> None:
    wiring = describe(TEMPLATE, {size: "7", window: "0"})
    [worker] = [spec for spec in sqs_workers(wiring) if spec.logical_id == function]
    assert worker.sqs_source is not None
    assert (worker.sqs_source.batch_size, worker.sqs_source.max_batching_window_seconds) == (7, 0)


@pytest.mark.parametrize("function", sqs_workers(), ids=lambda f: f.logical_id)
def test_the_worker_reports_partial_batch_failures(function: FunctionSpec) -> None:
    assert function.sqs_source is not None
    assert function.sqs_source.report_batch_item_failures, (
        "without ReportBatchItemFailures one failed message makes the whole batch come back"
    )


@pytest.mark.parametrize("function", sqs_workers(), ids=lambda f: f.logical_id)
def test_the_worker_queue_is_standard_with_a_dead_letter_queue(function: FunctionSpec) -> None:
    assert function.sqs_source is not None
    queue = WIRING.queues[function.sqs_source.queue_logical_id]
    # A batching window is not supported on FIFO queues; the membership ledger restores order instead.
    assert not queue.fifo, f"{queue.logical_id} must be a standard queue"
    assert queue.dead_letter_logical_id is not None, f"{queue.logical_id} has no RedrivePolicy"
    assert queue.max_receive_count is not None
    assert queue.max_receive_count >= 1
    dead_letter = WIRING.queues[queue.dead_letter_logical_id]
    assert not dead_letter.fifo, "the dead-letter queue of a standard queue must be standard too"
    # Standard queues keep the original enqueue time in the DLQ: a shorter retention there loses messages.
    assert dead_letter.message_retention_period >= queue.message_retention_period


# --- functions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", list(WIRING.functions.values()), ids=lambda f: f.logical_id)
def test_every_handler_module_exists_and_defines_the_handler(function: FunctionSpec) -> None:
    path = ROOT / function.handler_file
    assert path.is_file(), (
        f"{function.logical_id}: Handler {function.handler} needs {path.relative_to(ROOT)}, which does not "
        "exist (functions/*/app.py are the thin handlers; without it the deployed function cannot start)"
    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    defined |= {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert function.handler_function in defined, f"{path.relative_to(ROOT)} defines no {function.handler_function}"


def _settings_variables() -> set[str]:
    """Names read in settings.py through os.environ.get(...), os.environ[...] or os.getenv(...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def test_settings_reads_the_resource_variables() -> None:
    # Guards the extraction below: these four are what the handlers need to find their resources.
    assert {"CONFIG_TABLE", "LEDGER_TABLE", "STATS_TABLE", "SYNC_QUEUE_URL"} <= _settings_variables()


@pytest.mark.parametrize("function", list(WIRING.functions.values()), ids=lambda f: f.logical_id)
def test_every_function_gets_every_variable_settings_reads(function: FunctionSpec) -> None:
    missing = _settings_variables() - set(function.environment)
    assert not missing, f"{function.logical_id} lacks environment variables {sorted(missing)}"


@pytest.mark.parametrize("function", list(WIRING.functions.values()), ids=lambda f: f.logical_id)
def test_resource_variables_point_at_resources_of_the_right_kind(function: FunctionSpec) -> None:
    for name, value in function.environment.items():
        if name.endswith("_TABLE"):
            assert isinstance(value, Ref)
            assert value.logical_id in WIRING.tables, f"{name} -> {value}"
        elif name.endswith("_QUEUE_URL"):
            assert isinstance(value, Ref)
            assert value.logical_id in WIRING.queues, f"{name} -> {value}"
        elif name.endswith("_BUCKET"):
            assert isinstance(value, Ref)
            assert value.logical_id in WIRING.buckets, f"{name} -> {value}"


def test_routes_are_the_api_contract_and_each_belongs_to_one_function() -> None:
    routes = {
        (route.method, route.path): function.logical_id
        for function in WIRING.functions.values()
        for route in function.routes
    }
    assert sum(len(function.routes) for function in WIRING.functions.values()) == len(routes), "duplicate route"
    assert routes == {
        ("POST", "/v1/events"): "IngestFunction",
        ("POST", "/v1/integrations"): "ApiFunction",
        ("GET", "/v1/integrations"): "ApiFunction",
        ("GET", "/v1/integrations/{id}"): "ApiFunction",
        ("PUT", "/v1/integrations/{id}"): "ApiFunction",
        ("DELETE", "/v1/integrations/{id}"): "ApiFunction",
        ("GET", "/v1/integrations/{id}/stats"): "ApiFunction",
        ("POST", "/v1/integrations/{id}/preview"): "ApiFunction",
        ("POST", "/v1/integrations/{id}/resync"): "ApiFunction",
        ("GET", "/v1/openapi.json"): "ApiFunction",
        ("GET", "/v1/docs"): "ApiFunction",
        ("POST", "/v1/connectors"): "ApiFunction",
        ("GET", "/v1/connectors"): "ApiFunction",
        ("GET", "/v1/connectors/{id}"): "ApiFunction",
        ("PUT", "/v1/connectors/{id}"): "ApiFunction",
        ("DELETE", "/v1/connectors/{id}"): "ApiFunction",
        ("POST", "/v1/connectors/{id}/validate"): "ApiFunction",
        ("GET", "/v1/integrations/{id}/dead-letters"): "ApiFunction",
        ("POST", "/v1/integrations/{id}/redrive"): "ApiFunction",
        ("POST", "/v1/hooks"): "ApiFunction",
        ("GET", "/v1/hooks"): "ApiFunction",
        ("GET", "/v1/hooks/{id}"): "ApiFunction",
        ("PUT", "/v1/hooks/{id}"): "ApiFunction",
        ("DELETE", "/v1/hooks/{id}"): "ApiFunction",
        ("POST", "/v1/hooks/{id}/activate"): "ApiFunction",
        ("POST", "/v1/hooks/{id}/pause"): "ApiFunction",
        ("POST", "/v1/hooks/{id}/clone"): "ApiFunction",
        ("GET", "/v1/hooks/{id}/signing-secret"): "ApiFunction",
        ("POST", "/v1/hooks/{id}/test"): "ApiFunction",
        ("GET", "/v1/hooks/{id}/stats"): "ApiFunction",
        ("POST", "/track/v2/projects/{project_id}/batch"): "CustomersFunction",
        ("GET", "/api/customers/{customer_id}"): "CustomersFunction",
        ("POST", "/v1/imports"): "CustomersFunction",
        ("GET", "/v1/imports"): "CustomersFunction",
        ("GET", "/v1/imports/{id}"): "CustomersFunction",
        ("GET", "/v1/imports/{id}/errors"): "CustomersFunction",
        ("POST", "/v1/imports/uploads"): "CustomersFunction",
        ("POST", "/v1/exports"): "ApiFunction",
        ("GET", "/v1/exports"): "ApiFunction",
        ("GET", "/v1/exports/{id}"): "ApiFunction",
        ("PUT", "/v1/exports/{id}"): "ApiFunction",
        ("DELETE", "/v1/exports/{id}"): "ApiFunction",
        ("POST", "/v1/exports/{id}/run"): "ApiFunction",
        ("POST", "/v1/data-sources"): "ApiFunction",
        ("GET", "/v1/data-sources"): "ApiFunction",
        ("GET", "/v1/data-sources/{name}"): "ApiFunction",
        ("PUT", "/v1/data-sources/{name}"): "ApiFunction",
        ("DELETE", "/v1/data-sources/{name}"): "ApiFunction",
        ("GET", "/v1/data-sources/{name}/rows"): "ApiFunction",
        ("POST", "/v1/data-sources/{name}/rows"): "ApiFunction",
        ("POST", "/v1/data-sources/{name}/segment"): "ApiFunction",
    }


def test_every_route_but_the_documentation_needs_an_api_key() -> None:
    public = {("GET", "/v1/openapi.json"), ("GET", "/v1/docs")}
    for function in WIRING.functions.values():
        for route in function.routes:
            if (route.method, route.path) in public:
                assert route.authorizer is None, route
            else:
                assert route.authorizer is not None, f"{route.method} {route.path} is open to anyone"
                assert route.authorizer.function_logical_id == "AuthorizerFunction"
                assert route.authorizer.identity_headers == ("Authorization",)


# --- least privilege --------------------------------------------------------------------------------------


def _policy_name(policy: Any) -> str:
    if isinstance(policy, str):
        return policy  # a managed policy name or ARN
    if isinstance(policy, dict) and "Statement" in policy:
        return "<inline>"
    ((name, _),) = policy.items()
    return str(name)


def _inline_actions(policy: Any) -> list[str]:
    if not (isinstance(policy, dict) and "Statement" in policy):
        return []
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    actions: list[str] = []
    for statement in statements:
        action = statement.get("Action", [])
        actions += [action] if isinstance(action, str) else list(action)
    return actions


def test_ingest_only_reads_the_config_table_and_writes_message_contents_and_orders() -> None:
    # The hot path reads the account's hooks (cached) to fan activity events out, keeps the content of sent
    # messages for hooks that include it, and keeps order events under their customers (read, then written);
    # nothing else of DynamoDB, and never a delete.
    policies = WIRING.functions["IngestFunction"].policies
    assert policies, "IngestFunction needs at least the SQS send policy"
    dynamodb = [policy for policy in policies if "dynamodb" in _policy_name(policy).lower()]
    assert dynamodb == [
        {"DynamoDBReadPolicy": {"TableName": {"Ref": "ConfigTable"}}},
        {"DynamoDBWritePolicy": {"TableName": {"Ref": "ContentTable"}}},
        {"DynamoDBReadPolicy": {"TableName": {"Ref": "CustomersTable"}}},
        {"DynamoDBWritePolicy": {"TableName": {"Ref": "CustomersTable"}}},
    ], dynamodb
    assert not [action for p in policies for action in _inline_actions(p) if action.lower().startswith("dynamodb:")]


@pytest.mark.parametrize("function", list(WIRING.functions.values()), ids=lambda f: f.logical_id)
def test_policies_are_scoped_to_resources_of_this_template(function: FunctionSpec) -> None:
    resources = set(TEMPLATE["Resources"])
    for policy in function.policies:
        name = _policy_name(policy)
        assert not isinstance(policy, str), f"{function.logical_id}: managed policy {name} is not least privilege"
        actions = _inline_actions(policy)
        assert not [a for a in actions if a == "*" or a.endswith(":*")], f"{function.logical_id}: {actions}"
        if name == "<inline>":
            continue
        # A SAM policy template: every parameter must name a resource of this template, never "*".
        (arguments,) = policy.values()
        for argument in arguments.values():
            assert isinstance(argument, dict), f"{function.logical_id} {name}: literal {argument!r}"
            ((kind, target),) = argument.items()
            logical_id = target if kind == "Ref" else target[0]
            assert kind in ("Ref", "Fn::GetAtt")
            assert logical_id in resources, f"{function.logical_id} {name}: {argument}"


def _sam_policy_templates() -> dict[str, Any]:
    found = sorted(
        ROOT.glob(".venv-sam/lib/python*/site-packages/samtranslator/policy_templates_data/policy_templates.json")
    )
    if not found:
        pytest.skip("aws-sam-cli is not installed in .venv-sam (make .venv-sam/.installed)")
    templates: dict[str, Any] = json.loads(found[0].read_text(encoding="utf-8"))["Templates"]
    return templates


@pytest.mark.parametrize("function", list(WIRING.functions.values()), ids=lambda f: f.logical_id)
def test_no_sam_policy_template_grants_every_action(function: FunctionSpec) -> None:
    templates = _sam_policy_templates()
    for policy in function.policies:
        name = _policy_name(policy)
        if name == "<inline>":
            continue
        assert name in templates, f"{function.logical_id}: unknown SAM policy template {name}"
        statements = templates[name]["Definition"]["Statement"]
        actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
        assert actions
        assert not [a for a in actions if a == "*" or a.endswith(":*")], f"{function.logical_id} {name}: {actions}"


def test_kept_activity_expires_through_the_customers_tables_ttl() -> None:
    # put_activities writes `expires_at` (ActivityRetentionDays); no other item of the table has one.
    customers = TEMPLATE["Resources"]["CustomersTable"]["Properties"]
    assert customers["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["ACTIVITY_RETENTION_DAYS"] == {
        "Ref": "ActivityRetentionDays"
    }
