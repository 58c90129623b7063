"""The Lambda runtime, locally: a function's handler imported from its CodeUri, invoked with a context.

Lambda imports `functions/<dir>/app.py` once per execution environment and calls `lambda_handler(event,
context)` for each invocation. `LocalFunction` does the same in this process: the module is imported with
importlib under a name of its own (two functions may both have an `app.py`), and invocations of one
function are serialized, as if each function had one warm execution environment. Different functions run
concurrently (the HTTP server and the pollers have threads of their own).

Not modelled: the Timeout (an invocation that overruns it is logged, not stopped), the memory limit, and
the function's directory on sys.path (handlers import the `sqlsync` package, nothing beside app.py).

Examples
--------
>>> context = LambdaContext.for_invocation("sqlsync-local-Api", 512, 30.0, "us-east-1", "123456789012")
>>> context.invoked_function_arn
'arn:aws:lambda:us-east-1:123456789012:function:sqlsync-local-Api'
>>> 0 < context.get_remaining_time_in_millis() <= 30_000
True
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from sqlsync.local.cfn import FunctionSpec

__all__ = ["Invocable", "LambdaContext", "LocalFunction"]

logger = logging.getLogger(__name__)
_module_numbers = itertools.count(1)


class Invocable(Protocol):
    """What the gateway and the pollers call: a named function that takes an event."""

    @property
    def name(self) -> str: ...

    def invoke(self, event: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that handlers (and Powertools) read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    """time.monotonic() at which the invocation times out."""

    @classmethod
    def for_invocation(
        cls, function_name: str, memory_mb: int, timeout_seconds: float, region: str, account_id: str
    ) -> LambdaContext:
        return cls(
            function_name=function_name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{function_name}",
            memory_limit_in_mb=memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{function_name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]local", time.gmtime()),
            deadline=time.monotonic() + timeout_seconds,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function of template.yaml, its handler imported from `root / spec.handler_file`."""

    def __init__(self, spec: FunctionSpec, root: Path, *, name: str, region: str, account_id: str) -> None:
        self.spec = spec
        self._name = name
        self.region = region
        self.account_id = account_id
        self.path = (root / spec.handler_file).resolve()
        self.module_name = f"sqlsync_local_{spec.logical_id}_{next(_module_numbers)}"
        self._module: ModuleType | None = None
        self._handler: Callable[[dict[str, Any], LambdaContext], Any] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The local function name, e.g. 'sqlsync-local-IngestFunction'."""
        return self._name

    def load(self) -> None:
        """Import the handler module (its import-time code runs now, as in a Lambda cold start)."""
        if self._module is not None:
            return
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.spec.logical_id}: handler file {self.path} does not exist")
        spec = importlib.util.spec_from_file_location(self.module_name, self.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{self.spec.logical_id}: cannot import {self.path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[self.module_name]
            raise
        handler = getattr(module, self.spec.handler_function, None)
        if not callable(handler):
            del sys.modules[self.module_name]
            raise ImportError(f"{self.spec.logical_id}: {self.path} has no function {self.spec.handler_function}")
        self._module, self._handler = module, handler

    def unload(self) -> None:
        sys.modules.pop(self.module_name, None)
        self._module = self._handler = None

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler with a fresh context; exceptions propagate to the caller (gateway, poller)."""
        self.load()
        assert self._handler is not None
        with self._lock:
            context = LambdaContext.for_invocation(
                self.name, self.spec.memory_size, float(self.spec.timeout), self.region, self.account_id
            )
            started = time.monotonic()
            try:
                return self._handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.spec.timeout:
                    logger.warning(
                        "%s ran %.1f s, longer than its Timeout of %d s (Lambda would have stopped it)",
                        self.spec.logical_id,
                        elapsed,
                        self.spec.timeout,
                    )
