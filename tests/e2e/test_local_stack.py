"""The local stack end to end: real HTTP into the handlers, moto's SQS into the worker, SQLite as the target.

One stack for the module (moto's backends are process-wide), started like `python -m sqlsync.local
--config FILE --port 0 --batch-window 0.2 --retry-delay 0 --param MaxReceiveCount=2`: the config holds
the demo integration (segment 17) and one whose template names a missing table (segment 99).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sqlsync.local.demo import create_integrations, demo_integration, load_integrations, prepare_sqlite
from sqlsync.local.stack import LocalStack, StackError, StackOptions
from sqlsync.models.integrations import IntegrationIn
from sqlsync.sync.integrations import check_integration
from testkit import queued_event

ROOT = Path(__file__).resolve().parents[2]
DEMO_EVENTS = sorted((ROOT / "events" / "platform" / "demo").glob("*.json"))
MAX_RECEIVE_COUNT = 2
FAILING_SEGMENT = 99


@dataclass
class Running:
    stack: LocalStack
    db: Path
    demo_id: str
    failing_id: str

    def http(
        self, method: str, path: str, body: Any = None, *, account: int | None = 1, key: str | None = None
    ) -> tuple[int, Any]:
        """A real HTTP request with the API key of `account` (or `key`; neither: no Authorization)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.stack.url + path, data=data, method=method)
        key = key or (self.stack.api_key(account) if account is not None else None)
        if key is not None:
            request.add_header("authorization", f"Bearer {key}")
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                status, payload = exc.code, exc.read()
        return status, json.loads(payload) if payload else None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db)) as connection:
            return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("local-stack")
    db = tmp / "demo.sqlite3"
    prepare_sqlite(db, fresh=True)
    failing = {
        **demo_integration(db),
        "name": "broken",
        "segment_ids": [FAILING_SEGMENT],
        "templates": {
            "profiles_added": "INSERT INTO missing_table (id) VALUES {for $i, $lead = $batch}('{$lead.CustomID}')"
            "{autocomma}{end}",
            "profiles_removed": 'DELETE FROM missing_table WHERE id IN ({batch_in "CustomID"})',
        },
    }
    config = tmp / "integrations.yaml"
    config.write_text(yaml.safe_dump([demo_integration(db), failing]))
    options = StackOptions(
        root=ROOT,
        port=0,
        batch_window=0.2,
        retry_delay=0,
        parameters={"MaxReceiveCount": str(MAX_RECEIVE_COUNT)},
    )
    with LocalStack(options) as stack:
        demo, broken = create_integrations(stack, load_integrations(config))
        yield Running(stack, db, demo["id"], broken["id"])


@pytest.fixture(scope="module")
def synced(running: Running) -> Running:
    """The demo events posted over HTTP, in name order, and the queue drained."""
    for path in DEMO_EVENTS:
        status, body = running.http("POST", "/v1/events", path.read_bytes())
        assert (status, body) == (202, {"accepted": 1, "messages": 1, "hook_events": 0}), path.name
    assert running.stack.drain(timeout=15)
    return running


def test_demo_events_end_up_in_sqlite(synced: Running) -> None:
    members = synced.rows("SELECT segId, clientId FROM mysegment ORDER BY clientId")
    # d-104 was added, then removed; the apostrophe and the backslash + double quote arrive intact.
    assert members == [(17, "d-101"), (17, "d-102-O'Hara"), (17, 'd-103\\"q')]
    assert synced.rows("SELECT segment_id, name FROM segments") == [(17, "VIP")]
    assert synced.rows("SELECT count(*) FROM mysegment WHERE updated IS NULL") == [(0,)]
    assert synced.stack.queue_depth("SyncDLQ") == 0


def test_stats_count_statements_and_profiles(synced: Running) -> None:
    status, stats = synced.http("GET", f"/v1/integrations/{synced.demo_id}/stats")
    assert status == 200
    assert stats["integration_id"] == synced.demo_id
    assert stats["statements"] >= 3 and stats["profiles"] == 4  # 3 added + 1 removed
    assert (stats["errors"], stats["last_error"]) == (0, None)


def test_the_api_reads_what_the_config_created(running: Running) -> None:
    status, listed = running.http("GET", "/v1/integrations")
    assert status == 200 and {item["id"] for item in listed} == {running.demo_id, running.failing_id}
    status, one = running.http("GET", f"/v1/integrations/{running.demo_id}")
    assert status == 200 and one["name"] == "demo" and one["segment_ids"] == [17]
    assert running.http("GET", "/v1/integrations/nope")[0] == 404


def test_every_call_needs_a_key_and_sees_only_its_accounts_objects(running: Running) -> None:
    assert running.http("GET", "/v1/integrations", account=None) == (401, {"message": "Unauthorized"})
    assert running.http("GET", "/v1/integrations", key="sqk_made_up") == (403, {"message": "Forbidden"})
    event = json.loads(DEMO_EVENTS[0].read_text())
    assert running.http("POST", "/v1/events", event, account=None)[0] == 401
    assert running.http("GET", "/v1/integrations", account=5) == (200, [])
    assert running.http("GET", f"/v1/integrations/{running.demo_id}", account=5)[0] == 404
    status, body = running.http("POST", "/v1/events", event, account=5)
    assert (status, body["errors"][0]["field"]) == (403, "account_id")
    # the API's documentation is public
    assert running.http("GET", "/v1/openapi.json", account=None)[0] == 200


def test_a_bad_event_is_a_422_naming_the_field(running: Running) -> None:
    event = json.loads(DEMO_EVENTS[0].read_text())
    status, body = running.http("POST", "/v1/events", {**event, "type": "segment.renamed"})
    assert status == 422
    assert [error["field"] for error in body["errors"]] == ["type"]
    status, body = running.http("POST", "/v1/events", b"{not json")
    assert status == 422 and body["errors"][0]["field"] == "body"


def test_a_bad_integration_is_a_422_with_line_and_column(running: Running) -> None:
    integration = {**demo_integration(running.db), "templates": {"profiles_added": "x {for", "profiles_removed": "y"}}
    status, body = running.http("POST", "/v1/integrations", integration)
    assert status == 422
    assert body["errors"][0]["field"] == "templates.profiles_added" and "line" in body["errors"][0]


@pytest.mark.parametrize(("method", "path"), [("GET", "/v2/nothing"), ("PUT", "/v1/events"), ("GET", "/")])
def test_unknown_route_is_a_404(running: Running, method: str, path: str) -> None:
    assert running.http(method, path) == (404, {"message": f"no route for {method} {path}"})


def test_a_failing_integration_dead_letters_its_messages_and_reports_the_error(running: Running) -> None:
    # GIVEN an event for the segment whose template names a table that does not exist
    event = {
        **json.loads(DEMO_EVENTS[1].read_text()),
        "id": "evt-broken",
        "segment": {"id": FAILING_SEGMENT, "name": "Broken"},
    }
    assert running.http("POST", "/v1/events", event)[0] == 202
    # WHEN the worker has had it maxReceiveCount times
    assert running.stack.drain(timeout=15)
    # THEN SQS moved it to the dead-letter queue
    dead = running.stack.queue_messages("SyncDLQ")
    assert [queued_event(message["Body"]).id for message in dead] == ["evt-broken"]
    poller = running.stack.pollers["SyncWorkerFunction"]
    assert poller.failures[dead[0]["MessageId"]] == MAX_RECEIVE_COUNT
    # AND the stats carry the database's message, once per attempt
    status, stats = running.http("GET", f"/v1/integrations/{running.failing_id}/stats")
    assert status == 200
    assert stats["errors"] == MAX_RECEIVE_COUNT and stats["statements"] == 0
    assert "no such table: missing_table" in stats["last_error"]


def test_only_one_stack_per_process(running: Running) -> None:
    with pytest.raises(StackError, match="another LocalStack"):
        LocalStack(StackOptions(root=ROOT, port=0)).start()


def test_example_config_is_the_demo_integration() -> None:
    (example,) = load_integrations(ROOT / "examples" / "integrations.yaml")
    assert example.pop("account_id") == 1  # the file names the account; the API takes it from the key
    assert example == demo_integration(Path(".local/demo.sqlite3"))
    check_integration(IntegrationIn.model_validate(example), 1)


def test_the_demo_command_runs_and_exits_zero(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    db.write_text("stale: the demo starts from a fresh file")
    result = subprocess.run(
        [sys.executable, "-m", "sqlsync.local", "--demo", "--port", "0", "--db", str(db), "--batch-window", "0.2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "demo OK" in result.stdout and "d-102-O'Hara" in result.stdout
    assert "SyncWorkerFunction: 3 message(s), 0 failed" in result.stderr
    # the demo hook got the sample click, signed, with its custom_data
    assert "received 1 event(s) in 1 request(s)" in result.stdout and "signatures verified" in result.stdout
    assert '"custom_data": {"email": "ada@example.com", "campaign": "Black Friday"}' in result.stdout
    assert "HookDispatcherFunction: 1 message(s), 0 failed" in result.stderr
    # the tracked customer, then an older import snapshot: the import adds the city, keeps the tracked name
    assert "succeeded, 2 row(s) imported, 1 failed" in result.stdout
    assert "row 3 (line 4), column vek: age: not a number: 'forty'" in result.stdout
    assert "ImporterFunction: 1 message(s), 0 failed" in result.stderr
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("SELECT count(*) FROM mysegment").fetchone() == (3,)
