"""Hook delivery throughput: activity events per second through the hook's filters, custom_data and signed
HTTP batches to a local receiver, beside a bare urllib3 loop posting the same batches.

Ours is the real path, both halves: ingest's fan-out (`HookFanout.plan`: the hook's event-type and
campaign filters drop a known share, each passing event's body is rendered into hook-queue messages), then
`HookDispatcher.process` over those messages in invocations of the hook dispatcher's BatchSize (read from
template.yaml), with the HttpSender `sender_for` builds (signed, address-checked), in-memory stats, and
in-memory retry and dead-letter queues that must stay empty. Parsing the POST /v1/events request and SQS
itself are left out: the events start as ActivityEvent objects, the messages go to the dispatcher directly.

The two halves are separate functions (ingest, hook dispatcher) with SQS between them: deployed, they run at
the same time, each on its own CPU, and a stream of events goes through at the rate of the slower one. That
is the figure compared with the bare loop: each half is timed on its own (one after the other, on one
thread), and ours is the events delivered over the longer of the two times. The notes also give each half's
rate and both halves back to back on one CPU, which a deployment never has to do.

The baseline is urllib3's PoolManager (the client HttpSender uses, same pool settings and timeout) posting
each batch as the compact JSON array the sender makes, serialized in the loop, with the same Content-Type:
no filtering, no queue bodies, no custom_data, no signing. The event objects it posts are made with
`event_body` before any clock runs. Both sides must deliver the same bytes, batch by batch, to the receiver,
else the comparison is void. Rates count the events the receiver got; the events ours filtered out cost it
time and do not count.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import BenchmarkError, Options, Row, Target, pick
from sqlsync.hooks.delivery import DeliveryResult, Outgoing, Sender
from sqlsync.hooks.dispatch import HookDispatcher, stats_key
from sqlsync.hooks.fanout import HookFanout
from sqlsync.hooks.http import new_signing_secret
from sqlsync.hooks.message import event_body, outgoing
from sqlsync.hooks.senders import sender_for
from sqlsync.hooks.wire import MAX_MESSAGE_EVENTS, decode
from sqlsync.models.events import Database, Profile
from sqlsync.models.hooks import (
    ActivityEvent,
    Campaign,
    CustomDataSpec,
    Hook,
    HookEventType,
    HookFilters,
    HttpDestination,
    Message,
)
from sqlsync.store.memory import InMemoryStatsStore
from sqlsync.sync.queue import InMemorySink, QueueMessage

if TYPE_CHECKING:
    from urllib3 import PoolManager

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = 1
CAMPAIGN_ID = 77
OTHER_CAMPAIGN_ID = 78
TARGET_RATIO = 0.8
HOOK_BATCH_SIZE = 100  # events per request: the HttpDestination default
DEFAULT_MESSAGES_PER_INVOCATION = 100  # the hook dispatcher's BatchSize in template.yaml, if it cannot be read
TIMEOUT_SECONDS = 10.0  # HttpDestination's default timeout, for both sides
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Workload:
    events: int = 20_000
    other_type_every: int = 10  # every 10th event is an unsubscribe: not one of the hook's event types
    other_campaign_every: int = 10  # and every 10th of the rest belongs to a campaign the filter leaves out
    batch_size: int = HOOK_BATCH_SIZE
    messages_per_invocation: int = 0  # 0: template.yaml's BatchSize of the hook dispatcher

    @staticmethod
    def for_options(options: Options) -> Workload:
        return Workload(events=10_000 if options.quick else 20_000)


@dataclass
class Prepared:
    """Inputs made before any clock runs."""

    hook: Hook
    events: list[tuple[int, ActivityEvent]]
    batches: list[list[dict[str, Any]]]
    """What the baseline posts: the passing events' bodies, cut as the dispatcher cuts them."""
    payloads: list[bytes]
    """The bytes the receiver must get, request by request, from either side."""
    delivered: int
    messages_per_invocation: int
    notes: list[str] = field(default_factory=list)


@dataclass
class OursRun:
    seconds: float
    fanout_seconds: float
    send_seconds: float

    @property
    def dispatch_seconds(self) -> float:
        """The dispatcher's half: reading the messages, grouping, stats and sending."""
        return self.seconds - self.fanout_seconds

    @property
    def stage_seconds(self) -> float:
        """The slower half's time: what a stream of these events takes through the two functions at once."""
        return max(self.fanout_seconds, self.dispatch_seconds)


def messages_per_invocation() -> int:
    """The hook dispatcher's BatchSize as template.yaml deploys it."""
    try:
        from sqlsync.local.cfn import describe, load_template

        wiring = describe(load_template(ROOT / "template.yaml"))
    except Exception:  # a broken template must not hide the benchmark; fall back to the value it had
        return DEFAULT_MESSAGES_PER_INVOCATION
    for spec in wiring.functions.values():
        if spec.handler_file.as_posix().endswith("hook_dispatcher/app.py") and spec.sqs_source is not None:
            return spec.sqs_source.batch_size
    return DEFAULT_MESSAGES_PER_INVOCATION


# The receiver ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds where DNS is slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class Receiver:
    """A fast local endpoint: HTTP/1.1 keep-alive, reads each body and answers 200 at once; keeps the bodies
    (and whether they were signed) to be checked after the clock stops."""

    def __init__(self) -> None:
        self._requests: list[tuple[bool, bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length")
                if length is None:
                    self._answer(411, b"length required")
                    return
                body = self.rfile.read(int(length))
                with receiver._lock:
                    receiver._requests.append(("webhook-signature" in self.headers, body))
                self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response_only(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/in"
        self._thread = threading.Thread(target=self.server.serve_forever, name="hook-receiver", daemon=True)
        self._thread.start()

    def take(self) -> list[tuple[bool, bytes]]:
        """The requests received since the last take, in order."""
        with self._lock:
            taken, self._requests = self._requests, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def check_received(who: str, received: Sequence[tuple[bool, bytes]], prepared: Prepared, signed: bool) -> None:
    """Fail loudly unless the receiver got every event once, in the expected requests, signed or not."""
    events = sum(len(json.loads(body)) for _, body in received)
    if events != prepared.delivered or len(received) != len(prepared.payloads):
        raise BenchmarkError(
            f"{who}: the receiver got {events:,} events in {len(received)} requests, "
            f"{prepared.delivered:,} in {len(prepared.payloads)} expected"
        )
    if [body for _, body in received] != prepared.payloads:
        raise BenchmarkError(f"{who}: the receiver got other bodies than the batches expected; the comparison is void")
    if any(was_signed != signed for was_signed, _ in received):
        raise BenchmarkError(f"{who}: requests {'without' if signed else 'with'} a webhook-signature")


# The workload ---------------------------------------------------------------------------------------------


def make_hook(url: str, batch_size: int) -> Hook:
    """Clicks and opens of one campaign, with two profile fields and a few placeholders in custom_data."""
    now = datetime.now(UTC)
    return Hook(
        id="hook-bench",
        account_id=ACCOUNT_ID,
        name="bench",
        event_types=[HookEventType.CLICK, HookEventType.OPEN],
        filters=HookFilters(campaign_ids=[CAMPAIGN_ID]),
        custom_data=CustomDataSpec(
            profile_fields=["email", "first_name"],
            values={
                "source": "sqlsync",
                "when": "{{event_date}}",
                "campaign": "{{campaign_name}} ({{campaign_subid}})",
            },
        ),
        destination=HttpDestination(url=url, batch_size=batch_size, timeout_seconds=TIMEOUT_SECONDS),
        created_at=now,
        updated_at=now,
    )


def make_events(workload: Workload) -> list[ActivityEvent]:
    """Clicks and opens with a profile, campaign, message and event data; a known share filtered out."""
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    database = Database(id=3, name="customers")
    events: list[ActivityEvent] = []
    for i in range(workload.events):
        if i % workload.other_type_every == 0:
            kind = HookEventType.UNSUBSCRIBED
        else:
            kind = HookEventType.CLICK if i % 2 else HookEventType.OPEN
        other = i % workload.other_campaign_every == 1
        campaign_id = OTHER_CAMPAIGN_ID if other else CAMPAIGN_ID
        events.append(
            ActivityEvent(
                id=f"evt-{i:08d}",
                type=kind,
                account_id=ACCOUNT_ID,
                occurred_at=start + timedelta(milliseconds=i),
                database=database,
                profile=Profile(
                    id=f"p{i:08d}",
                    fields={
                        "email": f"user{i}@example.com",
                        "first_name": f"Zoë {i}",
                        "city": f"City {i % 50}",
                        "score": i % 1000,
                    },
                ),
                campaign=Campaign(id=campaign_id, name="Black Friday", subid=f"bf-{campaign_id}"),
                message=Message(id=500 + i % 3, name="Offer", subject="Our best offer"),
                event_data=(
                    {"url": f"https://example.com/offer?item={i % 97}", "user_agent": "Mozilla/5.0"}
                    if kind is HookEventType.CLICK
                    else {"user_agent": "Mozilla/5.0"}
                ),
            )
        )
    return events


def _compact(batch: Sequence[dict[str, Any]]) -> bytes:
    """A batch as HttpSender serializes it."""
    return json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def prepare(workload: Workload, url: str) -> Prepared:
    hook = make_hook(url, workload.batch_size)
    events = make_events(workload)
    passing = [event for event in events if hook.passes(event)]
    per_invocation = workload.messages_per_invocation or messages_per_invocation()
    # The dispatcher gets the passing events in invocations of messages (ingest writes a request's events
    # for a hook in messages of MAX_MESSAGE_EVENTS), and cuts each invocation into requests of batch_size.
    batches: list[list[dict[str, Any]]] = []
    per_invocation_events = per_invocation * MAX_MESSAGE_EVENTS
    for first in range(0, len(passing), per_invocation_events):
        invocation = passing[first : first + per_invocation_events]
        for start in range(0, len(invocation), workload.batch_size):
            batches.append([event_body(hook, event) for event in invocation[start : start + workload.batch_size]])
    filtered = len(events) - len(passing)
    note = (
        f"{len(events):,} activity events, {filtered:,} filtered out (event type or campaign) -> "
        f"{len(passing):,} delivered in {len(batches)} POSTs of <= {workload.batch_size}; "
        f"{per_invocation} hook-queue messages of <= {MAX_MESSAGE_EVENTS} events per dispatcher invocation"
    )
    return Prepared(
        hook=hook,
        events=list(enumerate(events)),
        batches=batches,
        payloads=[_compact(batch) for batch in batches],
        delivered=len(passing),
        messages_per_invocation=per_invocation,
        notes=[note],
    )


# The two sides --------------------------------------------------------------------------------------------


class TimedSender:
    """The real sender, with the time spent in it summed (one clock pair per request)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.seconds = 0.0

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        started = time.perf_counter()
        try:
            return self.sender.send(batch)
        finally:
            self.seconds += time.perf_counter() - started

    def close(self) -> None:
        self.sender.close()


def run_ours(prepared: Prepared, sender: Sender) -> OursRun:
    """Fan-out then dispatch over all events; fail loudly unless every passing event was sent, once."""
    hook = prepared.hook
    hooks = (hook,)
    fanout = HookFanout(hooks_of=lambda account_id: hooks, sink=InMemorySink())
    retries, dead_letters, stats = InMemorySink(), InMemorySink(), InMemoryStatsStore()
    timed = TimedSender(sender)
    dispatcher = HookDispatcher(
        hooks={hook.id: hook}.get,
        senders=lambda _: timed,
        stats=stats,
        retries=retries,
        dead_letters=dead_letters,
    )
    per_invocation = prepared.messages_per_invocation
    failed: set[str] = set()
    sent = retried = dead = dropped = 0

    started = time.perf_counter()
    bodies = fanout.plan(prepared.events, batch=True).bodies
    fanned_out = time.perf_counter()
    messages = [QueueMessage(f"msg-{number:08d}", body) for number, body in enumerate(bodies)]
    for first in range(0, len(messages), per_invocation):
        report = dispatcher.process(messages[first : first + per_invocation])
        failed.update(report.failed_message_ids)
        sent += report.sent
        retried += report.retried
        dead += report.dead_lettered
        dropped += report.dropped
    elapsed = time.perf_counter() - started

    queued = sum(len(decode(body).events) for body in bodies)
    if queued != prepared.delivered:
        raise BenchmarkError(f"the fan-out queued {queued:,} events, {prepared.delivered:,} pass the hook's filters")
    if failed or retried or dead or dropped or retries.bodies or dead_letters.bodies:
        raise BenchmarkError(
            f"ours: {len(failed)} failed, {retried} retried, {dead} dead-lettered, {dropped} dropped; "
            f"first given back: {(dead_letters.bodies or retries.bodies or [''])[0][:300]}"
        )
    if sent != prepared.delivered:
        raise BenchmarkError(f"ours: the dispatcher reported {sent:,} events sent, {prepared.delivered:,} expected")
    counted = sum(bucket.profiles for bucket in stats.query(stats_key(hook.id), *EVER))
    if counted != sent:
        raise BenchmarkError(f"ours: the hook's stats count {counted:,} events sent, {sent:,} expected")
    return OursRun(elapsed, fanned_out - started, timed.seconds)


def bare_client() -> PoolManager:
    """urllib3 as HttpSender sets it up: small pool, keep-alive, no retries."""
    import urllib3

    return urllib3.PoolManager(num_pools=4, maxsize=1, block=False, retries=False)


def run_bare(pool: PoolManager, url: str, batches: Sequence[Sequence[dict[str, Any]]]) -> float:
    """The bare loop: serialize each batch compactly and POST it; fail loudly on any answer but 200."""
    import urllib3

    timeout = urllib3.Timeout(total=TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/json"}
    statuses: list[int] = []
    started = time.perf_counter()
    for batch in batches:
        payload = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = pool.request("POST", url, body=payload, headers=headers, timeout=timeout, redirect=False)
        statuses.append(response.status)
    elapsed = time.perf_counter() - started
    refused = [status for status in statuses if status != 200]
    if refused:
        raise BenchmarkError(f"bare loop: {len(refused)} requests answered {sorted(set(refused))}")
    return elapsed


def _warm(receiver: Receiver, hook: Hook, sender: Sender, pool: PoolManager) -> None:
    """One request each before the clocks: connections open, lazy imports done (a warm Lambda's state)."""
    event = ActivityEvent(
        id="warm-up",
        type=HookEventType.CLICK,
        account_id=ACCOUNT_ID,
        occurred_at=datetime.now(UTC),
        campaign=Campaign(id=CAMPAIGN_ID),
    )
    result = sender.send([outgoing(hook, event)])
    response = pool.request("POST", receiver.url, body=b"[]", headers={"Content-Type": "application/json"})
    receiver.take()
    if not result.ok or response.status != 200:
        raise BenchmarkError(f"the local receiver did not answer: {result.detail or response.status}")


# The row --------------------------------------------------------------------------------------------------


def run(options: Options, workload: Workload | None = None) -> list[Row]:
    workload = workload or Workload.for_options(options)
    receiver = Receiver()
    sender: Sender | None = None
    pool: PoolManager | None = None
    try:
        prepared = prepare(workload, receiver.url)
        sender = sender_for(prepared.hook, {"signing_secret": new_signing_secret()}, allow_private=True)
        pool = bare_client()
        _warm(receiver, prepared.hook, sender, pool)
        ours_runs: list[OursRun] = []
        bare_seconds: list[float] = []
        for _ in range(options.runs(5)):
            ours_runs.append(run_ours(prepared, sender))
            check_received("ours", receiver.take(), prepared, signed=True)
            bare_seconds.append(run_bare(pool, receiver.url, prepared.batches))
            check_received("bare loop", receiver.take(), prepared, signed=False)
    finally:
        if sender is not None:
            sender.close()
        if pool is not None:
            pool.clear()
        receiver.close()
    return [_row(prepared, ours_runs, bare_seconds, options)]


def _row(prepared: Prepared, ours_runs: Sequence[OursRun], bare_seconds: Sequence[float], options: Options) -> Row:
    delivered = prepared.delivered
    ours_rates = [delivered / run.stage_seconds for run in ours_runs]
    bare_rates = [delivered / seconds for seconds in bare_seconds]
    total = sum(run.seconds for run in ours_runs)
    fanout = sum(run.fanout_seconds for run in ours_runs)
    send = sum(run.send_seconds for run in ours_runs)
    dispatch = total - fanout
    bare = sum(bare_seconds)
    events_in = len(prepared.events) * len(ours_runs)
    sent = delivered * len(ours_runs)

    def per_event(seconds: float) -> str:
        return f"{seconds / sent * 1e6:.1f} us/event"

    notes = [
        *prepared.notes,
        "rates count delivered events; ours also filters the others out, the bare loop posts prepared bodies",
        "ours: the slower of its two halves, each timed alone (deployed, they are two functions running at once)",
        f"ingest's fan-out (filters, custom_data, bodies rendered, messages written): {per_event(fanout)} "
        f"({fanout / events_in * 1e6:.1f} per event in), ratio {bare / fanout:.2f} to the bare loop",
        f"hook dispatcher (read messages, group, stats, then HttpSender.send): {per_event(dispatch)}, ratio "
        f"{bare / dispatch:.2f}; of which send (join, sign, POST) {per_event(send)}; bare loop {per_event(bare)}",
        f"both halves back to back on one CPU: {sent / total:,.0f} events/s, ratio {bare / total:.2f}",
        f"runs: {len(ours_runs)}, ours {_spread(ours_rates)}, bare {_spread(bare_rates)} events/s",
    ]
    return Row(
        name="hooks http delivery",
        ours=pick(ours_rates, options.statistic, higher_is_better=True),
        baseline=pick(bare_rates, options.statistic, higher_is_better=True),
        unit="events/s",
        baseline_name="bare urllib3 loop",
        target=Target("ratio>=", TARGET_RATIO),
        notes=notes,
    )


def _spread(rates: Sequence[float]) -> str:
    return "/".join(f"{rate:,.0f}" for rate in rates)
