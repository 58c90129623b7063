"""Ingest's fan-out writes, for every hook, the events it passes, each with the very body the plain way
would write (pydantic-core writing event_body), in messages the dispatcher reads back. The fast paths
(filters in sets, templates prepared per hook, dates written by hand) are checked against those references."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json

from sqlsync.hooks.delivery import Outgoing
from sqlsync.hooks.fanout import HookFanout
from sqlsync.hooks.http import webhook_id
from sqlsync.hooks.message import PLACEHOLDERS, BodyTemplate, event_body
from sqlsync.hooks.wire import (
    MAX_MESSAGE_EVENT_BYTES,
    MAX_MESSAGE_EVENTS,
    Queued,
    content_key,
    decode,
    encode,
)
from sqlsync.models.events import Database, Profile
from sqlsync.models.hooks import (
    ActivityEvent,
    Campaign,
    CustomDataSpec,
    Hook,
    HookEventType,
    HookFilters,
    Message,
    Named,
)
from sqlsync.sync.exceptions import PayloadTooLargeError, UnknownNameError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES, InMemorySink
from testkit import HOOK_TIME
from testkit import full_activity as make_event
from testkit import http_hook as make_hook

AT = HOOK_TIME
QUEUED_AT = 1795341605.25
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected_event(hook: Hook, event: ActivityEvent) -> Queued:
    """The event as the hook's messages must carry it: its body is what pydantic-core writes of event_body."""
    key = event.profile.id if event.profile is not None else None
    kept = None
    if hook.include_content and event.message is not None and event.profile is not None:
        kept = content_key(event.account_id, event.message.id, event.profile.id)
    body = to_json(event_body(hook, event), inf_nan_mode="constants").decode()
    return Queued(event.id, key, body, kept, [tuple(pair) for pair in event.lookups()])


def expected(hooks: list[Hook], events: list[ActivityEvent]) -> dict[str, list[Queued]]:
    """Per hook, the events it passes, in order."""
    found: dict[str, list[Queued]] = {}
    for hook in hooks:
        passing = [expected_event(hook, event) for event in events if hook.passes(event)]
        if passing:
            found[hook.id] = passing
    return found


def read_back(messages: list[str]) -> dict[str, list[Queued]]:
    """Per hook, the events of the messages, in order; each message a first attempt, queued at QUEUED_AT."""
    found: dict[str, list[Queued]] = {}
    for text in messages:
        message = decode(text)
        assert (message.attempt, message.last_error, message.queued_at) == (1, None, QUEUED_AT)
        found.setdefault(message.hook_id, []).extend(
            event._replace(data_sources=[tuple(pair) for pair in event.data_sources]) for event in message.events
        )
    return found


def planned(hooks: list[Hook], events: list[ActivityEvent]) -> dict[str, list[Queued]]:
    return read_back(plan(hooks, events))


def plan(hooks: list[Hook], events: list[ActivityEvent]) -> list[str]:
    fanout = HookFanout(lambda account: hooks, InMemorySink(), clock=lambda: datetime.fromtimestamp(QUEUED_AT, UTC))
    return fanout.plan(list(enumerate(events)), batch=True).bodies


# Filters -----------------------------------------------------------------------------------------------

IDS = st.lists(st.integers(0, 4), min_size=1, max_size=3)
NAMED = st.none() | st.builds(Named, id=st.integers(0, 4))


@FAST
@given(
    hook_changes=st.fixed_dictionaries(
        {
            "active": st.booleans(),
            "account_id": st.integers(1, 2),
            "database_id": st.none() | st.integers(0, 2),
            "event_types": st.lists(st.sampled_from(list(HookEventType)), min_size=1, max_size=4),
            "filters": st.builds(
                HookFilters,
                resource_ids=st.none() | IDS,
                campaign_ids=st.none() | IDS,
                message_ids=st.none() | IDS,
                segment_ids=st.none() | IDS,
                pixel_ids=st.none() | IDS,
            ),
        }
    ),
    event_changes=st.fixed_dictionaries(
        {
            "type": st.sampled_from(list(HookEventType)),
            "account_id": st.integers(1, 2),
            "database": st.none() | st.builds(Database, id=st.integers(0, 2)),
            "resource": NAMED,
            "campaign": st.none() | st.builds(Campaign, id=st.integers(0, 4)),
            "message": st.none() | st.builds(Message, id=st.integers(0, 4)),
            "pixel": NAMED,
            "segments": st.lists(st.builds(Named, id=st.integers(0, 4)), max_size=3),
        }
    ),
)
def test_the_hooks_filter_passes_an_event_when_it_matches_every_filter_set(
    hook_changes: dict[str, Any], event_changes: dict[str, Any]
) -> None:
    hook, event = make_hook(**hook_changes), make_event(**event_changes)
    assert hook.passes(event) is forwarded(hook, event)
    # AND with the hook active and the event in its account, scope and types, so that the filters decide
    active = hook.model_copy(update={"active": True})
    scoped = event.model_copy(
        update={
            "type": hook.event_types[0],
            "account_id": hook.account_id,
            "database": None if hook.database_id is None else Database(id=hook.database_id),
        }
    )
    assert active.passes(scoped) is forwarded(active, scoped)


def forwarded(hook: Hook, event: ActivityEvent) -> bool:
    """The rule, as docs/hooks.md states it: an active hook of the event's account, scope and type, and
    every filter that is set matching the event (any of the event's segments for the segment filter)."""

    def matches(ids: list[int] | None, named: Named | None) -> bool:
        return ids is None or (named is not None and named.id in ids)

    f = hook.filters
    return (
        hook.active
        and event.account_id == hook.account_id
        and event.type in hook.event_types
        and (hook.database_id is None or (event.database is not None and event.database.id == hook.database_id))
        and matches(f.resource_ids, event.resource)
        and matches(f.campaign_ids, event.campaign)
        and matches(f.message_ids, event.message)
        and matches(f.pixel_ids, event.pixel)
        and (f.segment_ids is None or any(segment.id in f.segment_ids for segment in event.segments))
    )


# Messages ----------------------------------------------------------------------------------------------

SPEC = CustomDataSpec(
    profile_fields=["email", "missing", "city"],
    values={
        "source": "sqlsync 100% {here} %(x)s %s",
        "email": "overrides the profile field, in its place",
        "when": "{{event_date}}",
        "rfc": "{{ event_date_rfc3339 }} / {{event_date_unix}} / {{event_date_unixnano}} / {{event_date_ymd}}",
        "campaign": "{{campaign_name}} ({{campaign_subid}}) {{campaign_name}}",
        "where": "{{database_name}}, {{segment_name}}, {{resource_name}}, {{message_name}}: {{message_subject}}",
    },
)
TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@FAST
@given(
    event_id=TEXT,
    profile_id=st.none() | TEXT,
    name=st.none() | TEXT,
    hook_id=TEXT,
    include_content=st.booleans(),
    occurred_at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
    ),
    fields=st.dictionaries(TEXT, st.none() | st.integers() | st.floats() | TEXT, max_size=3),
    own_custom_data=st.none() | st.dictionaries(TEXT, st.integers() | TEXT, max_size=2),
)
def test_each_event_is_carried_with_the_body_pydantic_core_writes(
    event_id: str,
    profile_id: str | None,
    name: str | None,
    hook_id: str,
    include_content: bool,
    occurred_at: datetime,
    fields: dict[str, Any],
    own_custom_data: dict[str, Any] | None,
) -> None:
    hook = make_hook(id=hook_id, custom_data=SPEC, include_content=include_content)
    event = make_event(
        id=event_id,
        occurred_at=occurred_at,
        profile=None if profile_id is None else Profile(id=profile_id, fields={"email": "e@x.org", **fields}),
        campaign=Campaign(id=7, name=name, subid=name),
        message=Message(id=9, name=name),
        custom_data=own_custom_data,
        event_data={"n": 1.5, "name": name},
    )
    assert planned([hook], [event]) == expected([hook], [event])


def test_events_without_the_optional_parts_and_several_hooks() -> None:
    hooks = [
        make_hook(id="h-1", custom_data=SPEC),
        make_hook(id="h-2", filters=HookFilters(campaign_ids=[8])),
        make_hook(id="h-3", include_content=True, event_types=["open"]),
    ]
    bare = ActivityEvent(id="e-bare", type="open", account_id=1, occurred_at=AT)
    events = [make_event(), bare, make_event(id="e-2", type="open", is_test=True), make_event(account_id=2)]

    wanted = expected(hooks, events)

    assert planned(hooks, events) == wanted
    assert sum(map(len, wanted.values())) == 5 and len(plan(hooks, events)) == len(wanted) == 2  # one per hook


def test_text_json_cannot_carry_is_refused() -> None:
    # (the models refuse it already; the envelope writer does not count on that)
    with pytest.raises(PydanticSerializationError):
        encode("h-1", [Queued("evt-\ud800", None, "{}")], QUEUED_AT)


def test_messages_read_back_as_written() -> None:
    [text] = plan([make_hook(include_content=True)], [make_event(id='evt-"1"\n'), make_event(id="evt-2")])
    message = decode(text)
    assert (message.hook_id, message.attempt, message.last_error, message.queued_at) == ("h-1", 1, None, QUEUED_AT)
    assert [(event.event_id, event.key, event.content_key) for event in message.events] == [
        ('evt-"1"\n', "p-1", "1#9#p-1"),
        ("evt-2", "p-1", "1#9#p-1"),
    ]
    assert [json.loads(event.body)["event_id"] for event in message.events] == ['evt-"1"\n', "evt-2"]


def test_a_hooks_events_go_in_messages_of_at_most_100_within_sqs_size_in_order() -> None:
    # GIVEN more events than a message takes, some with bodies of 100 KB
    hook = make_hook()
    events = [
        make_event(id=f"e{n}", event_data={"blob": "x" * 100_000} if n in (3, 4, 5) else {})
        for n in range(MAX_MESSAGE_EVENTS * 2 + 5)
    ]

    # WHEN ingest plans them
    messages = plan([hook], events)

    # THEN every event is there once, in order; no message is over SQS's size or MAX_MESSAGE_EVENTS
    assert planned([hook], events) == expected([hook], events)
    sizes = [len(text.encode()) for text in messages]
    counts = [len(decode(text).events) for text in messages]
    assert max(sizes) <= MAX_MESSAGE_BYTES and max(counts) <= MAX_MESSAGE_EVENTS
    # AND of the first 100, two 100 KB bodies fit a message, the third starts the next one
    assert counts == [5, MAX_MESSAGE_EVENTS - 5, MAX_MESSAGE_EVENTS, 5]


def test_an_event_too_large_for_a_message_is_refused_naming_it() -> None:
    events = [make_event(), make_event(id="e-huge", event_data={"blob": "é" * (MAX_MESSAGE_EVENT_BYTES // 2)})]
    with pytest.raises(PayloadTooLargeError) as raised:
        plan([make_hook()], events)
    assert raised.value.field == "events[1]"
    assert f"at most {MAX_MESSAGE_EVENT_BYTES} fit" in raised.value.message


def test_a_hook_changed_since_the_last_request_is_rendered_anew() -> None:
    events = [make_event()]
    hooks = [make_hook(custom_data=CustomDataSpec(values={"v": "one"}))]
    fanout = HookFanout(lambda account: hooks, InMemorySink())
    [message] = fanout.plan(list(enumerate(events)), batch=False).bodies
    assert json.loads(decode(message).events[0].body)["custom_data"] == {"v": "one"}
    hooks = [make_hook(custom_data=CustomDataSpec(values={"v": "two"}), event_types=["open"])]
    assert fanout.plan(list(enumerate(events)), batch=False).bodies == []
    hooks = [make_hook(custom_data=CustomDataSpec(values={"v": "two"}))]
    [message] = fanout.plan(list(enumerate(events)), batch=False).bodies
    assert json.loads(decode(message).events[0].body)["custom_data"] == {"v": "two"}


# Pieces ------------------------------------------------------------------------------------------------


def test_each_uuid_placeholder_is_a_new_uuid_and_percent_signs_are_text() -> None:
    spec = CustomDataSpec(values={"a": "{{uuid}}", "b": "{{uuid}}|{{uuid}}", "c": "%(uuid)s 100%"})
    data = event_body(make_hook(custom_data=spec), make_event())["custom_data"]
    ids = [data["a"], *data["b"].split("|")]
    assert len({uuid.UUID(text) for text in ids}) == 3
    assert data["c"] == "%(uuid)s 100%"


def test_event_dates_are_utc_with_microseconds_whatever_the_offset_or_second() -> None:
    template = BodyTemplate(make_hook())
    paris = timezone(timedelta(hours=1))
    for at, text in (
        (datetime(2026, 11, 22, 11, 0, 5, 0, tzinfo=paris), "2026-11-22T10:00:05.000000Z"),
        (datetime(999, 1, 2, 0, 30, tzinfo=paris), "0999-01-01T23:30:00.000000Z"),
        (AT, "2026-11-22T10:00:05.123456Z"),
    ):
        assert template.body(make_event(occurred_at=at))["event_date"] == text
    for second in range(5000):  # more seconds than are kept
        at = AT + timedelta(seconds=second, microseconds=second)
        expected = at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        assert template.body(make_event(occurred_at=at))["event_date"] == expected


@given(ids=st.lists(TEXT, min_size=1, max_size=5))
def test_the_webhook_id_is_the_hash_of_the_ids_as_json(ids: list[str]) -> None:
    batch = [Outgoing(event_id, "{}") for event_id in ids]
    assert webhook_id(batch) == "msg_" + hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:32]


# Trigger enrichment ---------------------------------------------------------------------------------------


def test_the_envelope_names_each_data_source_with_its_contact() -> None:
    hook = make_hook()
    event = make_event(data_sources=["promo_codes", {"name": "orders", "contact": "c-9"}])
    fanout = HookFanout(
        lambda account: [hook],
        InMemorySink(),
        clock=lambda: datetime.fromtimestamp(QUEUED_AT, UTC),
        data_sources_of=lambda account: {"promo_codes", "orders"},
    )

    [text] = fanout.plan([(0, event)], batch=False).bodies

    assert read_back([text]) == expected([hook], [event])
    [queued] = decode(text).events
    assert queued.data_sources == [("promo_codes", "p-1"), ("orders", "c-9")]  # the profile id by default
    assert "data_sources" not in json.loads(queued.body)  # the request is for the dispatcher, not the receiver


def test_a_data_source_the_account_does_not_have_is_refused_naming_it() -> None:
    fanout = HookFanout(lambda account: [], InMemorySink(), data_sources_of=lambda account: {"orders"})
    events = [make_event(), make_event(id="evt-2", data_sources=["orders", "missing"])]

    with pytest.raises(UnknownNameError) as raised:
        fanout.plan(list(enumerate(events)), batch=True)  # refused even though no hook wants the event

    assert raised.value.field == "events[1].data_sources[1].name"
    assert raised.value.message == "no data source named 'missing' in this account"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"profile": None, "data_sources": ["orders"]}, "[0]: no contact to look up"),
        ({"data_sources": ["orders", {"name": "orders", "contact": "x"}]}, "[1]: 'orders' is asked for twice"),
        ({"data_sources": ["Orders"]}, "String should match pattern"),
        ({"data_sources": [f"s{n}" for n in range(11)]}, "at most 10 items"),
    ],
)
def test_data_sources_an_event_cannot_be_enriched_with_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        make_event(**changes)
    assert message in str(raised.value)


PLACEHOLDER_NAMES = sorted(name for name in PLACEHOLDERS if name != "uuid")  # uuid differs on every call
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")  # docs/hooks.md: {{name}}, spaces allowed inside


def plain_custom_data(spec: CustomDataSpec, event: ActivityEvent, event_date: str) -> dict[str, Any]:
    """The rule of docs/hooks.md, stated plainly: the chosen profile fields the profile has, then the event's
    own custom_data if it sent one, else each value with each placeholder replaced by its text."""
    fields = event.profile.fields if event.profile is not None else {}
    data = {name: fields[name] for name in spec.profile_fields if name in fields}
    if event.custom_data is not None:
        return {**data, **event.custom_data}

    def text_of(match: re.Match[str]) -> str:
        return event_date if match.group(1) == "event_date" else PLACEHOLDERS[match.group(1)](event)

    return {**data, **{key: PLACEHOLDER.sub(text_of, value) for key, value in spec.values.items()}}


@FAST
@given(
    profile_fields=st.lists(TEXT | st.sampled_from(['"; import os #', "{x}", "%(s)s", "\\", "email"]), max_size=4),
    values=st.dictionaries(
        TEXT | st.sampled_from(["__import__('os')", '"', "email"]),
        st.lists(TEXT | st.sampled_from(PLACEHOLDER_NAMES).map(lambda name: "{{" + name + "}}")).map("".join),
        max_size=4,
    ),
    hook_id=TEXT | st.just("'''; raise SystemExit #"),
    own_custom_data=st.none() | st.dictionaries(TEXT, TEXT, max_size=2),
)
def test_the_body_written_for_a_hook_follows_the_custom_data_rule_whatever_its_names_and_texts(
    profile_fields: list[str], values: dict[str, str], hook_id: str, own_custom_data: dict[str, Any] | None
) -> None:
    # (its names and texts are data to the function written for the hook, never code)
    spec = CustomDataSpec(profile_fields=profile_fields, values=values)
    fields = {name: f"value of {name}" for name in profile_fields[::2]}
    event = make_event(profile=Profile(id="p-1", fields=fields), custom_data=own_custom_data)
    template = BodyTemplate(make_hook(id=hook_id, custom_data=spec))

    body = template.body(event)

    # THEN custom_data follows the rule, stated plainly
    assert json.dumps(body["custom_data"]) == json.dumps(plain_custom_data(spec, event, body["event_date"]))
    assert body["hook_id"] == hook_id
    assert template.render(event) == to_json(body, inf_nan_mode="constants").decode()
