"""Message activity kept for the activity exports (contactActivities, messages, broadcasts, revenue, and the
counters of contacts; docs/exports.md).

Ingest hands the activity events of an account that exports one of those datasets to ActivityLog. It keeps each
message event of a profile (deliveries, opens, clicks, unsubscriptions...) under its event id, and notes what
the events say of their message and their campaign (the vendor's broadcast): names, subject, channel, the
first sending. The vendor's activity statuses and channels are decided here, once, for the exports to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlsync.models.hooks import ActivityEvent, HookEventType

if TYPE_CHECKING:
    from sqlsync.store.base import ActivityRecord, CatalogKind, CustomerStore, Scalar

ACTIVITY_DATASETS = frozenset({"contactActivities", "messages", "broadcasts", "revenue"})
"""The datasets made from kept activity: ingest keeps activity only for accounts with an export of one."""
ATTRIBUTION_SECONDS = 5 * 86400
"""revenue: an order is attributed to the customer's last click in a message within this long before it (the
last-click model, with the usual 5-day window of email, SMS and push)."""

_T = HookEventType
VENDOR_STATUS: Mapping[str, str] = {
    _T.DELIVERED: "DELIVERED",
    _T.NOT_DELIVERED: "UNDELIVERED",
    _T.BOUNCED: "UNDELIVERED",
    _T.SPAM_COMPLAINT: "SPAM",
    _T.OPEN: "RECEIVED",
    _T.UNIQUE_OPEN: "RECEIVED",
    _T.READ: "RECEIVED",
    _T.GLANCED: "RECEIVED",
    _T.SKIMMED: "RECEIVED",
    _T.OPEN_PUSH: "RECEIVED",
    _T.UNIQUE_OPEN_PUSH: "RECEIVED",
    _T.CLICK: "CLICKED",
    _T.UNIQUE_CLICK: "CLICKED",
    _T.CLICK_SMS: "CLICKED",
    _T.UNIQUE_CLICK_SMS: "CLICKED",
    _T.CLICK_PUSH: "CLICKED",
    _T.UNIQUE_CLICK_PUSH: "CLICKED",
    _T.UNSUBSCRIBED: "UNSUBSCRIBED",
    _T.UNSUBSCRIBED_SMS: "UNSUBSCRIBED",
    _T.CONFIRMED: "SUBSCRIPTION_CHANGED",
    _T.CONFIRMED_SUBSCRIPTION: "SUBSCRIPTION_CHANGED",
    _T.SUBSCRIBED: "SUBSCRIPTION_CHANGED",
    _T.RESUBSCRIBED: "SUBSCRIPTION_CHANGED",
}
"""The vendor's activityStatus of each event type that makes a contactActivities row. `sent` makes none (the
vendor has no such status): it dates the broadcast's start."""

MEDIA_TYPE: Mapping[str, str] = {
    **dict.fromkeys((_T.CLICK_SMS, _T.UNIQUE_CLICK_SMS, _T.UNSUBSCRIBED_SMS), "SMS"),
    **dict.fromkeys((_T.OPEN_PUSH, _T.UNIQUE_OPEN_PUSH, _T.CLICK_PUSH, _T.UNIQUE_CLICK_PUSH), "MobilePush"),
    **dict.fromkeys(
        (
            _T.OPEN,
            _T.UNIQUE_OPEN,
            _T.CLICK,
            _T.UNIQUE_CLICK,
            _T.READ,
            _T.GLANCED,
            _T.SKIMMED,
            _T.UNSUBSCRIBED,
            _T.CONFIRMED,
            _T.CONFIRMED_SUBSCRIPTION,
        ),
        "Email",
    ),
}
"""The vendor's mediaType where the event type tells the channel (the email tracking types are email's). A
delivery event tells none: the channel stays as other events of the message said."""

KEPT_TYPES = frozenset({*VENDOR_STATUS, _T.SENT})
CLICK_TYPES = frozenset(kind for kind, status in VENDOR_STATUS.items() if status == "CLICKED")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Activity is kept from then on: its times are unix seconds in sort keys (hooks take any date)."""
MAX_PARALLEL_WRITES = 8
"""Catalog writes (messages, broadcasts) one request makes at once."""
MAX_ID = 2**63 - 1
"""The exports' columns for the platform's ids are bigint: a larger id (none is expected) is left out."""
MAX_TEXT = 1000
"""Texts kept from an event (names, links, reasons) are cut here: the widest column they go to."""
_DESCRIPTIONS = ("reason", "error", "description", "status_description")
"""event_data keys that explain an undelivered message, the first one present wins (statusDescription)."""


_COUNTED: Mapping[str, tuple[str, str]] = {
    "SENT": ("totalsent", "lastsentdate"),
    "DELIVERED": ("totalreceived", "lastreceiveddate"),
    "RECEIVED": ("totalviewed", "lastvieweddate"),
    "CLICKED": ("totalclicked", "lastclickeddate"),
}
"""contacts' counters and last dates, by what an event says of its sending (the vendor's "received" is a
delivery, "viewed" an open)."""


def contact_totals(activity: Sequence[ActivityRecord]) -> dict[str, Any]:
    """A profile's counters and last dates for its contacts row: how many sendings (campaign and message) it was
    sent, delivered, opened and clicked (an open and a unique open of one sending count once), and when it
    last was. A counter with no event is 0, its date None."""
    sendings: dict[str, set[tuple[Any, Any]]] = {status: set() for status in _COUNTED}
    last: dict[str, float] = {}
    for record in activity:
        status = "SENT" if record.event_type == _T.SENT else VENDOR_STATUS.get(record.event_type, "")
        if status not in _COUNTED:
            continue
        campaign, message = record.details.get("campaign") or {}, record.details.get("message") or {}
        sendings[status].add((campaign.get("id"), message.get("id")))
        last[status] = max(last.get(status, record.occurred_at), record.occurred_at)
    totals: dict[str, Any] = {}
    for status, (total, date) in _COUNTED.items():
        totals[total] = len(sendings[status])
        totals[date] = datetime.fromtimestamp(last[status], UTC) if status in last else None
    return totals


class ActivityLog:
    """Keeps the message activity of activity events in the customers store."""

    def __init__(
        self, store: CustomerStore, clock: Callable[[], float] = time.time, retention: float | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.retention = retention
        """Seconds activity is kept after it is received (None: for good)."""

    def keep(self, events: Sequence[ActivityEvent]) -> int:
        """Keep the message events among `events` (test events, events without a profile and events dated
        before 1970 are not), and note their messages and broadcasts. Returns how many events were kept."""
        now = self.clock()
        records: dict[int, dict[str, ActivityRecord]] = {}
        entries: dict[tuple[int, CatalogKind, int], tuple[dict[str, Scalar], dict[str, Scalar]]] = {}
        for event in events:
            if event.type not in KEPT_TYPES or event.profile is None or event.is_test or event.occurred_at < EPOCH:
                continue
            # An event id once per request (its last event): one id is one activity, whatever its time.
            records.setdefault(event.account_id, {})[event.id] = activity_record(event, now)
            for kind, entry_id, values, once in _entries_of(event):
                noted = entries.setdefault((event.account_id, kind, entry_id), ({}, {}))
                noted[0].update(values)  # the request's last event of the entry decides
                for name, value in once.items():
                    noted[1].setdefault(name, value)
        for account, kept in records.items():
            keep_until = None if self.retention is None else now + self.retention
            self.store.put_activities(account, list(kept.values()), keep_until)
        notes = [
            (account, kind, entry_id, values, once, now)
            for (account, kind, entry_id), (values, once) in entries.items()
        ]
        if len(notes) <= 1:
            for note in notes:
                self.store.note_entry(*note)
        else:  # one conditional write each, and ingest waits for them: a few at a time
            with ThreadPoolExecutor(max_workers=min(len(notes), MAX_PARALLEL_WRITES)) as pool:
                list(pool.map(lambda note: self.store.note_entry(*note), notes))
        return sum(map(len, records.values()))


def activity_record(event: ActivityEvent, received_at: float) -> ActivityRecord:
    from sqlsync.store.base import ActivityRecord  # the store's dataclasses only once activity is kept

    assert event.profile is not None
    details: dict[str, Any] = {}
    if event.campaign is not None and event.campaign.id <= MAX_ID:
        name = event.campaign.name
        details["campaign"] = {"id": event.campaign.id, "name": None if name is None else _short(name)}
        if event.campaign.subid:
            details["campaign"]["subid"] = _short(event.campaign.subid)
    if event.message is not None and event.message.id <= MAX_ID:
        name = event.message.name
        details["message"] = {"id": event.message.id, "name": None if name is None else _short(name)}
    link = event.event_data.get("link_url")
    if isinstance(link, str) and link:
        details["link"] = _short(link)
    for key in _DESCRIPTIONS:
        description = event.event_data.get(key)
        if isinstance(description, str) and description:
            details["description"] = _short(description)
            break
    occurred_at = event.occurred_at.timestamp()
    return ActivityRecord(event.id, str(event.type), event.profile.id, occurred_at, details, received_at)


def _entries_of(event: ActivityEvent) -> list[tuple[CatalogKind, int, dict[str, Scalar], dict[str, Scalar]]]:
    """What the event says of its message and its broadcast: (kind, id, values, values kept once)."""
    media_type = MEDIA_TYPE.get(event.type)
    found: list[tuple[CatalogKind, int, dict[str, Scalar], dict[str, Scalar]]] = []
    message = event.message if event.message is not None and event.message.id <= MAX_ID else None
    if message is not None:
        values: dict[str, Scalar] = {}
        if message.name:
            values["name"] = _short(message.name)
        if message.subject:
            values["subject"] = _short(message.subject)
        if media_type:
            values["media_type"] = media_type
        found.append(("message", message.id, values, {}))
    if event.campaign is not None and event.campaign.id <= MAX_ID:
        values = {}
        if event.campaign.name:
            values["name"] = _short(event.campaign.name)
        if message is not None:
            values["message_id"] = message.id
        if media_type:
            values["media_type"] = media_type
        group = next((segment.id for segment in event.segments if segment.id <= MAX_ID), None)
        if group is not None:
            values["group_id"] = group
        once: dict[str, Scalar] = {"started_at": event.occurred_at.timestamp()} if event.type == _T.SENT else {}
        found.append(("broadcast", event.campaign.id, values, once))
    return found


def _short(text: str) -> str:
    return text[:MAX_TEXT]
