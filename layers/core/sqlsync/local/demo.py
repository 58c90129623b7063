"""The local demo: an SQLite target, integrations created through the API, sample events sent over HTTP.

The demo integration syncs segment 17 of account 1 into an SQLite file with templates adapted from the
vendor's MySQL examples (docs: Altcraft "Static segment synchronization"): `'{...}'` instead of `"{...}"`
(in SQLite a double-quoted word is an identifier first), CURRENT_TIMESTAMP instead of NOW(), and
`ON CONFLICT ... DO UPDATE` instead of `ON DUPLICATE KEY UPDATE`.

Integrations are always created with POST /v1/integrations through the stack's gateway, so the API
handler checks them (templates compile, the URL names a supported database) exactly as in AWS.

Examples
--------
>>> demo_integration(Path("/tmp/demo.sqlite3"))["target_url"]
'sqlite:////tmp/demo.sqlite3'
>>> print(format_table(["id", "name"], [(17, "VIP")]))
id | name
---+-----
17 | VIP
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from sqlsync.local.stack import LocalStack

__all__ = [
    "DEMO_TEMPLATES",
    "DemoError",
    "DemoHook",
    "HookReceiver",
    "create_demo_hook",
    "create_integrations",
    "demo_integration",
    "format_table",
    "load_integrations",
    "prepare_sqlite",
    "run_demo",
]

DEMO_ACCOUNT_ID = 1
DEMO_SEGMENT_ID = 17
DEMO_TABLES = {
    "mysegment": "CREATE TABLE IF NOT EXISTS mysegment "
    "(segId INTEGER, clientId TEXT, updated TEXT, PRIMARY KEY (segId, clientId))",
    "segments": "CREATE TABLE IF NOT EXISTS segments (segment_id INTEGER PRIMARY KEY, name TEXT, updated TEXT)",
}
DEMO_TEMPLATES = {
    "profiles_added": (
        "INSERT INTO mysegment (segId, clientId, updated)\n"
        "VALUES\n"
        "{for $index, $lead = $batch}\n"
        "({segment_id}, '{$lead.CustomID}', CURRENT_TIMESTAMP){autocomma}\n"
        "{end}\n"
        "ON CONFLICT (segId, clientId) DO UPDATE SET updated = CURRENT_TIMESTAMP"
    ),
    "profiles_removed": 'DELETE FROM mysegment\nWHERE segId = {segment_id}\nAND clientId IN ({batch_in "CustomID"})',
    "segment_cleared": "DELETE FROM mysegment\nWHERE segId = {segment_id}",
    "segment_upserted": (
        "INSERT INTO segments (segment_id, name, updated)\n"
        "VALUES ({segment_id}, '{segment_name}', CURRENT_TIMESTAMP)\n"
        "ON CONFLICT (segment_id) DO UPDATE SET name = excluded.name, updated = CURRENT_TIMESTAMP"
    ),
    "segment_deleted": "DELETE FROM segments\nWHERE segment_id = {segment_id}",
}


class DemoError(RuntimeError):
    """A step of the demo failed: an integration the API refused, a config file that is not a list."""


def demo_integration(db: Path) -> dict[str, Any]:
    """The demo integration in the POST /v1/integrations shape, targeting the SQLite file `db`."""
    return {
        "name": "demo",
        "description": "Segment 17 of account 1 into mysegment and segments (SQLite).",
        "active": True,
        "target_url": f"sqlite:///{db}",
        "segment_ids": [DEMO_SEGMENT_ID],
        "batch_size": 100,
        "templates": dict(DEMO_TEMPLATES),
    }


def prepare_sqlite(db: Path, *, fresh: bool = False) -> None:
    """Create the demo tables in `db` if missing; `fresh` deletes the file first."""
    if fresh:
        db.unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db)) as connection, connection:
        for statement in DEMO_TABLES.values():
            connection.execute(statement)


def load_integrations(path: Path) -> list[dict[str, Any]]:
    """A config file: a YAML or JSON list of integrations in the POST /v1/integrations shape."""
    import yaml

    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DemoError(f"{path}: expected a list of integration objects")
    return data


def create_integrations(stack: LocalStack, integrations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST each integration to /v1/integrations (in-process) with its account's API key (a config file
    entry may name its `account_id`; default: the demo account); the created integrations, as the API
    returns them."""
    created: list[dict[str, Any]] = []
    for index, entry in enumerate(integrations):
        integration = dict(entry)
        account = integration.pop("account_id", DEMO_ACCOUNT_ID)
        if not isinstance(account, int) or isinstance(account, bool) or account < 0:
            raise DemoError(f"integration #{index + 1}: account_id must be a whole number >= 0, not {account!r}")
        response = stack.request("POST", "/v1/integrations", integration, account=account)
        if response.status != 201:
            name = integration.get("name", f"#{index + 1}")
            raise DemoError(f"integration {name!r}: {response.status} {response.body.decode(errors='replace')}")
        created.append(json.loads(response.body))
    return created


class HookReceiver:
    """The demo hook's endpoint: an HTTP server on loopback keeping every request it gets (the local stack
    lets hooks reach loopback: HookAllowPrivateDestinations=true). It answers 204, or the statuses of
    `script` first, one per request (tests make it fail that way)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.script.pop(0) if receiver.script else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, name="demo-hook-receiver", daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order (each request is a JSON array of events)."""
        return [event for _, body in self.requests for event in json.loads(body)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class DemoHook:
    hook: dict[str, Any]
    signing_secret: str
    receiver: HookReceiver


def create_demo_hook(stack: LocalStack, receiver: HookReceiver) -> DemoHook:
    """A hook of the demo account forwarding clicks and opens to the receiver, made through the API."""
    body = {
        "name": "demo clicks",
        "event_types": ["click", "open"],
        "custom_data": {"profile_fields": ["email"], "values": {"campaign": "{{campaign_name}}"}},
        "destination": {"kind": "http", "url": receiver.url, "batch_size": 100},
    }
    response = stack.request("POST", "/v1/hooks", body, account=DEMO_ACCOUNT_ID)
    if response.status != 201:
        raise DemoError(f"demo hook: {response.status} {response.body.decode(errors='replace')}")
    hook = json.loads(response.body)
    secret = stack.request("GET", f"/v1/hooks/{hook['id']}/signing-secret", account=DEMO_ACCOUNT_ID)
    return DemoHook(hook, json.loads(secret.body)["signing_secret"], receiver)


def signature_verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (Standard Webhooks): HMAC-SHA256 of id.timestamp.body with the secret's key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[-1] for part in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def http(method: str, url: str, body: bytes | None = None, api_key: str | None = None) -> tuple[int, bytes]:
    """A real HTTP request over loopback; the status and body, also for 4xx and 5xx."""
    request = urllib.request.Request(url, data=body, method=method)
    if api_key is not None:
        request.add_header("authorization", f"Bearer {api_key}")
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def sqlite_rows(db: Path, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of a demo table, ordered by its primary key."""
    order = {"mysegment": "segId, clientId", "segments": "segment_id"}[table]
    with closing(sqlite3.connect(db)) as connection:
        cursor = connection.execute(f"SELECT * FROM {table} ORDER BY {order}")  # table and order are fixed names
        return [column[0] for column in cursor.description], cursor.fetchall()


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(column) for column in columns], *[["NULL" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def run_demo(
    stack: LocalStack,
    events: Sequence[Path],
    db: Path,
    integrations: Sequence[dict[str, Any]],
    out: TextIO = sys.stdout,
    timeout: float = 60.0,
    hook: DemoHook | None = None,
    customers: Path | None = None,
) -> int:
    """POST the events over HTTP, wait for the worker (and the hook dispatcher), print the tables, the stats
    and what the demo hook received; with `customers` (events/platform/customers), track and import
    customers too. 0 when all went well."""
    problems: list[str] = []
    import_id = _start_customers(stack, customers, out, problems) if customers is not None else None
    for path in events:
        account = json.loads(path.read_bytes()).get("account_id", DEMO_ACCOUNT_ID)
        status, body = http("POST", f"{stack.url}/v1/events", path.read_bytes(), stack.api_key(account))
        print(f"POST /v1/events < {path.name}: {status} {body.decode(errors='replace')}", file=out)
        if not 200 <= status < 300:
            problems.append(f"{path.name} was refused with {status}")
    started = time.monotonic()
    if stack.drain(timeout):
        print(f"queue drained in {time.monotonic() - started:.1f} s", file=out)
    else:
        problems.append(f"the sync queue was not empty after {timeout:g} s")
    for table in ("mysegment", "segments"):
        columns, rows = sqlite_rows(db, table)
        print(f"\n{table} ({len(rows)} rows) in {db}:\n{format_table(columns, rows)}", file=out)
    for integration in integrations:
        key = stack.api_key(integration["account_id"])
        status, body = http("GET", f"{stack.url}/v1/integrations/{integration['id']}/stats", api_key=key)
        print(f"\nstats of integration {integration['name']!r} ({integration['id']}): {status}", file=out)
        stats = json.loads(body)
        print(json.dumps(stats, indent=2), file=out)
        if status != 200:
            problems.append(f"stats of {integration['id']}: {status}")
        elif stats.get("errors"):
            problems.append(
                f"integration {integration['name']!r} had {stats['errors']} error(s): {stats['last_error']}"
            )
    if hook is not None:
        problems += _report_hook(hook, out)
    if import_id is not None:
        problems += _report_customers(stack, import_id, out)
    for logical_id, queue in stack.wiring.queues.items():
        if queue.dead_letter_logical_id is not None and (dead := stack.queue_depth(queue.dead_letter_logical_id)):
            problems.append(f"{dead} message(s) of {logical_id} in {queue.dead_letter_logical_id}")
    for problem in problems:
        print(f"demo failed: {problem}", file=out)
    if not problems:
        print("\ndemo OK", file=out)
    return 1 if problems else 0


def _start_customers(stack: LocalStack, samples: Path, out: TextIO, problems: list[str]) -> str | None:
    """Track a customer (tracking.json: newer), then import an older snapshot of it (import.json)."""
    key = stack.api_key(DEMO_ACCOUNT_ID)
    url = f"{stack.url}/track/v2/projects/{DEMO_ACCOUNT_ID}/batch"
    status, body = http("POST", url, (samples / "track_batch.json").read_bytes(), key)
    print(f"\nPOST /track/v2/projects/{DEMO_ACCOUNT_ID}/batch < track_batch.json: {status} {body.decode()}", file=out)
    if status != 200 or not all(result["success"] for result in json.loads(body)["results"]):
        problems.append(f"the tracking batch failed: {status} {body.decode(errors='replace')}")
    status, body = http("POST", f"{stack.url}/v1/imports", (samples / "import.json").read_bytes(), key)
    print(f"POST /v1/imports < import.json: {status}", file=out)
    if status != 202:
        problems.append(f"the import was refused: {status} {body.decode(errors='replace')}")
        return None
    import_id: str = json.loads(body)["id"]
    return import_id


def _report_customers(stack: LocalStack, import_id: str, out: TextIO) -> list[str]:
    key = stack.api_key(DEMO_ACCOUNT_ID)
    problems: list[str] = []
    _, body = http("GET", f"{stack.url}/v1/imports/{import_id}", api_key=key)
    done = json.loads(body)
    print(
        f"\nimport {import_id}: {done['status']}, {done['rows_imported']} row(s) imported, "
        f"{done['rows_failed']} failed, {done['customers_created']} customer(s) created",
        file=out,
    )
    _, body = http("GET", f"{stack.url}/v1/imports/{import_id}/errors", api_key=key)
    for error in json.loads(body)["errors"]:
        print(f"  row {error['row']} (line {error['line']}), column {error['column']}: {error['reason']}", file=out)
    status, body = http("GET", f"{stack.url}/api/customers/mgalik?include_timestamps=1", api_key=key)
    customer = json.loads(body)
    print(f"GET /api/customers/mgalik?include_timestamps=1: {status}\n{json.dumps(customer, indent=2)}", file=out)
    properties = customer.get("properties", {})
    if done["status"] != "succeeded":
        problems.append(f"import {import_id} is {done['status']}")
    # The import's snapshot is older than the tracking: it adds the city, and does not overwrite the name.
    if properties.get("first_name", {}).get("value") != "Marian" or "city" not in properties:
        problems.append(f"customer mgalik is not the newest of tracking and import: {properties}")
    return problems


def _report_hook(hook: DemoHook, out: TextIO) -> list[str]:
    received = hook.receiver.requests
    events = hook.receiver.events()
    verified = all(signature_verifies(hook.signing_secret, headers, body) for headers, body in received)
    print(
        f"\nhook {hook.hook['name']!r} ({hook.hook['id']}) received {len(events)} event(s) in {len(received)} "
        f"request(s) at {hook.receiver.url}; signatures {'verified' if verified else 'DO NOT VERIFY'}",
        file=out,
    )
    for event in events:
        print(json.dumps(event, ensure_ascii=False), file=out)
    problems = [] if verified else [f"hook {hook.hook['id']}: a signature did not verify"]
    if not events:
        problems.append(f"hook {hook.hook['id']} received nothing")
    return problems
