"""Where the sync worker's time goes: each phase of SyncWorker.process timed on its own (--profile).

The phases are run with the worker's public pieces on the same workload as the throughput benchmark:
parsing the queue bodies, the ledger claims (through the worker's thread pool, and serially for
comparison), rendering, executing on the target, and the post-commit re-read of the ledger. The sum is
printed beside the whole worker run, and a cProfile of the whole run (main thread) follows.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import Options
from bench.databases import Server, execute, scratch_database, servers
from bench.sync_throughput import SEGMENT_ID, Prepared, Workload, make_integration, prepare, run_ours
from sqlsync.connectors import Target, target_for
from sqlsync.models.integrations import Integration
from sqlsync.store.memory import InMemoryLedgerStore
from sqlsync.sync.wire import QueuedEvent, decode
from sqlsync.sync.worker import Change, event_context
from sqlsync.template import compile_template


class _Phases:
    """Seconds per phase, summed over the workload: `with phases("render"): ...`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def _changes(events: list[tuple[QueuedEvent, str]]) -> list[Change]:
    pending: dict[str, Change] = {}
    for queued, message_id in sorted(events, key=lambda item: item[0].version):
        for profile_id, fields in zip(queued.profile_ids, queued.fields(), strict=True):
            pending[profile_id] = Change(profile_id, queued.version, "in", fields, message_id, queued.event)
    return list(pending.values())


def _read(body: str) -> QueuedEvent:
    queued = decode(body)
    assert isinstance(queued, QueuedEvent)
    return queued


def phases_of(integration: Integration, prepared: Prepared, target: Target) -> dict[str, float]:
    """Each phase of the worker's path over the whole workload, in seconds."""
    phase = _Phases()
    ledger = InMemoryLedgerStore()
    template = compile_template(integration.templates.profiles_added, target.dialect, integration.name)
    per_call = prepared.messages_per_invocation
    for start in range(0, len(prepared.messages), per_call):
        batch = prepared.messages[start : start + per_call]
        with phase("read envelopes (pydantic)"):
            events = [(_read(message.body), message.message_id) for message in batch]
        with phase("read fields, collapse to changes"):
            changes = _changes(events)
        with phase("ledger get_cleared"):
            ledger.get_cleared(integration.id, SEGMENT_ID)
        with phase("ledger claims"):
            claims = ledger.claim_many(integration.id, SEGMENT_ID, changes)
            claimed = [change for change, newer in zip(changes, claims, strict=True) if newer is None]
        for first in range(0, len(claimed), integration.batch_size):
            chunk = claimed[first : first + integration.batch_size]
            with phase("build leads"):
                newest = max(chunk, key=lambda change: change.version).event
                leads = [{**change.fields, "_id": change.profile_id} for change in chunk]
            with phase("render"):
                statements = template.render(event_context(newest), leads)
            with phase("execute (SQLAlchemy + DB)"):
                target.execute(statements)
            with phase("reconcile re-read (get_versions)"):
                ledger.get_versions(integration.id, SEGMENT_ID, [change.profile_id for change in chunk])
                ledger.get_cleared(integration.id, SEGMENT_ID)
    return phase.seconds


def profile_server(server: Server, workload: Workload, prepared: Prepared) -> str:
    total = len(prepared.rows)
    with scratch_database(server) as database:
        integration = make_integration(server, database, workload.batch_size)
        target = target_for(integration.target_url)
        target.dialect  # noqa: B018  # warm: connect and read the session settings
        execute(server, database, server.create_table_sql("mysegment"))
        whole = run_ours(integration, prepared.messages, prepared.messages_per_invocation).seconds
        execute(server, database, "DROP TABLE mysegment", server.create_table_sql("mysegment"))
        phases = phases_of(integration, prepared, target)
        execute(server, database, "DROP TABLE mysegment", server.create_table_sql("mysegment"))
        profiler = cProfile.Profile()
        profiler.enable()
        run_ours(integration, prepared.messages, prepared.messages_per_invocation)
        profiler.disable()
    counted = sum(seconds for name, seconds in phases.items() if not name.startswith(" "))
    lines = [
        f"== {server.name}: {total:,} profiles; whole worker run {whole:.2f} s ({total / whole:,.0f} profiles/s)",
        f"{'phase':34} {'seconds':>8} {'us/profile':>11} {'share':>6}",
    ]
    for name, seconds in phases.items():
        share = "" if name.startswith(" ") else f"{seconds / counted:6.1%}"
        lines.append(f"{name:34} {seconds:8.3f} {seconds / total * 1e6:11.1f} {share:>6}")
    lines.append(f"{'sum of phases':34} {counted:8.3f} {counted / total * 1e6:11.1f}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    lines += ["", "cProfile of a whole run (main thread only; pool threads' work shows as waiting):", out.getvalue()]
    return "\n".join(lines)


def main(options: Options) -> None:
    workload = Workload.for_options(options)
    prepared = prepare(workload)
    for server in servers():
        print(profile_server(server, workload, prepared), flush=True)
