"""What a destination receives for an event: filters, custom_data and its placeholders, the body."""

from __future__ import annotations

import uuid

import pytest

from sqlsync.hooks.exceptions import HookError
from sqlsync.hooks.message import check_custom_data, event_body, outgoing
from sqlsync.models.hooks import (
    ActivityEvent,
    CustomDataSpec,
    HookFilters,
    Named,
)
from testkit import HOOK_TIME
from testkit import full_activity as activity
from testkit import http_hook as hook

AT = HOOK_TIME


def custom_data(spec: CustomDataSpec, event: ActivityEvent) -> dict[str, object]:
    """The event's custom_data as a hook with `spec` sends it."""
    data: dict[str, object] = event_body(hook(custom_data=spec), event)["custom_data"]
    return data


@pytest.mark.parametrize(
    ("changes", "event_changes", "passes"),
    [
        ({}, {}, True),
        ({"active": False}, {}, False),
        ({}, {"type": "open"}, True),
        ({}, {"type": "sent"}, False),
        ({}, {"account_id": 2}, False),
        ({"database_id": 3}, {}, True),
        ({"database_id": 4}, {}, False),
        ({"database_id": 3}, {"database": None}, False),
        ({"filters": HookFilters(campaign_ids=[7, 8])}, {}, True),
        ({"filters": HookFilters(campaign_ids=[8])}, {}, False),
        ({"filters": HookFilters(campaign_ids=[7])}, {"campaign": None}, False),
        ({"filters": HookFilters(segment_ids=[18])}, {}, True),
        ({"filters": HookFilters(segment_ids=[19])}, {}, False),
        # every filter set must match
        ({"filters": HookFilters(resource_ids=[5], message_ids=[9], pixel_ids=[1])}, {}, False),
        ({"filters": HookFilters(resource_ids=[5], message_ids=[9])}, {}, True),
        ({"filters": HookFilters(pixel_ids=[1])}, {"pixel": Named(id=1)}, True),
    ],
)
def test_an_event_passes_when_active_in_scope_of_a_chosen_type_and_every_filter_set_matches(
    changes: dict[str, object], event_changes: dict[str, object], passes: bool
) -> None:
    assert hook(**changes).passes(activity(**event_changes)) is passes


def test_custom_data_takes_chosen_profile_fields_and_renders_every_placeholder() -> None:
    spec = CustomDataSpec(
        profile_fields=["email", "missing"],
        values={
            "id": "{{uuid}}",
            "date": "{{event_date}}",
            "ymd": "{{event_date_ymd}}",
            "rfc": "{{ event_date_rfc3339 }}",
            "unix": "{{event_date_unix}}",
            "nano": "{{event_date_unixnano}}",
            "campaign": "{{campaign_name}} / {{campaign_subid}}",
            "where": "{{database_name}}, {{segment_name}}, {{resource_name}}",
            "message": "{{message_name}}: {{message_subject}}",
            "plain": "no placeholder {here}",
        },
    )

    data = custom_data(spec, activity())

    assert uuid.UUID(data.pop("id")).version == 4
    assert data == {
        "email": "a@example.com",
        "date": "2026-11-22T10:00:05.123456Z",
        "ymd": "2026-11-22",
        "rfc": "2026-11-22T10:00:05Z",
        "unix": "1795341605",
        "nano": "1795341605123456000",
        "campaign": "Black Friday / bf-26",
        "where": "Customers, VIP, Shop",
        "message": "Promo: 50% off",
        "plain": "no placeholder {here}",
    }


def test_placeholders_of_things_the_event_has_not_are_empty() -> None:
    spec = CustomDataSpec(values={"c": "[{{campaign_name}}]", "s": "[{{segment_name}}]"})
    assert custom_data(spec, activity(campaign=None, segments=[])) == {"c": "[]", "s": "[]"}


def test_custom_data_sent_with_the_event_wins_over_the_template_but_profile_fields_stay() -> None:
    spec = CustomDataSpec(profile_fields=["city"], values={"k": "template"})
    assert custom_data(spec, activity(custom_data={"k": "from the event", "n": 1})) == {
        "city": "Zürich",
        "k": "from the event",
        "n": 1,
    }


def test_an_unknown_placeholder_is_refused_naming_the_key() -> None:
    with pytest.raises(HookError) as refused:
        check_custom_data(CustomDataSpec(values={"ok": "{{uuid}}", "bad": "x {{event_time}}"}))
    assert refused.value.field == "custom_data.values.bad"
    assert "{{event_time}}" in refused.value.message and "{{event_date}}" in refused.value.message


def test_the_body_carries_the_documented_fields_and_content_only_when_included() -> None:
    body = event_body(hook(), activity(), content={"html": "<p>hi</p>"})

    assert body == {
        "event_id": "evt-1",
        "event_type": "click",
        "event_date": "2026-11-22T10:00:05.123456Z",
        "account_id": 1,
        "list_id": 3,
        "profile_id": "p-1",
        "is_test": False,
        "hook_id": "h-1",
        "custom_data": {},
        "event_data": {
            "resource_id": 5,
            "campaign_id": 7,
            "message_id": 9,
            "segment_ids": [17, 18],
            "link_url": "https://example.com/x",
        },
    }
    assert event_body(hook(include_content=True), activity(), content={"html": "<p>hi</p>"})["content"] == {
        "html": "<p>hi</p>"
    }


def test_outgoing_is_keyed_by_profile_and_identified_by_the_event() -> None:
    sent = outgoing(hook(), activity())
    assert (sent.event_id, sent.key) == ("evt-1", "p-1")
    assert outgoing(hook(), activity(profile=None)).key is None
