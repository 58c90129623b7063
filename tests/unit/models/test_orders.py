"""Order events as POST /v1/events reads them: told apart from segment and activity events by their type,
checked field by field (a 422 names the field), and versioned like every other event of sqlsync."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from sqlsync.api.errors import field_path
from sqlsync.models.events import SegmentEvent
from sqlsync.models.hooks import ActivityEvent
from sqlsync.models.ingest import EventBatch, EventsBody, events_of
from sqlsync.models.orders import MAX_ORDER_ITEMS, OrderEvent
from testkit import ROOT

SAMPLE = ROOT / "events" / "platform" / "orders" / "order.json"
BODY: TypeAdapter[Any] = TypeAdapter(EventsBody)


def sample() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SAMPLE.read_text("utf-8"))
    return loaded


def refused_fields(body: Any) -> list[str]:
    """The fields a 422 names (the ingest function drops the order tag, as api.errors drops the others)."""
    with pytest.raises(ValidationError) as refused:
        BODY.validate_python(body)
    return [field_path(error["loc"]) for error in refused.value.errors()]


def test_the_sample_is_an_order_event_with_exact_money() -> None:
    (event,) = events_of(BODY.validate_python(sample()))

    assert isinstance(event, OrderEvent)
    assert event.customer_ids == {"registered": "c-1"}
    assert (event.order.external_order_id, event.order.status) == ("A-1001", "INITIALIZED")
    # JSON numbers become decimals by their text: 60.25 and 120.5, not binary approximations
    assert (event.order.total_cost, event.order.items[0].cost) == (Decimal("120.5"), Decimal("60.25"))
    assert event.order.items[0].quantity == 2


def test_order_segment_and_activity_events_travel_in_one_batch() -> None:
    segment = json.loads((ROOT / "events" / "platform" / "profiles_added.json").read_text("utf-8"))
    activity = {"id": "a-1", "type": "open", "account_id": 1, "occurred_at": "2026-11-22T10:00:00Z"}

    body = BODY.validate_python({"events": [segment, sample(), activity]})

    assert isinstance(body, EventBatch)
    assert [type(event) for event in events_of(body)] == [SegmentEvent, OrderEvent, ActivityEvent]


def test_an_order_without_items_or_optional_fields_is_an_order() -> None:
    minimal = {**sample(), "order": {"external_order_id": "A-2", "status": "NEW", "date": "2026-11-22T10:00:00+01:00"}}
    minimal["order"]["total_cost"] = "0"

    (event,) = events_of(BODY.validate_python(minimal))
    assert isinstance(event, OrderEvent) and event.order.items == [] and event.order.discount is None


def test_versions_order_by_time_then_event_id() -> None:
    def version(event_id: str, occurred_at: str) -> str:
        event = BODY.validate_python({**sample(), "id": event_id, "occurred_at": occurred_at})
        assert isinstance(event, OrderEvent)
        return event.version

    # the same instant in two zones is one time: the id decides
    assert version("evt-2", "2026-11-22T11:00:00+01:00") > version("evt-1", "2026-11-22T10:00:00Z")
    assert version("evt-1", "2026-11-22T10:00:01Z") > version("evt-2", "2026-11-22T10:00:00Z")


def _with(change: dict[str, Any], path: tuple[str | int, ...] = ()) -> dict[str, Any]:
    body = copy.deepcopy(sample())
    target = body
    for part in path:
        target = target[part]
    target.update(change)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with({"customer_ids": {}}), "customer_ids"),
        (_with({"customer_ids": {"registered": ""}}), "customer_ids.registered"),
        (_with({"customer_ids": {"registered": "x" * 257}}), "customer_ids.registered"),
        (_with({"customer_ids": {"Registered": "c-1"}}), "customer_ids.Registered.[key]"),
        (_with({"customer_ids": {f"t{n}": "v" for n in range(11)}}), "customer_ids"),
        (_with({"occurred_at": "2026-11-22T10:00:00"}), "occurred_at"),  # no time zone
        (_with({"account_id": -1}), "account_id"),
        (_with({"order": None}), "order"),
        (_with({"shop": "extra"}), "shop"),
        (_with({"external_order_id": ""}, ("order",)), "order.external_order_id"),
        (_with({"external_order_id": "x" * 101}, ("order",)), "order.external_order_id"),  # keys are never cut
        (_with({"status": "x" * 51}, ("order",)), "order.status"),
        (_with({"date": "2026-11-22"}, ("order",)), "order.date"),
        (_with({"date": "1969-12-31T23:59:59Z"}, ("order",)), "order.date"),  # feeds keep times from 1970 on
        (_with({"occurred_at": "1969-12-31T23:59:59Z"}), "occurred_at"),
        (_with({"total_cost": -1}, ("order",)), "order.total_cost"),
        (_with({"total_cost": "NaN"}, ("order",)), "order.total_cost"),
        (_with({"total_cost": 0.1 + 0.2}, ("order",)), "order.total_cost"),  # 17 decimals: DECIMAL(38,10) would round
        (_with({"discount": "1e40"}, ("order",)), "order.discount"),
        (_with({"email": "x" * 2001}, ("order",)), "order.email"),
        (_with({"colour": "red"}, ("order",)), "order.colour"),
        (_with({"cost": -0.5}, ("order", "items", 0)), "order.items[0].cost"),
        (_with({"quantity": 2**31}, ("order", "items", 0)), "order.items[0].quantity"),
        (_with({"quantity": 1.5}, ("order", "items", 0)), "order.items[0].quantity"),
        (_with({"external_product_id": ""}, ("order", "items", 0)), "order.items[0].external_product_id"),
        (_with({"image_url": "x" * 2001}, ("order", "items", 0)), "order.items[0].image_url"),
    ],
)
def test_a_bad_order_event_is_refused_naming_its_field(body: dict[str, Any], field: str) -> None:
    assert refused_fields(body) == [field]
    # ... and in a batch, named with its event
    assert refused_fields({"events": [sample(), body]}) == [f"events[1].{field}"]


def test_two_lines_of_one_product_are_refused_naming_the_second() -> None:
    body = sample()
    body["order"]["items"].append({**body["order"]["items"][0], "quantity": 1})

    with pytest.raises(ValidationError) as refused:
        BODY.validate_python(body)
    (error,) = refused.value.errors()
    assert "[1].external_product_id: 'sku-1' is already items[0]" in error["msg"]


def test_an_order_holds_at_most_the_items_limit() -> None:
    body = sample()
    item = body["order"]["items"][0]
    body["order"]["items"] = [{**item, "external_product_id": f"sku-{n}"} for n in range(MAX_ORDER_ITEMS + 1)]

    assert refused_fields(body) == ["order.items"]
