"""The Docker-free local stack: moto, API Gateway- and SQS-shaped drivers, wired from template.yaml.

`python -m sqlsync.local` (`make run`) runs the bundle in one process. The pieces, one module each:

* `cfn`: reads template.yaml (functions, routes, SQS sources, queues, tables, environment);
* `runtime`: imports a function's handler and invokes it with a Lambda context;
* `gateway`: API Gateway HTTP API semantics (routes, payload 2.0 events, responses); `server` serves it;
* `poller`: the SQS event-source mapping (batch size and window, partial batch failures, retries);
* `stack`: moto plus all of the above, started and stopped together;
* `demo`: the SQLite demo target, integrations from the API, the scripted `--demo` run.

Nothing here is imported by the functions; moto is imported only when a stack starts.

Examples
--------
>>> from sqlsync.local import LocalStack, StackOptions
>>> with LocalStack(StackOptions(port=0)) as stack:  # doctest: +SKIP
...     print(stack.url)
http://127.0.0.1:...
"""

from sqlsync.local.gateway import Gateway, GatewayResponse, Request, RouteTable, build_event
from sqlsync.local.poller import BatchResult, SqsPoller
from sqlsync.local.runtime import Invocable, LambdaContext, LocalFunction
from sqlsync.local.server import GatewayServer
from sqlsync.local.stack import LocalStack, StackError, StackOptions

__all__ = [
    "BatchResult",
    "Gateway",
    "GatewayResponse",
    "GatewayServer",
    "Invocable",
    "LambdaContext",
    "LocalFunction",
    "LocalStack",
    "Request",
    "RouteTable",
    "SqsPoller",
    "StackError",
    "StackOptions",
    "build_event",
]
