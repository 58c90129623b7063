"""Sync throughput, the headline: profiles per second from SQS message bodies to committed rows.

Ours: SyncWorker.process over the queue bodies that sync.wire.to_messages makes, fed in invocations of
the event-source mapping's BatchSize (read from template.yaml), into a real PostgreSQL / MariaDB through
the vendor's multi-row INSERT template. Baseline: the raw driver (pg8000 / pymysql, no SQLAlchemy)
running the same multi-row INSERT ... upsert with its own parameter binding, one transaction per chunk.
Both write the same rows into fresh tables of one scratch database, alternating run by run.
"""

from __future__ import annotations

import socket
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import BenchmarkError, Options, Row, Target, pick, seconds
from bench.databases import Server, count_rows, execute, scratch_database, servers
from sqlsync.connectors import target_for
from sqlsync.models.events import EventType, Profile, Segment, SegmentEvent
from sqlsync.models.integrations import Integration, Templates
from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync.queue import QueueMessage
from sqlsync.sync.wire import to_messages
from sqlsync.sync.worker import SyncWorker

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = 1
SEGMENT_ID = 4242
TARGET_RATIO = 0.8
DEFAULT_MESSAGES_PER_INVOCATION = 10  # Lambda's default BatchSize for SQS, when template.yaml says nothing


@dataclass(frozen=True)
class Workload:
    profiles: int = 100_000
    profiles_per_event: int = 500
    batch_size: int = 500  # the integration's chunk size, and the baseline's rows per statement
    messages_per_invocation: int = 0  # 0: template.yaml's BatchSize of the sync worker

    @staticmethod
    def for_options(options: Options) -> Workload:
        return Workload(profiles=10_000 if options.quick else 100_000)


@dataclass
class OursRun:
    seconds: float
    ledger_calls: Counter[str]
    stats_calls: Counter[str]
    invocations: int
    statements: int


@dataclass
class Prepared:
    """Inputs made before any clock runs."""

    messages: list[QueueMessage]
    rows: list[tuple[int, str]]
    messages_per_invocation: int
    notes: list[str] = field(default_factory=list)


def messages_per_invocation() -> int:
    """The sync worker's BatchSize as template.yaml deploys it (its parameter default)."""
    try:
        from sqlsync.local.cfn import describe, load_template

        wiring = describe(load_template(ROOT / "template.yaml"))
    except Exception:  # a broken template must not hide the benchmark; fall back to Lambda's default
        return DEFAULT_MESSAGES_PER_INVOCATION
    for spec in wiring.functions.values():
        if spec.handler_file.as_posix().endswith("sync_worker/app.py") and spec.sqs_source is not None:
            return spec.sqs_source.batch_size
    return DEFAULT_MESSAGES_PER_INVOCATION


def make_events(profiles: int, per_event: int) -> list[SegmentEvent]:
    """segment.profiles_added events, each profile with CustomID and three other fields; ids unique."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events: list[SegmentEvent] = []
    for number, first in enumerate(range(0, profiles, per_event)):
        members = [
            Profile(
                id=f"p{i:08d}",
                fields={"CustomID": f"c{i:08d}", "email": f"user{i}@example.com", "name": f"O'Brien {i}", "score": i},
            )
            for i in range(first, min(profiles, first + per_event))
        ]
        events.append(
            SegmentEvent(
                id=f"evt-{number:06d}",
                type=EventType.PROFILES_ADDED,
                account_id=ACCOUNT_ID,
                occurred_at=start + timedelta(milliseconds=number),
                segment=Segment(id=SEGMENT_ID, name="bench"),
                profiles=members,
            )
        )
    return events


def prepare(workload: Workload) -> Prepared:
    events = make_events(workload.profiles, workload.profiles_per_event)
    bodies = [body for event in events for body in to_messages(event)]
    messages = [QueueMessage(f"msg-{number:06d}", body) for number, body in enumerate(bodies)]
    rows = [(SEGMENT_ID, str(p.fields["CustomID"])) for event in events for p in event.profiles]
    per_invocation = workload.messages_per_invocation or messages_per_invocation()
    note = (
        f"{workload.profiles:,} profiles in {len(events)} events -> {len(messages)} queue messages, "
        f"{per_invocation} messages per worker invocation, chunks of {workload.batch_size}"
    )
    return Prepared(messages, rows, per_invocation, [note])


def make_integration(server: Server, database: str, batch_size: int) -> Integration:
    now = datetime.now(UTC)
    return Integration(
        id=f"bench-{server.name}",
        name=f"bench {server.name}",
        account_id=ACCOUNT_ID,
        target_url=server.sqlalchemy_url(database),
        segment_ids=[SEGMENT_ID],
        batch_size=batch_size,
        templates=Templates(
            profiles_added=server.vendor_template(),
            profiles_removed='DELETE FROM mysegment WHERE segId = {segment_id} AND clientId IN ({batch_in "CustomID"})',
        ),
        created_at=now,
        updated_at=now,
    )


def run_ours(integration: Integration, messages: Sequence[QueueMessage], per_invocation: int) -> OursRun:
    """Time the worker over all messages; fail loudly unless every profile committed."""
    ledger, stats = InMemoryLedgerStore(), InMemoryStatsStore()
    worker = SyncWorker(integrations=lambda account_id: [integration], ledger=ledger, stats=stats)
    failed: set[str] = set()
    errors: list[str] = []
    profiles = statements = invocations = skipped = 0

    def process_all() -> None:
        nonlocal profiles, statements, invocations, skipped
        for start in range(0, len(messages), per_invocation):
            report = worker.process(messages[start : start + per_invocation])
            failed.update(report.failed_message_ids)
            for found in report.errors_by_integration.values():
                errors.extend(found)
            profiles += report.profiles
            statements += report.statements
            skipped += report.skipped
            invocations += 1

    elapsed = seconds(process_all)
    if failed or errors:
        raise BenchmarkError(f"{len(failed)} messages failed; first errors: {errors[:3]}")
    if skipped:
        raise BenchmarkError(f"the worker skipped {skipped} profiles of a fresh ledger")
    return OursRun(elapsed, ledger.calls, stats.calls, invocations, statements)


def run_raw(server: Server, database: str, table: str, rows: Sequence[tuple[int, str]], chunk: int) -> float:
    """The raw driver: one multi-row INSERT ... upsert per chunk, bound parameters, one transaction each."""
    connection = server.connect(database)
    try:
        _no_delay(connection)
        cursor = connection.cursor()
        statements: dict[int, str] = {}

        def insert_all() -> None:
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                sql = statements.get(len(part))
                if sql is None:
                    sql = statements[len(part)] = server.raw_insert_sql(table, len(part))
                cursor.execute(sql, [value for row in part for value in row])
                connection.commit()

        return seconds(insert_all)
    finally:
        connection.close()


def _no_delay(connection: Any) -> None:
    """Turn Nagle off on pg8000's socket (pymysql does it itself).

    pg8000 sends Parse/Describe, then Bind as separate writes; with Nagle on and delayed ACKs each bound
    statement stalls about 40 ms, which would make the baseline look several times slower than the
    driver can be."""
    sock = getattr(connection, "_usock", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _fresh_table(server: Server, database: str, table: str) -> None:
    execute(server, database, f"DROP TABLE IF EXISTS {table}", server.create_table_sql(table))


def _check_count(server: Server, database: str, table: str, expected: int) -> None:
    found = count_rows(server, database, table)
    if found != expected:
        raise BenchmarkError(f"{server.name}.{table}: {found:,} rows committed, {expected:,} expected")


def bench_server(server: Server, workload: Workload, prepared: Prepared, options: Options) -> Row:
    ours_rates: list[float] = []
    raw_rates: list[float] = []
    last: OursRun | None = None
    total = len(prepared.rows)
    with scratch_database(server) as database:
        integration = make_integration(server, database, workload.batch_size)
        target_for(integration.target_url).dialect  # noqa: B018  # warm: connect and read the session settings
        for _ in range(options.runs(5)):
            _fresh_table(server, database, "mysegment")
            last = run_ours(integration, prepared.messages, prepared.messages_per_invocation)
            _check_count(server, database, "mysegment", total)
            ours_rates.append(total / last.seconds)
            _fresh_table(server, database, "mysegment_raw")
            raw_seconds = run_raw(server, database, "mysegment_raw", prepared.rows, workload.batch_size)
            _check_count(server, database, "mysegment_raw", total)
            raw_rates.append(total / raw_seconds)
    assert last is not None
    ledger_total = sum(last.ledger_calls.values())
    notes = [
        *prepared.notes,
        "raw pg8000 runs with TCP_NODELAY: without it each bound 500-row statement stalls ~40 ms (Nagle)",
        f"ledger DynamoDB calls: {ledger_total / total:.3f} per profile ({_calls(last.ledger_calls)})",
        f"stats DynamoDB calls: {sum(last.stats_calls.values())} for {last.invocations} invocations "
        f"({_calls(last.stats_calls)})",
        f"statements: {last.statements} ours; runs: {len(ours_rates)}, "
        f"ours {_spread(ours_rates)}, raw {_spread(raw_rates)} profiles/s; "
        f"ratio of the medians {statistics.median(ours_rates) / statistics.median(raw_rates):.2f}",
    ]
    return Row(
        name=f"sync throughput {server.name}",
        ours=pick(ours_rates, options.statistic, higher_is_better=True),
        baseline=pick(raw_rates, options.statistic, higher_is_better=True),
        unit="profiles/s",
        baseline_name="raw " + ("pg8000" if server.name == "postgresql" else "pymysql"),
        target=Target("ratio>=", TARGET_RATIO),
        notes=notes if server.name == "postgresql" else notes[2:],
    )


def _calls(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items())) or "none"


def _spread(rates: Sequence[float]) -> str:
    return "/".join(f"{rate:,.0f}" for rate in rates)


def run(options: Options, workload: Workload | None = None, only_servers: Sequence[str] = ()) -> list[Row]:
    workload = workload or Workload.for_options(options)
    prepared = prepare(workload)
    chosen = [server for server in servers() if not only_servers or server.name in only_servers]
    return [bench_server(server, workload, prepared, options) for server in chosen]
