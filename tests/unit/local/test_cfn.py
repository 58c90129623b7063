"""sqlsync.local.cfn on small inline templates: the loader's short tags, Globals, parameters, wiring."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sqlsync.local.cfn import (
    Authorizer,
    GetAtt,
    Ref,
    Route,
    SqsSource,
    Sub,
    TemplateError,
    _merge_globals,
    describe,
    load_template,
    parse_template,
    resolve,
)


def template(text: str) -> dict[str, Any]:
    return parse_template(textwrap.dedent(text))


FUNCTION = """
Parameters:
  BatchSize: {Type: Number, Default: 100, MinValue: 1, MaxValue: 10000}
  Window: {Type: Number, Default: 5}
  LogLevel: {Type: String, Default: INFO, AllowedValues: [DEBUG, INFO]}
  Stage: {Type: String, Default: dev, AllowedPattern: "[a-z]+"}
Globals:
  Function:
    Runtime: python3.11
    Timeout: 3
    MemorySize: 512
    Layers: [!Ref Layer]
    Environment:
      Variables:
        TABLE: !Ref Table
        LEVEL: !Ref LogLevel
        SHARED: from-globals
        CACHE_SECONDS: 30
Resources:
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/core}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.lambda_handler
      Timeout: 60
      Layers: [extra-layer]
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_ARN: !GetAtt Queue.Arn
          URL: !Sub "https://${Queue}.example/${Stage}/${!Literal}"
          REGION: !Ref AWS::Region
      Events:
        Messages:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: !Ref BatchSize
            MaximumBatchingWindowInSeconds: !Ref Window
            FunctionResponseTypes: [ReportBatchItemFailures]
        Create:
          Type: HttpApi
          Properties: {Method: post, Path: /v1/things}
        Read:
          Type: HttpApi
          Properties: {Method: GET, Path: "/v1/things/{id}"}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
"""


# --- loader -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("!Ref Thing", {"Ref": "Thing"}),
        ("!Condition IsProd", {"Condition": "IsProd"}),
        ("!GetAtt Queue.Arn", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("!GetAtt Db.Endpoint.Address", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
        ("!GetAtt [Queue, Arn]", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("!Sub 'x-${AWS::Region}'", {"Fn::Sub": "x-${AWS::Region}"}),
        ("!Sub ['${a}', {a: !Ref B}]", {"Fn::Sub": ["${a}", {"a": {"Ref": "B"}}]}),
        ("!Join [',', [a, b]]", {"Fn::Join": [",", ["a", "b"]]}),
        ("!If [IsProd, 1, 2]", {"Fn::If": ["IsProd", 1, 2]}),
        ("!Equals [!Ref S, prod]", {"Fn::Equals": [{"Ref": "S"}, "prod"]}),
        ("!Select [0, !GetAZs '']", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
        ("!Split [',', 'a,b']", {"Fn::Split": [",", "a,b"]}),
        ("!FindInMap [M, K, V]", {"Fn::FindInMap": ["M", "K", "V"]}),
        ("!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
        ("!Base64 hello", {"Fn::Base64": "hello"}),
        ("!Not [!Condition C]", {"Fn::Not": [{"Condition": "C"}]}),
        ("!And [!Condition A, !Condition B]", {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!Or [!Condition A, !Condition B]", {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!Cidr ['10.0.0.0/16', 4, 8]", {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
        ("!Contains [[a], !Ref P]", {"Fn::Contains": [["a"], {"Ref": "P"}]}),
    ],
)
def test_short_tags_load_as_long_forms(yaml_value: str, expected: Any) -> None:
    loaded = parse_template(f"Resources: {{}}\nOutputs:\n  V:\n    Value: {yaml_value}\n")
    assert loaded["Outputs"]["V"]["Value"] == expected


def test_getatt_without_attribute_is_an_error_with_its_line() -> None:
    with pytest.raises(TemplateError, match=r"line 3: !GetAtt 'Queue'"):
        parse_template("Resources: {}\nOutputs:\n  V: {Value: !GetAtt Queue}\n")


def test_dates_stay_strings_as_cloudformation_reads_them() -> None:
    loaded = parse_template("AWSTemplateFormatVersion: 2010-09-09\nResources: {}\n")
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"


def test_a_document_without_resources_is_not_a_template(tmp_path: Path) -> None:
    path = tmp_path / "not-a-template.yaml"
    path.write_text("just: yaml\n")
    with pytest.raises(TemplateError, match=r"not-a-template\.yaml: not a CloudFormation template"):
        load_template(path)


def test_load_template_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(FUNCTION))
    assert describe(load_template(str(path))).functions["Worker"].timeout == 60


# --- functions: globals, parameters, events ---------------------------------------------------------------


def test_globals_merge_into_the_function_and_the_function_wins() -> None:
    worker = describe(template(FUNCTION)).functions["Worker"]

    assert (worker.runtime, worker.timeout, worker.memory_size) == ("python3.11", 60, 512)
    assert worker.environment == {
        "TABLE": Ref("Table"),
        "LEVEL": "INFO",
        "SHARED": "from-function",
        "CACHE_SECONDS": "30",
        "QUEUE_ARN": GetAtt("Queue", "Arn"),
        "URL": Sub("https://${Queue}.example/dev/${!Literal}"),
        "REGION": Ref("AWS::Region"),
    }


def test_global_lists_come_first_and_intrinsics_are_replaced_not_merged() -> None:
    merged = _merge_globals(
        {"Layers": [{"Ref": "Core"}], "Tracing": "Active", "Role": {"Ref": "GlobalRole"}},
        {"Layers": ["extra"], "Role": {"Fn::GetAtt": ["LocalRole", "Arn"]}},
    )
    assert merged == {
        "Layers": [{"Ref": "Core"}, "extra"],
        "Tracing": "Active",
        "Role": {"Fn::GetAtt": ["LocalRole", "Arn"]},
    }


def test_defaults_where_neither_globals_nor_the_function_set_a_value() -> None:
    spec = describe(
        template(
            """
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: src/, Handler: pkg.mod.handle, Runtime: python3.11}
            """
        )
    ).functions["Fn"]

    assert (spec.timeout, spec.memory_size, spec.environment, spec.routes, spec.sqs_source) == (
        3,
        128,
        {},
        [],
        None,
    )
    assert (spec.handler_module, spec.handler_function) == ("pkg.mod", "handle")
    assert spec.handler_file == Path("src/pkg/mod.py")


def test_routes_come_from_http_api_events_with_upper_case_methods() -> None:
    worker = describe(template(FUNCTION)).functions["Worker"]
    assert worker.routes == [Route("POST", "/v1/things"), Route("GET", "/v1/things/{id}")]


AUTH = """
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: !GetAtt Guard.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
  Guard:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: guard/, Handler: app.handler, Runtime: python3.11}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Private: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: /private}}
        Public: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: /docs, Auth: {Authorizer: NONE}}}
"""


def test_routes_take_their_apis_default_authorizer_unless_they_opt_out() -> None:
    keys = Authorizer("Keys", "Guard", ("Authorization",), simple_responses=True)
    assert describe(template(AUTH)).functions["Fn"].routes == [
        Route("GET", "/private", keys),
        Route("GET", "/docs", None),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("DefaultAuthorizer: Keys", "DefaultAuthorizer: Nope"), "DefaultAuthorizer 'Nope'"),
        (('AuthorizerPayloadFormatVersion: "2.0"', 'AuthorizerPayloadFormatVersion: "1.0"'), "2.0"),
        (("Authorizer: NONE", "Authorizer: Other"), "authorizer 'Other'"),
    ],
)
def test_authorizers_that_cannot_run_locally_are_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        describe(template(AUTH.replace(*change)))


def test_sqs_source_takes_parameter_values_as_ints() -> None:
    worker = describe(template(FUNCTION)).functions["Worker"]
    assert worker.sqs_source == SqsSource(
        queue_logical_id="Queue",
        batch_size=100,
        max_batching_window_seconds=5,
        report_batch_item_failures=True,
    )
    assert [(s.expression, s.enabled) for s in worker.schedules] == [("rate(1 day)", True)]


def test_parameter_overrides_win_over_defaults() -> None:
    wiring = describe(template(FUNCTION), {"BatchSize": "10", "Window": "0", "LogLevel": "DEBUG"})
    worker = wiring.functions["Worker"]

    assert worker.sqs_source is not None
    assert (worker.sqs_source.batch_size, worker.sqs_source.max_batching_window_seconds) == (10, 0)
    assert worker.environment["LEVEL"] == "DEBUG"
    assert wiring.parameters == {"BatchSize": "10", "Window": "0", "LogLevel": "DEBUG", "Stage": "dev"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BatchSize": "0"}, "below MinValue"),
        ({"BatchSize": "10001"}, "above MaxValue"),
        ({"BatchSize": "ten"}, "not a number"),
        ({"LogLevel": "TRACE"}, "not one of"),
        ({"Stage": "Prod"}, "does not match"),
        ({"Nope": "1"}, "undeclared parameters: Nope"),
    ],
)
def test_parameter_overrides_are_checked_like_cloudformation_checks_them(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        describe(template(FUNCTION), overrides)


def test_a_parameter_without_default_needs_an_override() -> None:
    text = "Parameters:\n  Secret: {Type: String}\nResources: {}\n"
    with pytest.raises(TemplateError, match="Secret has no Default"):
        describe(parse_template(text))
    assert describe(parse_template(text), {"Secret": "s"}).parameters == {"Secret": "s"}


def test_no_value_drops_the_variable_and_unsupported_intrinsics_are_errors() -> None:
    base = """
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/
          Handler: app.h
          Runtime: python3.11
          Environment: {Variables: {GONE: !Ref AWS::NoValue, KEPT: x, OTHER: VALUE}}
    """
    assert describe(template(base)).functions["Fn"].environment == {"KEPT": "x", "OTHER": "VALUE"}

    with pytest.raises(TemplateError, match="environment variable OTHER: cannot evaluate"):
        describe(template(base.replace("OTHER: VALUE", "OTHER: !If [C, a, b]")))
    with pytest.raises(TemplateError, match="unknown resource or parameter 'Missing'"):
        describe(template(base.replace("OTHER: VALUE", "OTHER: !Ref Missing")))


def test_sqs_source_needs_a_queue_of_the_template() -> None:
    text = FUNCTION.replace("Queue: !GetAtt Queue.Arn", "Queue: arn:aws:sqs:us-east-1:1:elsewhere")
    with pytest.raises(TemplateError, match=r"event Messages: Queue: expected !GetAtt <Resource>\.Arn"):
        describe(template(text))


# --- resolve ----------------------------------------------------------------------------------------------


def test_resolve_looks_references_up_in_the_physical_mapping() -> None:
    env = (
        describe(template(FUNCTION))
        .functions["Worker"]
        .resolved_environment({"Table": "t-local", "Queue": "q", "Queue.Arn": "arn:q", "AWS::Region": "us-east-1"})
    )
    assert env["TABLE"] == "t-local"
    assert env["QUEUE_ARN"] == "arn:q"
    assert env["URL"] == "https://q.example/dev/${Literal}"
    assert env["REGION"] == "us-east-1"


def test_resolve_without_a_physical_value_names_what_is_missing() -> None:
    with pytest.raises(TemplateError, match="no local value for 'Table'"):
        resolve(Ref("Table"), {})


# --- queues and tables ------------------------------------------------------------------------------------

QUEUES = """
Parameters:
  Receives: {Type: Number, Default: 4}
Resources:
  Dlq: {Type: AWS::SQS::Queue}
  Main:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: !Ref Receives}
  Ordered:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
"""


def test_queue_specs_with_sqs_defaults_redrive_and_fifo() -> None:
    queues = describe(template(QUEUES)).queues

    main = queues["Main"]
    assert (main.visibility_timeout, main.dead_letter_logical_id, main.max_receive_count, main.fifo) == (
        360,
        "Dlq",
        4,
        False,
    )
    assert (queues["Dlq"].visibility_timeout, queues["Dlq"].message_retention_period) == (30, 345_600)
    assert queues["Ordered"].fifo is True


def test_queue_attributes_need_the_dead_letter_arn() -> None:
    main = describe(template(QUEUES)).queues["Main"]
    with pytest.raises(TemplateError, match="redrives to Dlq"):
        main.create_queue_attributes()
    attributes = main.create_queue_attributes("arn:aws:sqs:us-east-1:123456789012:dlq")
    assert (
        attributes["RedrivePolicy"]
        == '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq", "maxReceiveCount": 4}'
    )


TABLE = """
Resources:
  Config:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
"""


def test_table_spec_goes_straight_into_boto3_create_table() -> None:
    spec = describe(template(TABLE)).tables["Config"]
    assert spec.ttl_attribute == "expires_at"

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="config", **spec.create_table_kwargs())
        table = client.describe_table(TableName="config")["Table"]

    assert table["KeySchema"] == spec.key_schema
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_buckets_are_described_by_logical_id() -> None:
    template = parse_template(
        "Resources:\n  Files:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketEncryption: {}\n"
    )
    assert describe(template).buckets == ["Files"]
