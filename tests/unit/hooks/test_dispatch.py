"""The dispatcher with scripted destinations: batches per hook, retries, dead letters, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlsync.connectors import TargetError
from sqlsync.datasources.exceptions import UnknownDataSourceError
from sqlsync.hooks.delivery import DeliveryResult, Outgoing
from sqlsync.hooks.dispatch import HookDispatcher, stats_key
from sqlsync.hooks.wire import Queued, decode, encode
from sqlsync.models.events import Profile
from sqlsync.models.hooks import (
    ActivityEvent,
    Hook,
    HookDelivery,
    HookEventType,
    HttpDestination,
    RabbitMQQueueDestination,
)
from sqlsync.store.memory import InMemoryContentStore, InMemoryStatsStore
from sqlsync.sync.exceptions import EnqueueError
from sqlsync.sync.queue import InMemorySink, QueueMessage

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class Scripted:
    """A destination answering from a script, one DeliveryResult per send (then success); keeps what it got."""

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.batches: list[list[str]] = []
        self.bodies: dict[str, dict[str, Any]] = {}
        self.sent_bodies: list[str] = []

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        self.batches.append([item.event_id for item in batch])
        self.bodies.update({item.event_id: json.loads(item.json) for item in batch})
        self.sent_bodies.extend(item.json for item in batch)
        if self.answers:
            return self.answers.pop(0)
        return DeliveryResult.success(len(batch))

    def close(self) -> None:
        pass


class Slow(Scripted):
    """Each send takes 5 s of a clock the test keeps."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        self.clock[0] += 5
        return super().send(batch)


class Refusing:
    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        raise EnqueueError("queue unavailable")


def a_hook(hook_id: str = "h-1", batch_size: int = 2, kind: str = "http", active: bool = True) -> Hook:
    destination = (
        HttpDestination(url="https://example.com/in", batch_size=batch_size)
        if kind == "http"
        else RabbitMQQueueDestination(url="amqp://127.0.0.1/", queue="q")
    )
    return Hook(
        id=hook_id,
        account_id=1,
        name=hook_id,
        active=active,
        event_types=["open"],
        destination=destination,
        created_at=AT,
        updated_at=AT,
    )


def queued(n: int, **changes: Any) -> Queued:
    body = json.dumps({"event_id": f"e{n}", "event_type": "open", "profile_id": f"p{n}"})
    return Queued(f"e{n}", f"p{n}", body)._replace(**changes)


def deliveries(hook_id: str, count: int, attempt: int = 1, first: int = 0, per_message: int = 1) -> list[QueueMessage]:
    """Messages of `per_message` events each, e<first>... in order; message ids m-<hook>-<first event>."""
    return [
        QueueMessage(
            f"m-{hook_id}-{start}",
            encode(hook_id, [queued(n) for n in range(start, min(start + per_message, first + count))], None, attempt),
        )
        for start in range(first, first + count, per_message)
    ]


class Requeued(NamedTuple):
    event_id: str
    attempt: int
    last_error: str | None
    queued_at: float | None
    data_sources: list[tuple[str, str]]
    body: str


def dispatcher(
    hooks: dict[str, Hook], senders: dict[str, Scripted], **options: object
) -> tuple[HookDispatcher, InMemorySink, InMemorySink, InMemoryStatsStore]:
    retries, dead, stats = InMemorySink(), InMemorySink(), InMemoryStatsStore()
    built = HookDispatcher(
        hooks=hooks.get,
        senders=lambda hook: senders[hook.id],
        stats=stats,
        retries=options.pop("retries", retries),  # type: ignore[arg-type]
        dead_letters=options.pop("dead_letters", dead),  # type: ignore[arg-type]
        retry_times=4,
        retry_period_seconds=15,
        clock=lambda: AT,
        **options,  # type: ignore[arg-type]
    )
    return built, retries, dead, stats


def parsed(sink: InMemorySink) -> list[Requeued]:
    """The events of what was queued, in order; each keeps its body exactly as it came."""
    found: list[Requeued] = []
    for text in sink.bodies:
        message = decode(text)
        for event in message.events:
            assert json.loads(event.body)["event_id"] == event.event_id
            found.append(
                Requeued(
                    event.event_id,
                    message.attempt,
                    message.last_error,
                    message.queued_at,
                    [tuple(pair) for pair in event.data_sources],  # type: ignore[misc]
                    event.body,
                )
            )
    return found


def test_events_go_in_order_in_requests_of_batch_size_per_hook() -> None:
    http, broker = Scripted(), Scripted()
    run, retries, dead, stats = dispatcher(
        {"h-1": a_hook(), "h-2": a_hook("h-2", kind="rabbitmq")}, {"h-1": http, "h-2": broker}
    )

    report = run.process(deliveries("h-1", 5) + deliveries("h-2", 3))

    assert http.batches == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert broker.batches == [["e0", "e1", "e2"]]  # a broker takes the batch in one publish session
    assert (report.sent, report.retried, report.dead_lettered, report.failed_message_ids) == (8, 0, 0, set())
    assert retries.bodies == dead.bodies == []
    [bucket] = stats.query(stats_key("h-1"), *EVER)
    assert (bucket.statements, bucket.profiles, bucket.retried, bucket.errors) == (3, 5, 0, 0)


def test_a_retryable_failure_requeues_the_rest_delayed_with_the_next_attempt() -> None:
    # GIVEN a receiver that times out on the second request
    http = Scripted(DeliveryResult.success(2), DeliveryResult(ok=False, delivered=0, retryable=True, detail="timeout"))
    run, retries, dead, stats = dispatcher({"h-1": a_hook()}, {"h-1": http})

    report = run.process(deliveries("h-1", 5))

    # THEN the first request counts, the other three events wait for a later attempt (no third request)
    assert http.batches == [["e0", "e1"], ["e2", "e3"]]
    assert (report.sent, report.retried) == (2, 3)
    again = parsed(retries)
    assert [(d.event_id, d.attempt, d.last_error) for d in again] == [(f"e{n}", 2, "timeout") for n in (2, 3, 4)]
    assert retries.delays == [15] and dead.bodies == []  # the three in one message
    [bucket] = stats.query(stats_key("h-1"), *EVER)
    assert (bucket.profiles, bucket.retried, bucket.last_error) == (2, 3, "timeout")


def test_retry_after_longer_than_the_period_is_honoured_up_to_sqs_limit() -> None:
    for asked, delay in ((60.2, 61), (5, 15), (3600, 900)):
        http = Scripted(DeliveryResult(ok=False, delivered=0, retryable=True, detail="HTTP 429", retry_after=asked))
        run, retries, _, _ = dispatcher({"h-1": a_hook()}, {"h-1": http})
        run.process(deliveries("h-1", 1))
        assert retries.delays == [delay]


def test_after_the_last_attempt_and_on_permanent_failures_events_go_to_the_dead_letter_queue() -> None:
    http = Scripted(DeliveryResult(ok=False, delivered=0, retryable=True, detail="HTTP 503"))
    run, retries, dead, stats = dispatcher({"h-1": a_hook()}, {"h-1": http})
    run.process(deliveries("h-1", 2, attempt=4))
    assert retries.bodies == [] and [(d.event_id, d.attempt, d.last_error) for d in parsed(dead)] == [
        ("e0", 4, "HTTP 503"),
        ("e1", 4, "HTTP 503"),
    ]

    rejected = Scripted(DeliveryResult(ok=False, delivered=0, retryable=False, detail="HTTP 400: bad field"))
    run, retries, dead, stats = dispatcher({"h-1": a_hook()}, {"h-1": rejected})
    report = run.process(deliveries("h-1", 3))
    # a permanent failure of one request does not stop the next ones
    assert rejected.batches == [["e0", "e1"], ["e2"]]
    assert (report.sent, report.dead_lettered) == (1, 2)
    assert [d.last_error for d in parsed(dead)] == ["HTTP 400: bad field"] * 2
    [bucket] = stats.query(stats_key("h-1"), *EVER)
    assert (bucket.profiles, bucket.errors, bucket.last_error) == (1, 2, "HTTP 400: bad field")


def test_a_broker_that_took_part_of_a_batch_gets_only_the_rest_again() -> None:
    broker = Scripted(DeliveryResult(ok=False, delivered=2, retryable=True, detail="connection reset"))
    run, retries, _, _ = dispatcher({"h-2": a_hook("h-2", kind="rabbitmq")}, {"h-2": broker})
    report = run.process(deliveries("h-2", 5))
    assert (report.sent, [d.event_id for d in parsed(retries)]) == (2, ["e2", "e3", "e4"])


def test_when_a_retry_cannot_be_queued_the_original_messages_come_back_from_sqs() -> None:
    http = Scripted(DeliveryResult(ok=False, delivered=0, retryable=True, detail="timeout"))
    run, _, _, _ = dispatcher({"h-1": a_hook()}, {"h-1": http}, retries=Refusing())
    report = run.process(deliveries("h-1", 2))
    assert report.failed_message_ids == {"m-h-1-0", "m-h-1-1"}


def test_a_sender_that_raises_is_treated_as_a_timeout() -> None:
    class Broken(Scripted):
        def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
            raise RuntimeError("bug")

    run, retries, _, _ = dispatcher({"h-1": a_hook()}, {"h-1": Broken()})
    run.process(deliveries("h-1", 1))
    assert [d.last_error for d in parsed(retries)] == ["RuntimeError: bug"]


def test_unreadable_messages_go_back_and_events_of_deleted_or_paused_hooks_are_dropped() -> None:
    run, retries, dead, _ = dispatcher({"h-2": a_hook("h-2", active=False)}, {})
    report = run.process([QueueMessage("junk", "{}"), *deliveries("gone", 1), *deliveries("h-2", 2)])
    assert report.failed_message_ids == {"junk"}
    assert (report.dropped, report.sent, retries.bodies, dead.bodies) == (3, 0, [], [])


def test_a_broker_refusing_one_record_loses_only_that_one_and_the_rest_goes_on() -> None:
    # GIVEN a broker that takes e0, refuses e1 (too large), then takes the rest
    broker = Scripted(DeliveryResult(ok=False, delivered=1, retryable=False, detail="record 2 of 4 is too large"))
    run, retries, dead, _ = dispatcher({"h-2": a_hook("h-2", kind="rabbitmq")}, {"h-2": broker})

    report = run.process(deliveries("h-2", 4))

    assert broker.batches == [["e0", "e1", "e2", "e3"], ["e2", "e3"]]
    assert [d.event_id for d in parsed(dead)] == ["e1"] and retries.bodies == []
    assert (report.sent, report.dead_lettered) == (3, 1)


def test_kept_content_is_attached_only_for_hooks_that_include_it_and_only_until_it_expires() -> None:
    from datetime import timedelta

    from sqlsync.hooks.fanout import HookFanout
    from sqlsync.models.hooks import Message

    including = a_hook("h-1").model_copy(update={"include_content": True, "event_types": ["sent", "open"]})
    plain = a_hook("h-2", kind="rabbitmq").model_copy(update={"event_types": ["sent", "open"]})
    contents, queue = InMemoryContentStore(), InMemorySink()
    fanout = HookFanout(
        lambda account: [including, plain], queue, contents, retention=timedelta(hours=72), clock=lambda: AT
    )
    sent = ActivityEvent(
        id="s1",
        type="sent",
        account_id=1,
        occurred_at=AT,
        profile=Profile(id="p1"),
        message=Message(id=9, name="Promo", content={"html": "<p>Hi Zoë</p>"}),
    )
    opened = sent.model_copy(update={"id": "o1", "type": HookEventType.OPEN, "message": Message(id=9)})

    # WHEN ingest plans and sends the two events
    plan = fanout.plan([(0, sent), (1, opened)], batch=True)
    fanout.send(plan)

    # THEN the content is kept aside, never on the queue
    assert "<p>Hi" not in "".join(queue.bodies) and len(queue.bodies) == 2  # a message per hook
    assert contents.calls["PutItem"] == 1

    # AND the including hook gets it on both events, the other hook on neither
    bodies: dict[str, list[dict[str, object]]] = {}

    class Keeping(Scripted):
        def __init__(self, hook_id: str) -> None:
            super().__init__()
            self.hook_id = hook_id

        def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
            bodies[self.hook_id].extend(json.loads(item.json) for item in batch)
            return super().send(batch)

    senders = {"h-1": Keeping("h-1"), "h-2": Keeping("h-2")}
    for now, expected in ((AT + timedelta(hours=71), {"html": "<p>Hi Zoë</p>"}), (AT + timedelta(hours=73), None)):
        bodies = {"h-1": [], "h-2": []}
        run = HookDispatcher(
            hooks={"h-1": including, "h-2": plain}.get,
            senders=lambda hook: senders[hook.id],
            stats=InMemoryStatsStore(),
            retries=InMemorySink(),
            dead_letters=InMemorySink(),
            clock=lambda now=now: now,
            contents=contents,
        )
        run.process([QueueMessage(f"m{n}", body) for n, body in enumerate(queue.bodies)])
        assert [body.get("content") for body in bodies["h-1"]] == [expected, expected]
        assert [body.get("content") for body in bodies["h-2"]] == [None, None]


def test_a_short_batch_waits_up_to_max_wait_then_goes_whatever_its_size() -> None:
    from datetime import timedelta

    waiting = a_hook(batch_size=10).model_copy(
        update={"destination": HttpDestination(url="https://example.com/in", batch_size=10, max_wait_seconds=60)}
    )
    # (a message of one event, queued at AT, then one of two, a second later)
    runs = (([0], AT.timestamp()), ([1, 2], (AT + timedelta(seconds=1)).timestamp()))
    waiting_messages = [
        QueueMessage(
            f"m{n}", encode("h-1", [Queued(f"e{e}", None, json.dumps({"event_id": f"e{e}"})) for e in ids], at)
        )
        for n, (ids, at) in enumerate(runs)
    ]
    for now, sent, deferred_for in (
        (AT + timedelta(seconds=5), [], 55),
        (AT + timedelta(seconds=60), ["e0", "e1", "e2"], None),
    ):
        http, retries = Scripted(), InMemorySink()
        run = HookDispatcher(
            hooks={"h-1": waiting}.get,
            senders=lambda hook, http=http: http,
            stats=InMemoryStatsStore(),
            retries=retries,
            dead_letters=InMemorySink(),
            clock=lambda now=now: now,
        )
        report = run.process(waiting_messages)
        assert [event for batch in http.batches for event in batch] == sent
        if deferred_for is None:
            assert (report.deferred, retries.bodies) == (0, [])
        else:
            # all of it comes back at once, when the oldest has waited 60 s; the same messages, unchanged
            assert (report.deferred, retries.delays, retries.bodies) == (
                3,
                [deferred_for] * 2,
                [m.body for m in waiting_messages],
            )

    # a full batch does not wait
    full = [
        QueueMessage(f"f{n}", message.body.replace('"e0"', f'"f{n}"'))
        for n, message in enumerate(waiting_messages[:1] * 10)
    ]
    http = Scripted()
    HookDispatcher(
        hooks={"h-1": waiting}.get,
        senders=lambda hook: http,
        stats=InMemoryStatsStore(),
        retries=InMemorySink(),
        dead_letters=InMemorySink(),
        clock=lambda: AT,
    ).process(full)
    assert len(http.batches) == 1 and len(http.batches[0]) == 10


def test_statistics_that_cannot_be_recorded_do_not_send_delivered_events_again() -> None:
    from sqlsync.store.base import StatsDelta
    from sqlsync.store.exceptions import StoreError

    class Down(InMemoryStatsStore):
        def add(self, integration_id: str, at: datetime, delta: StatsDelta) -> None:
            raise StoreError("DynamoDB is throttling")

    http = Scripted()
    run = HookDispatcher(
        hooks={"h-1": a_hook()}.get,
        senders=lambda hook: http,
        stats=Down(),
        retries=InMemorySink(),
        dead_letters=InMemorySink(),
        clock=lambda: AT,
    )
    report = run.process(deliveries("h-1", 2))
    assert (report.sent, report.failed_message_ids) == (2, set())


class _Promos:
    """Data-source rows from memory: `promo_codes` answers, `orders` is on a database that is down."""

    def __init__(self) -> None:
        self.queries: list[tuple[int, str, list[str]]] = []

    def lookup(self, account_id: int, name: str, contacts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        self.queries.append((account_id, name, list(contacts)))
        if name == "orders":
            raise TargetError("connection refused", transient=True)
        if name != "promo_codes":
            raise UnknownDataSourceError("no data source of that name in this account (any more)")
        return {contact: [{"code": contact.upper()}] for contact in contacts}


def _asking(number: int, *lookups: tuple[str, str]) -> QueueMessage:
    return QueueMessage(f"m-{number}", encode("h-1", [queued(number, data_sources=list(lookups))], None))


def test_events_asking_for_data_sources_go_with_their_rows_in_json_param() -> None:
    http, promos = Scripted(), _Promos()
    run, retries, dead, stats = dispatcher({"h-1": a_hook(batch_size=10)}, {"h-1": http}, data_sources=promos)
    batch = [
        _asking(0, ("promo_codes", "a@x")),
        _asking(1),
        _asking(2, ("promo_codes", "b@x"), ("orders", "b@x")),
        _asking(3, ("deleted", "a@x")),
        _asking(4, ("promo_codes", "a@x")),
    ]

    report = run.process(batch)

    # THEN the rows go as a JSON text (eSputnik's jsonParam) under the data source's name, one query each
    assert http.batches == [["e0", "e1", "e4"]]
    assert json.loads(http.bodies["e0"]["jsonParam"]) == {"promo_codes": [{"code": "A@X"}]}
    assert "jsonParam" not in http.bodies["e1"]
    assert sorted(promos.queries) == [
        (1, "deleted", ["a@x"]),
        (1, "orders", ["b@x"]),
        (1, "promo_codes", ["a@x", "b@x"]),
    ]
    # AND an event whose database is down waits for a later attempt, as it came (rows are read again then)
    [retried] = parsed(retries)
    assert (retried.event_id, retried.attempt) == ("e2", 2)
    assert retried.last_error == "data source 'orders' could not be read: connection refused"
    assert retried.data_sources == [("promo_codes", "b@x"), ("orders", "b@x")] and "jsonParam" not in retried.body
    # AND one asking for a data source that is gone is given up on, with the reason
    [given_up] = parsed(dead)
    assert given_up.event_id == "e3" and given_up.last_error is not None and "'deleted'" in given_up.last_error
    assert (report.sent, report.retried, report.dead_lettered) == (3, 1, 1)
    [bucket] = stats.query(stats_key("h-1"), *EVER)
    assert (bucket.profiles, bucket.retried, bucket.errors) == (3, 1, 1)


def test_kept_content_and_data_source_rows_go_together() -> None:
    http = Scripted()
    contents = InMemoryContentStore()
    contents.put((1, 9, "p0"), {"html": "<p>hi</p>"}, AT + timedelta(hours=1))
    hook = a_hook(batch_size=10).model_copy(update={"include_content": True})
    run, *_ = dispatcher({"h-1": hook}, {"h-1": http}, data_sources=_Promos(), contents=contents)
    event = queued(0, content_key="1#9#p0", data_sources=[("promo_codes", "a@x")])

    run.process([QueueMessage("m-0", encode("h-1", [event], None))])

    assert http.bodies["e0"]["content"] == {"html": "<p>hi</p>"}
    assert json.loads(http.bodies["e0"]["jsonParam"]) == {"promo_codes": [{"code": "A@X"}]}


# Messages of many events --------------------------------------------------------------------------------


def test_requests_are_cut_across_messages_of_many_events() -> None:
    http = Scripted()
    run, retries, dead, _ = dispatcher({"h-1": a_hook(batch_size=2)}, {"h-1": http})

    report = run.process(deliveries("h-1", 5, per_message=3))

    assert http.batches == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert (report.sent, report.failed_message_ids, retries.bodies, dead.bodies) == (5, set(), [], [])


def test_what_a_failure_leaves_is_requeued_keeping_each_events_attempt_and_queue_time() -> None:
    # GIVEN a message of three first attempts and one of two third attempts, and a second request that times out
    http = Scripted(DeliveryResult.success(2), DeliveryResult(ok=False, delivered=0, retryable=True, detail="timeout"))
    run, retries, dead, _ = dispatcher({"h-1": a_hook(batch_size=2)}, {"h-1": http})
    first = QueueMessage("m-a", encode("h-1", [queued(n) for n in range(3)], 100.0, attempt=1))
    third = QueueMessage("m-b", encode("h-1", [queued(n) for n in range(3, 5)], 200.0, attempt=3))

    report = run.process([first, third])

    # THEN the undelivered events come back as one message per (attempt, queue time), each one attempt further
    assert http.batches == [["e0", "e1"], ["e2", "e3"]]
    assert [(d.event_id, d.attempt, d.queued_at, d.last_error) for d in parsed(retries)] == [
        ("e2", 2, 100.0, "timeout"),
        ("e3", 4, 200.0, "timeout"),
        ("e4", 4, 200.0, "timeout"),
    ]
    assert len(retries.bodies) == 2 and dead.bodies == [] and (report.sent, report.retried) == (2, 3)


def test_when_part_of_a_message_cannot_be_requeued_the_whole_message_comes_back() -> None:
    http = Scripted(DeliveryResult.success(2), DeliveryResult(ok=False, delivered=0, retryable=True, detail="timeout"))
    run, _, _, _ = dispatcher({"h-1": a_hook(batch_size=2)}, {"h-1": http}, retries=Refusing())

    report = run.process(deliveries("h-1", 4, per_message=4))

    # (e0 and e1 come again too: at least once; receivers deduplicate on the event id)
    assert report.failed_message_ids == {"m-h-1-0"} and report.sent == 2


def test_a_message_of_an_earlier_version_is_delivered() -> None:
    http = Scripted()
    run, *_ = dispatcher({"h-1": a_hook()}, {"h-1": http})
    legacy = HookDelivery(hook_id="h-1", event_id="e7", key="p7").model_dump_json() + "\n" + queued(7).body

    report = run.process([QueueMessage("m-old", legacy)])

    assert (http.batches, report.sent, report.failed_message_ids) == ([["e7"]], 1, set())


def test_what_there_is_no_time_left_to_send_goes_back_as_it_came() -> None:
    # GIVEN requests that take 5 s each, a 10 s timeout (so a send may take 11 s) and 40 s until the deadline
    now = [0.0]
    http = Slow(now)
    run, retries, dead, _ = dispatcher({"h-1": a_hook(batch_size=2)}, {"h-1": http}, monotonic=lambda: now[0])
    earlier = QueueMessage("m-x", encode("h-1", [queued(n) for n in range(20, 24)], 100.0, 3, "HTTP 503"))

    report = run.process([*deliveries("h-1", 16, per_message=8), earlier], deadline=40.0)

    # THEN the requests that could end in time went (the last one starting at 25 s), the rest went back
    assert len(http.batches) == 6 and (report.sent, report.deferred) == (12, 8)
    assert retries.delays == [0, 0] and dead.bodies == [] and report.failed_message_ids == set()
    # AND each event as it came: its attempt, queue time and last error
    assert [(d.event_id, d.attempt, d.queued_at, d.last_error) for d in parsed(retries)] == [
        *[(f"e{n}", 1, None, None) for n in range(12, 16)],
        *[(f"e{n}", 3, 100.0, "HTTP 503") for n in range(20, 24)],
    ]


def test_the_first_send_of_an_invocation_goes_whatever_the_deadline_then_the_rest_waits() -> None:
    # GIVEN a hook whose requests may take 31 s, a data-source hook after it, and a deadline sooner than that
    now = [0.0]
    slow = a_hook(batch_size=2).model_copy(
        update={"destination": HttpDestination(url="https://example.com/in", batch_size=2, timeout_seconds=30)}
    )
    http, promos = Slow(now), _Promos()
    run, retries, _, _ = dispatcher(
        {"h-1": slow, "h-2": a_hook("h-2")},
        {"h-1": http, "h-2": Scripted()},
        data_sources=promos,
        monotonic=lambda: now[0],
    )
    asking = QueueMessage("m-2", encode("h-2", [queued(9, data_sources=[("promo_codes", "a@x")])], None))

    report = run.process([*deliveries("h-1", 4, per_message=4), asking], deadline=15.0)

    # THEN one request went (so that every invocation makes progress), the rest went back, attempts unchanged
    assert http.batches == [["e0", "e1"]] and (report.sent, report.deferred) == (2, 3)
    assert [(d.event_id, d.attempt) for d in parsed(retries)] == [("e2", 1), ("e3", 1), ("e9", 1)]
    # AND the hook reached after the deadline read no database for nothing
    assert promos.queries == []


def test_events_sharing_an_id_each_get_their_own_rows() -> None:
    http = Scripted()
    run, *_ = dispatcher({"h-1": a_hook(batch_size=10)}, {"h-1": http}, data_sources=_Promos())
    alice = queued(1, data_sources=[("promo_codes", "alice")])
    bob = queued(1, data_sources=[("promo_codes", "bob")])

    run.process([QueueMessage("m-a", encode("h-1", [alice, bob], None))])

    # (Scripted keeps the bodies by event id: look at what was sent, in order)
    assert http.batches == [["e1", "e1"]]
    assert [json.loads(json.loads(body)["jsonParam"]) for body in http.sent_bodies] == [
        {"promo_codes": [{"code": "ALICE"}]},
        {"promo_codes": [{"code": "BOB"}]},
    ]


def test_a_broker_gets_sessions_of_at_most_500_events() -> None:
    broker = Scripted()
    run, *_ = dispatcher({"h-2": a_hook("h-2", kind="rabbitmq")}, {"h-2": broker})

    run.process(deliveries("h-2", 1200, per_message=100))

    assert [len(batch) for batch in broker.batches] == [500, 500, 200]
