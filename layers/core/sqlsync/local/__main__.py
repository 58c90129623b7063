"""python -m sqlsync.local: the whole bundle in one process, no Docker (`make run`, `make run ARGS=--demo`).

Starts the local stack (moto, the HTTP API on --host:--port, the sync worker's poller), creates the demo
integration (or those of --config) through POST /v1/integrations, prints how to use it and serves until
Ctrl-C. With --demo it posts events/platform/demo/*.json over HTTP instead, waits for the worker, prints
the SQLite rows and the integration's stats, and exits (non-zero when anything failed).

Progress goes to stderr; the functions' Powertools logs and metrics are JSON on stdout, as in Lambda.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from sqlsync.local.cfn import TemplateError
from sqlsync.local.demo import (
    DEMO_ACCOUNT_ID,
    DemoError,
    HookReceiver,
    create_demo_hook,
    create_integrations,
    demo_integration,
    load_integrations,
    prepare_sqlite,
    run_demo,
)
from sqlsync.local.stack import LocalStack, StackError, StackOptions, find_root

logger = logging.getLogger("sqlsync.local")


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sqlsync.local",
        description="Run sqlsync locally: moto for AWS, an API Gateway-shaped HTTP server, an SQS poller.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port to serve on; 0 picks a free one (default 3000)")
    parser.add_argument(
        "--db", type=Path, help="SQLite file of the demo target (default .local/demo.sqlite3 in the repository)"
    )
    parser.add_argument(
        "--config", type=Path, help="YAML or JSON list of integrations (POST /v1/integrations bodies) to create"
    )
    parser.add_argument(
        "--demo", action="store_true", help="post events/platform/demo/*.json, print the results and exit"
    )
    parser.add_argument(
        "--batch-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the poller's batching window, instead of the template's MaximumBatchingWindowInSeconds (default 1)",
    )
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=1,
        metavar="SECONDS",
        help="how long a failed message stays invisible before redelivery (default 1; AWS: the visibility timeout)",
    )
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override, e.g. --param MaxReceiveCount=2 (repeatable)",
    )
    return parser.parse_args(argv)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s local: %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # "sqlsync" is also the Powertools service logger (JSON on stdout); keep these lines plain, on stderr.
    logger.propagate = False


def _display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _print_banner(stack: LocalStack, root: Path, created: list[dict[str, Any]], db: Path) -> None:
    url = stack.url
    sample = _display_path(root / "events" / "platform" / "profiles_added.json")
    print(f"sqlsync local stack on {url}")
    for account in sorted({integration["account_id"] for integration in created} | {DEMO_ACCOUNT_ID}):
        print(f"  API key of account {account}: {stack.api_key(account)}")
    auth = f"-H 'authorization: Bearer {stack.api_key(DEMO_ACCOUNT_ID)}'"
    print(f"  post an event (account {DEMO_ACCOUNT_ID}):")
    print(f"    curl -sS -X POST {url}/v1/events {auth} -H 'content-type: application/json' --data @{sample}")
    customers = _display_path(root / "events" / "platform" / "customers")
    print("  track a customer, import customers, read one:")
    print(
        f"    curl -sS -X POST {url}/track/v2/projects/{DEMO_ACCOUNT_ID}/batch {auth} "
        f"-H 'content-type: application/json' --data @{customers}/track_batch.json"
    )
    print(
        f"    curl -sS -X POST {url}/v1/imports {auth} -H 'content-type: application/json' "
        f"--data @{customers}/import.json"
    )
    print(f"    curl -sS {auth} '{url}/api/customers/mgalik?include_timestamps=1'")
    for integration in created:
        key = stack.api_key(integration["account_id"])
        print(f"  integration {integration['name']!r}: id {integration['id']}")
        print(
            f"    its stats: curl -sS -H 'authorization: Bearer {key}' {url}/v1/integrations/{integration['id']}/stats"
        )
    print(f"  SQLite target: {_display_path(db)}  (sqlite3 {_display_path(db)} 'SELECT * FROM mysegment')")
    sys.stdout.flush()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _configure_logging()
    root = find_root()
    db = (args.db or root / ".local" / "demo.sqlite3").resolve()
    try:
        integrations = load_integrations(args.config) if args.config else [demo_integration(db)]
    except (OSError, ValueError, DemoError) as exc:
        print(f"--config: {exc}", file=sys.stderr)
        return 2
    prepare_sqlite(db, fresh=args.demo)
    options = StackOptions(
        root=root,
        host=args.host,
        port=args.port,
        batch_window=args.batch_window,
        retry_delay=args.retry_delay,
        # Locally, hooks may deliver to loopback (the demo's receiver, a receiver of yours on this machine).
        parameters={"HookAllowPrivateDestinations": "true", **dict(args.param)},
    )
    # Stop cleanly on Ctrl-C and on kill, also when started in the background (where SIGINT is ignored).
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack = LocalStack(options)
    except TemplateError as exc:
        print(f"sqlsync.local: {exc}", file=sys.stderr)
        return 1
    try:
        stack.prepare()
        created = create_integrations(stack, integrations)
        stack.serve()
        _print_banner(stack, root, created, db)
        if args.demo:
            events = sorted((root / "events" / "platform" / "demo").glob("*.json"))
            events += sorted((root / "events" / "platform" / "hooks").glob("*.json"))
            receiver = HookReceiver()
            try:
                hook = create_demo_hook(stack, receiver)
                customers = root / "events" / "platform" / "customers"
                return run_demo(stack, events, db, created, hook=hook, customers=customers)
            finally:
                receiver.close()
        print("Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        logger.info("stopping")
    except (StackError, TemplateError, DemoError, OSError) as exc:
        print(f"sqlsync.local: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
