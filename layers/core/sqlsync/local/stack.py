"""The whole bundle in one process: moto for AWS, template.yaml's resources, functions, routes and pollers.

`LocalStack.start()` (`prepare()` for steps 1-3 and the functions, then `serve()`):

1. sets fake credentials and region us-east-1 in os.environ, then starts `moto.mock_aws()` for the life
   of the stack (every boto3 client made in this process talks to moto from then on);
2. creates every DynamoDB table, SQS queue and S3 bucket of template.yaml (`cfn.describe`) under a local
   physical name (`sqlsync-local-<LogicalId>`, lower case for buckets), dead-letter queues first so that
   RedrivePolicy can name them;
3. sets the functions' environment (CONFIG_TABLE, SYNC_QUEUE_URL, ...) in os.environ: the functions share
   this process, so their resolved environments must agree, and start-up fails if they do not;
4. imports each function's handler (`runtime.LocalFunction`), serves the HttpApi routes over HTTP
   (`gateway`, `server`), starts one poller per SQS event source (`poller`) and a ticker per rate()
   schedule (`scheduler`).

`stop()` undoes all of it: pollers, server, moto, the environment variables and the imported modules.
moto's backends are global to the process, so only one stack may run at a time.

Examples
--------
>>> with LocalStack(StackOptions(port=0)) as stack:  # doctest: +SKIP
...     stack.request("GET", "/v1/integrations", account=1).status
200
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from sqlsync.local.cfn import Wiring, describe, load_template
from sqlsync.local.gateway import Gateway, GatewayResponse, Request
from sqlsync.local.poller import SqsPoller
from sqlsync.local.runtime import LocalFunction
from sqlsync.local.scheduler import Ticker, rate_seconds, scheduled_event
from sqlsync.local.server import GatewayServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["LocalStack", "StackError", "StackOptions", "find_root"]

logger = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
_FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# Variables that would send boto3 elsewhere than moto's in-process backends or to real credentials.
_CLEARED_AWS_ENVIRONMENT = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB")
_running = threading.Lock()


class StackError(RuntimeError):
    """The stack cannot start: another one runs, or template.yaml cannot be run in one process."""


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest directory holding template.yaml, from `start` (cwd) upwards, else
    the checkout this package is installed from (editable install)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents, *Path(__file__).resolve().parents):
        if (directory / "template.yaml").is_file():
            return directory
    raise StackError(f"no template.yaml in {here} or its parents")


@dataclass(frozen=True)
class StackOptions:
    """How to run the stack. `batch_window` overrides every SQS source's MaximumBatchingWindowInSeconds
    (None keeps the template's); `parameters` are template parameter overrides (MaxReceiveCount=2, ...)."""

    root: Path = field(default_factory=find_root)
    template: str = "template.yaml"
    host: str = "127.0.0.1"
    port: int = 3000
    batch_window: float | None = 1.0
    retry_delay: int = 1
    poll_wait: int = 1
    parameters: Mapping[str, str] = field(default_factory=dict)
    prefix: str = "sqlsync-local"


class LocalStack:
    """See the module docstring. Use as a context manager, or call `start` and `stop`."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.wiring: Wiring = describe(
            load_template(self.options.root / self.options.template), self.options.parameters
        )
        self.physical: dict[str, str] = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID}
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: dict[str, SqsPoller] = {}
        self.tickers: dict[str, Ticker] = {}
        self.gateway: Gateway | None = None
        self.server: GatewayServer | None = None
        self._mock: Any = None
        self._saved_environment: dict[str, str | None] = {}
        self._sqs: SQSClient | None = None
        self._api_keys: dict[int, str] = {}
        self._owns_lock = False

    # Life cycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """`prepare`, then `serve`."""
        self.prepare()
        self.serve()

    def prepare(self) -> None:
        """moto, the resources, the environment and the functions; `request` works from here on."""
        if not _running.acquire(blocking=False):
            raise StackError("another LocalStack runs in this process (moto's backends are process-wide)")
        self._owns_lock = True
        try:
            self._prepare()
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> None:
        self._set_environment(_FAKE_AWS_ENVIRONMENT, clear=_CLEARED_AWS_ENVIRONMENT)
        import boto3
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        # One default session, made here on the main thread: boto3 sessions are not safe to create from
        # several threads at once, and every handler's boto3.client(...) uses this one.
        boto3.setup_default_session(region_name=REGION)
        self._sqs = boto3.client("sqs", region_name=REGION)
        self._create_tables(boto3.client("dynamodb", region_name=REGION))
        self._create_queues(self._sqs)
        self._create_buckets(boto3.client("s3", region_name=REGION))
        self._set_environment(self._function_environment())
        self._load_functions()
        routes = [(route, function) for function in self.functions.values() for route in function.spec.routes]
        self.gateway = Gateway(routes, authorizers=dict(self.functions), account_id=ACCOUNT_ID)

    def serve(self) -> None:
        """Start the HTTP server and the pollers (after `prepare`)."""
        if self.gateway is None or self._sqs is None:
            raise StackError("prepare the stack before serving it")
        try:
            self.server = GatewayServer(self.gateway, self.options.host, self.options.port)
            self.server.start()
            logger.info("HTTP API on %s (%d routes)", self.server.url, len(self.gateway.routes))
            self._start_pollers(self._sqs)
            self._start_tickers()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything `start` started; safe to call twice and after a failed start."""
        for poller in self.pollers.values():
            poller.stop()
        self.pollers.clear()
        for ticker in self.tickers.values():
            ticker.stop()
        self.tickers.clear()
        if self.server is not None:
            self.server.close()
            self.server = None
        for function in self.functions.values():
            function.unload()
        self.functions.clear()
        self._api_keys.clear()
        self.gateway = None
        self._sqs = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
            import boto3

            boto3.DEFAULT_SESSION = None  # its clients pointed at moto
        self._restore_environment()
        if self._owns_lock:
            self._owns_lock = False
            _running.release()

    # Resources ---------------------------------------------------------------------------

    def physical_name(self, logical_id: str) -> str:
        return f"{self.options.prefix}-{logical_id}"

    def _create_tables(self, dynamodb: DynamoDBClient) -> None:
        for logical_id, table in self.wiring.tables.items():
            name = self.physical_name(logical_id)
            description = dynamodb.create_table(TableName=name, **table.create_table_kwargs())["TableDescription"]
            if table.ttl_attribute is not None:
                dynamodb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True}
                )
            self.physical[logical_id] = name
            self.physical[f"{logical_id}.Arn"] = description["TableArn"]
            logger.info("table %s", name)

    def _create_buckets(self, s3: Any) -> None:
        for logical_id in self.wiring.buckets:
            name = self.physical_name(logical_id).lower()  # bucket names are lower case
            s3.create_bucket(Bucket=name)
            self.physical.update({logical_id: name, f"{logical_id}.Arn": f"arn:aws:s3:::{name}"})
            logger.info("bucket %s", name)

    def _create_queues(self, sqs: SQSClient) -> None:
        pending = dict(self.wiring.queues)
        while pending:
            ready = [
                spec
                for spec in pending.values()
                if spec.dead_letter_logical_id is None or spec.dead_letter_logical_id in self.physical
            ]
            if not ready:
                raise StackError(f"queues redrive to queues that do not exist or in a cycle: {sorted(pending)}")
            for spec in ready:
                del pending[spec.logical_id]
                name = self.physical_name(spec.logical_id) + (".fifo" if spec.fifo else "")
                dead_letter_arn = (
                    self.physical[f"{spec.dead_letter_logical_id}.Arn"] if spec.dead_letter_logical_id else None
                )
                attributes = cast("dict[QueueAttributeNameType, str]", spec.create_queue_attributes(dead_letter_arn))
                url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                self.physical.update({spec.logical_id: url, f"{spec.logical_id}.Arn": arn})
                self.physical[f"{spec.logical_id}.QueueName"] = name
                redrive = (
                    f", to {spec.dead_letter_logical_id} after {spec.max_receive_count} receives"
                    if spec.dead_letter_logical_id
                    else ""
                )
                logger.info("queue %s (visibility %d s%s)", name, spec.visibility_timeout, redrive)

    def _function_environment(self) -> dict[str, str]:
        environment: dict[str, str] = {}
        owner: dict[str, str] = {}
        for function in self.wiring.functions.values():
            for name, value in function.resolved_environment(self.physical).items():
                if name in environment and environment[name] != value:
                    raise StackError(
                        f"{owner[name]} and {function.logical_id} set {name} to different values "
                        f"({environment[name]!r}, {value!r}); the local stack runs all functions in one process"
                    )
                environment[name] = value
                owner.setdefault(name, function.logical_id)
        return environment

    def _load_functions(self) -> None:
        for logical_id, spec in self.wiring.functions.items():
            function = LocalFunction(
                spec, self.options.root, name=self.physical_name(logical_id), region=REGION, account_id=ACCOUNT_ID
            )
            function.load()
            self.functions[logical_id] = function
            logger.info("function %s (%s)", logical_id, spec.handler_file)

    def _start_tickers(self) -> None:
        """The template's rate() schedules, each invoking its function at its rate (EventBridge's part)."""
        for logical_id, function in self.functions.items():
            for schedule in function.spec.schedules:
                period = rate_seconds(schedule.expression)
                if not schedule.enabled or period is None:
                    continue
                name = f"{logical_id}.{schedule.event_name}"
                ticker = Ticker(function, name, period, scheduled_event(name, REGION, ACCOUNT_ID))
                ticker.start()
                self.tickers[name] = ticker
                logger.info("schedule %s: %s", name, schedule.expression)

    def _start_pollers(self, sqs: SQSClient) -> None:
        for logical_id, function in self.functions.items():
            source = function.spec.sqs_source
            if source is None:
                continue
            queue = self.wiring.queues[source.queue_logical_id]
            poller = SqsPoller(
                function,
                sqs,
                self.physical[source.queue_logical_id],
                self.physical[f"{source.queue_logical_id}.Arn"],
                source,
                batch_window=self.options.batch_window,
                retry_delay=self.options.retry_delay,
                poll_wait=self.options.poll_wait,
                region=REGION,
                max_receive_count=queue.max_receive_count,
            )
            poller.start()
            self.pollers[logical_id] = poller
            logger.info(
                "poller %s <- %s (batch %d, window %g s, retry after %d s)",
                logical_id,
                source.queue_logical_id,
                poller.batch_size,
                poller.batch_window,
                poller.retry_delay,
            )

    # Environment -------------------------------------------------------------------------

    def _set_environment(self, values: Mapping[str, str], clear: Sequence[str] = ()) -> None:
        for name in [*values, *clear]:
            self._saved_environment.setdefault(name, os.environ.get(name))
        for name in clear:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    # Using the stack ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.server is None:
            raise StackError("the stack is not running")
        return self.server.url

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            raise StackError("the stack is not running")
        return self._sqs

    def api_key(self, account_id: int) -> str:
        """An API key of the account, issued into the config table on first use (as the operator would
        with `python -m sqlsync.accounts issue`)."""
        if self.gateway is None:
            raise StackError("the stack is not running")
        if account_id not in self._api_keys:
            from sqlsync.accounts import ApiKeys
            from sqlsync.store.dynamodb import DynamoDBConfigStore

            issued = ApiKeys(DynamoDBConfigStore(self.physical["ConfigTable"])).issue(account_id, "local stack")
            self._api_keys[account_id] = issued.key
        return self._api_keys[account_id]

    def request(self, method: str, target: str, body: Any = None, *, account: int | None = None) -> GatewayResponse:
        """Call a route in-process (no HTTP): `body` is sent as JSON unless it is bytes or None; with
        `account`, as that account (its API key in the Authorization header)."""
        if self.gateway is None:
            raise StackError("the stack is not running")
        headers = [("host", "localhost"), ("user-agent", "sqlsync-local")]
        if account is not None:
            headers.append(("authorization", f"Bearer {self.api_key(account)}"))
        payload = b""
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.append(("content-type", "application/json"))
        return self.gateway.handle(Request(method, target, headers, payload))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every polled queue is empty (nothing visible or in flight); False on timeout."""
        return all(poller.drain(timeout) for poller in self.pollers.values())

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Peek at up to 100 messages of a queue (e.g. SyncDLQ), received with visibility 0 so they stay."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(10):
            response = self.sqs.receive_message(
                QueueUrl=self.physical[logical_id],
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageSystemAttributeNames=["All"],
            )
            new = {message["MessageId"]: dict(message) for message in response.get("Messages", [])}
            if not new.keys() - seen.keys():
                break
            seen.update(new)
        return list(seen.values())

    def queue_depth(self, logical_id: str) -> int:
        """Visible plus in-flight messages of a queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.physical[logical_id],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(count) for count in attributes.values())
