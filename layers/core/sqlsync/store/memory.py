"""In-memory stores for tests, benchmarks and the local stack.

They keep the DynamoDB stores' semantics (values are copied through the same JSON encodings, equal
versions pass) and count in `calls` the DynamoDB API calls the DynamoDB store would make, so that a
benchmark can report the AWS cost of a workload without AWS.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlsync.store._codec import (
    LAST_ERROR_MAX_CHARS,
    claimed_fields,
    dump_export_state,
    dump_fields,
    dump_import,
    dump_properties,
    dump_row_error,
    error_sort_key,
    error_time,
    event_sort_key,
    load_export_state,
    load_fields,
    load_import,
    load_properties,
    load_row_error,
    pack_content,
    unpack_content,
)
from sqlsync.store.base import (
    ActivityRecord,
    CatalogEntry,
    CatalogKind,
    ConfigStore,
    ContentKey,
    ContentStore,
    CustomerAlias,
    CustomerRecord,
    CustomerStore,
    DeviceRecord,
    ExportState,
    ExportStateStore,
    HeldEvent,
    HeldKind,
    ImportRecord,
    ImportStore,
    LedgerStore,
    Membership,
    MembershipLike,
    MembershipState,
    OrderRecord,
    Pending,
    Scalar,
    StatsBucket,
    StatsDelta,
    StatsStore,
    TrackedEvent,
    feed_cursor,
    minute_bucket,
)

if TYPE_CHECKING:
    from sqlsync.customers.imports.reader import RowError

BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25


class InMemoryConfigStore(ConfigStore):
    """Integrations and connectors kept as the JSON body the DynamoDB item holds, so reads return fresh
    objects.

    Examples
    --------
    >>> store = InMemoryConfigStore()
    >>> store.get_integration("missing") is None
    True
    >>> store.calls["GetItem"]
    1
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._bodies: dict[tuple[str, str], tuple[int, str]] = {}

    def put_body(self, kind: str, object_id: str, account_id: int, body: str) -> None:
        with self._lock:
            self.calls["PutItem"] += 1
            self._bodies[(kind, object_id)] = (account_id, body)

    def get_body(self, kind: str, object_id: str) -> str | None:
        with self._lock:
            self.calls["GetItem"] += 1
            stored = self._bodies.get((kind, object_id))
        return None if stored is None else stored[1]

    def list_bodies(self, kind: str, account_id: int) -> list[str]:
        with self._lock:
            self.calls["Query"] += 1
            return [body for (k, _), (owner, body) in sorted(self._bodies.items()) if k == kind and owner == account_id]

    def delete_body(self, kind: str, object_id: str) -> bool:
        with self._lock:
            self.calls["DeleteItem"] += 1
            return self._bodies.pop((kind, object_id), None) is not None


_Entry = tuple[str, MembershipState, str]
"""A ledger item: version, state, fields as JSON. A plain tuple: one is made per profile synced, and a
class instance costs twenty times more to make on the sync path (`make bench`)."""
_VERSION = 0


def _membership(profile_id: str, entry: _Entry) -> Membership:
    version, state, fields = entry
    return Membership(profile_id, version, state, load_fields(fields))


@dataclass
class _Mark:
    """The DynamoDB item sk "pending": the mark's oldest version (None when caught up), its hold count (never
    reset) and the configuration the segment was last resumed under."""

    since: str | None = None
    holds: int = 0
    resumed: str | None = None


class InMemoryLedgerStore(LedgerStore):
    """The ledger in dictionaries, one lock making each operation atomic like a conditional write.

    Examples
    --------
    >>> ledger = InMemoryLedgerStore()
    >>> ledger.claim("i1", 7, Membership("p1", "2026-01-01T00:00:00.000000Z#e2", "in")) is None
    True
    >>> ledger.claim("i1", 7, Membership("p1", "2026-01-01T00:00:00.000000Z#e1", "out")).version
    '2026-01-01T00:00:00.000000Z#e2'
    >>> ledger.calls["UpdateItem"]
    2
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._segments: dict[tuple[str, int], dict[str, _Entry]] = {}
        self._cleared: dict[tuple[str, int], str] = {}
        self._segment_versions: dict[tuple[str, int], str] = {}
        self._marks: dict[tuple[str, int], _Mark] = {}
        self._flush_timers: dict[tuple[str, int], str] = {}
        self._held: dict[tuple[str, int, HeldKind], HeldEvent] = {}

    def get_members(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, Membership]:
        wanted = dict.fromkeys(profile_ids)
        with self._lock:
            self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
            entries = self._segments.get((integration_id, segment_id), {})
            found = {profile_id: entries[profile_id] for profile_id in wanted if profile_id in entries}
        return {profile_id: _membership(profile_id, entry) for profile_id, entry in found.items()}

    def get_versions(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, str]:
        wanted = dict.fromkeys(profile_ids)
        with self._lock:
            self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
            entries = self._segments.get((integration_id, segment_id), {})
            return {profile_id: entries[profile_id][_VERSION] for profile_id in wanted if profile_id in entries}

    def claim(self, integration_id: str, segment_id: int, membership: MembershipLike) -> Membership | None:
        return self.claim_many(integration_id, segment_id, [membership])[0]

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        """Every claim under one lock acquisition: still one conditional write each, as counted."""
        entries: list[_Entry] = [(m.version, m.state, claimed_fields(m)) for m in memberships]
        results: list[Membership | None] = []
        with self._lock:
            self.calls["UpdateItem"] += len(memberships)
            stored_entries = self._segments.setdefault((integration_id, segment_id), {})
            for membership, entry in zip(memberships, entries, strict=True):
                stored = stored_entries.get(membership.profile_id)
                if stored is not None and stored[_VERSION] > membership.version:
                    results.append(_membership(membership.profile_id, stored))
                else:
                    stored_entries[membership.profile_id] = entry
                    results.append(None)
        return results

    def get_cleared(self, integration_id: str, segment_id: int) -> str | None:
        with self._lock:
            self.calls["GetItem"] += 1
            return self._cleared.get((integration_id, segment_id))

    def claim_cleared(self, integration_id: str, segment_id: int, version: str) -> str | None:
        return self._set_unless_newer(self._cleared, (integration_id, segment_id), version)

    def claim_segment(self, integration_id: str, segment_id: int, version: str) -> str | None:
        return self._set_unless_newer(self._segment_versions, (integration_id, segment_id), version)

    def _set_unless_newer(self, versions: dict[tuple[str, int], str], key: tuple[str, int], version: str) -> str | None:
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = versions.get(key)
            if stored is not None and stored > version:
                return stored
            versions[key] = version
            return None

    def members(self, integration_id: str, segment_id: int, newer_than: str = "") -> Iterator[Membership]:
        with self._lock:
            self.calls["Query"] += 1
            entries = sorted(self._segments.get((integration_id, segment_id), {}).items())
        for profile_id, entry in entries:
            if entry[_VERSION] > newer_than:
                yield _membership(profile_id, entry)

    def members_since(self, integration_id: str, segment_id: int, oldest: str) -> Iterator[Membership]:
        with self._lock:
            self.calls["Query"] += 1
            entries = sorted(self._segments.get((integration_id, segment_id), {}).items())
        for profile_id, entry in entries:
            if entry[_VERSION] >= oldest:
                yield _membership(profile_id, entry)

    def forget_segment(self, integration_id: str, segment_id: int) -> None:
        key = (integration_id, segment_id)
        with self._lock:
            self.calls["Query"] += 1
            items = len(self._segments.pop(key, {})) + (self._cleared.pop(key, None) is not None)
            items += self._segment_versions.pop(key, None) is not None
            items += self._marks.pop(key, None) is not None
            items += self._flush_timers.pop(key, None) is not None
            for kind in ("clear", "upsert"):
                items += self._held.pop((integration_id, segment_id, kind), None) is not None
            self.calls["BatchWriteItem"] += math.ceil(items / BATCH_WRITE_ITEMS)

    def hold_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str, body: str) -> bool:
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = self._held.get((integration_id, segment_id, kind))
            if stored is not None and stored.version > version:
                return False
            self._held[(integration_id, segment_id, kind)] = HeldEvent(version, body)
            return True

    def drop_held_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str) -> None:
        with self._lock:
            self.calls["DeleteItem"] += 1
            stored = self._held.get((integration_id, segment_id, kind))
            if stored is not None and stored.version == version:
                del self._held[(integration_id, segment_id, kind)]

    def mark_pending(self, integration_id: str, segment_id: int, since: str, config: str) -> bool:
        with self._lock:
            # DynamoDB: one conditional UpdateItem, and a second one when the mark must be lowered.
            self.calls["UpdateItem"] += 1
            mark = self._marks.setdefault((integration_id, segment_id), _Mark())
            if mark.resumed is not None and mark.resumed > config:
                return False
            if mark.since is not None and mark.since > since:
                self.calls["UpdateItem"] += 1
            mark.since = since if mark.since is None else min(mark.since, since)
            mark.holds += 1
            return True

    def note_resumed(self, integration_id: str, segment_id: int, config: str) -> None:
        with self._lock:
            self.calls["UpdateItem"] += 1
            mark = self._marks.setdefault((integration_id, segment_id), _Mark())
            if mark.resumed is None or mark.resumed < config:
                mark.resumed = config

    def get_pending(self, integration_id: str, segment_id: int) -> Pending | None:
        with self._lock:
            self.calls["BatchGetItem"] += 1
            mark = self._marks.get((integration_id, segment_id))
            if mark is None or mark.since is None:
                return None
            return Pending(
                since=mark.since,
                holds=mark.holds,
                clear=self._held.get((integration_id, segment_id, "clear")),
                upsert=self._held.get((integration_id, segment_id, "upsert")),
            )

    def finish_pending(self, integration_id: str, segment_id: int, holds: int) -> bool:
        with self._lock:
            self.calls["UpdateItem"] += 1
            mark = self._marks.get((integration_id, segment_id))
            if mark is None or mark.since is None or mark.holds != holds:
                return False
            mark.since = None  # the count stays: a catch-up that read an older mark must not match a new one
            return True

    def start_flush_timer(self, integration_id: str, segment_id: int, due: str, now: str) -> bool:
        with self._lock:
            self.calls["UpdateItem"] += 1
            running = self._flush_timers.get((integration_id, segment_id))
            if running is not None and running >= now:
                return False
            self._flush_timers[(integration_id, segment_id)] = due
            return True

    def stop_flush_timer(self, integration_id: str, segment_id: int) -> None:
        with self._lock:
            self.calls["DeleteItem"] += 1
            self._flush_timers.pop((integration_id, segment_id), None)


@dataclass
class _Counters:
    statements: int = 0
    profiles: int = 0
    errors: int = 0
    retried: int = 0
    last_error: str | None = None
    last_error_at: str | None = None


class InMemoryStatsStore(StatsStore):
    """Per-minute counters in a dictionary.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> stats = InMemoryStatsStore()
    >>> at = datetime(2026, 11, 22, 10, 5, 30, tzinfo=UTC)
    >>> stats.add("i1", at, StatsDelta(statements=2, profiles=40))
    >>> stats.query("i1", at, at)[0].profiles
    40
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, _Counters]] = {}

    def add(self, integration_id: str, at: datetime, delta: StatsDelta) -> None:
        with self._lock:
            self.calls["UpdateItem"] += 1
            bucket = self._buckets.setdefault(integration_id, {}).setdefault(minute_bucket(at), _Counters())
            bucket.statements += delta.statements
            bucket.profiles += delta.profiles
            bucket.errors += delta.errors
            bucket.retried += delta.retried
            if delta.last_error is not None:
                bucket.last_error = delta.last_error[:LAST_ERROR_MAX_CHARS]
                bucket.last_error_at = error_time(at)

    def query(self, integration_id: str, start: datetime, end: datetime) -> list[StatsBucket]:
        first, last = minute_bucket(start), minute_bucket(end)
        if first > last:
            return []
        with self._lock:
            self.calls["Query"] += 1
            return [
                StatsBucket(
                    bucket=name,
                    statements=counters.statements,
                    profiles=counters.profiles,
                    errors=counters.errors,
                    last_error=counters.last_error,
                    last_error_at=counters.last_error_at,
                    retried=counters.retried,
                )
                for name, counters in sorted(self._buckets.get(integration_id, {}).items())
                if first <= name <= last
            ]


class InMemoryContentStore(ContentStore):
    """Contents as the DynamoDB store keeps them: compressed JSON, refused above the same size."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._items: dict[ContentKey, tuple[bytes, int]] = {}

    def put(self, key: ContentKey, content: dict[str, Any], expires_at: datetime) -> bool:
        packed = pack_content(content)
        if packed is None:
            return False
        with self._lock:
            self.calls["PutItem"] += 1
            self._items[key] = (packed, int(expires_at.timestamp()))
        return True

    def get_many(self, keys: Sequence[ContentKey], now: datetime) -> dict[ContentKey, dict[str, Any]]:
        wanted = list(dict.fromkeys(keys))
        with self._lock:
            self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
            found = {key: self._items[key] for key in wanted if key in self._items}
        return {key: unpack_content(packed) for key, (packed, expires) in found.items() if expires > now.timestamp()}


class InMemoryCustomerStore(CustomerStore):
    """Customers as the DynamoDB store keeps them (properties as JSON, a version per home item, alias items),
    each write made atomic by a lock; `calls` counts the DynamoDB calls the same work would make."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._items: dict[tuple[int, str], tuple[str, CustomerRecord] | str] = {}
        self._events: dict[tuple[int, str], dict[str, TrackedEvent]] = {}
        # (account, external order id) -> the order's JSON and its record without the order.
        self._orders: dict[tuple[int, str], tuple[str, OrderRecord]] = {}
        self._devices: dict[tuple[int, str], DeviceRecord] = {}
        # (account, profile id, time#event id) -> the activity's details as JSON and its record without them.
        self._activities: dict[tuple[int, str, str], tuple[str, ActivityRecord]] = {}
        self._entries: dict[tuple[int, CatalogKind, int], CatalogEntry] = {}

    def read(self, account: int, keys: Sequence[str]) -> dict[str, CustomerRecord | CustomerAlias]:
        with self._lock:
            if len(keys) == 1:
                self.calls["GetItem"] += 1
            else:
                self.calls["BatchGetItem"] += math.ceil(len(set(keys)) / BATCH_GET_KEYS)
            stored = {key: self._items.get((account, key)) for key in keys}
        found: dict[str, CustomerRecord | CustomerAlias] = {}
        for key, item in stored.items():
            if isinstance(item, str):
                found[key] = CustomerAlias(key, item)
            elif item is not None:
                found[key] = _loaded(item)
        return found

    def write(self, account: int, record: CustomerRecord, aliases: Sequence[str] = ()) -> bool:
        body = dump_properties(record.properties)
        with self._lock:
            self.calls["TransactWriteItems" if aliases else "PutItem"] += 1
            stored = self._items.get((account, record.key))
            stored_version = stored[1].version if isinstance(stored, tuple) else (None if stored is None else -1)
            if stored_version != (record.version - 1 if record.version > 1 else None):
                return False
            if any((account, alias) in self._items for alias in aliases):
                return False
            self._items[(account, record.key)] = (body, replace(record, properties={}))
            for alias in aliases:
                self._items[(account, alias)] = record.key
            return True

    def add_event(self, account: int, home: str, event: TrackedEvent) -> None:
        stored = replace(event, properties=load_fields(dump_fields(event.properties)))
        with self._lock:
            self.calls["PutItem"] += 1
            self._events.setdefault((account, home), {})[event_sort_key(event)] = stored

    def events(self, account: int, home: str) -> list[TrackedEvent]:
        with self._lock:
            self.calls["Query"] += 1
            kept = self._events.get((account, home), {})
            return [kept[key] for key in sorted(kept)]

    def changed_customers(
        self, account: int, after: str, until: float, limit: int, properties: Collection[str] | None = None
    ) -> list[tuple[str, CustomerRecord]]:
        with self._lock:
            self.calls["Query"] += 1
            homes = [item for (owner, _), item in self._items.items() if owner == account and isinstance(item, tuple)]
        feed = sorted((feed_cursor(item[1].updated_at, item[1].key), item) for item in homes)
        page = [(cursor, item) for cursor, item in feed if cursor > after and item[1].updated_at <= until][:limit]
        return [(cursor, _loaded(item, properties)) for cursor, item in page]

    def changed_events(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, str, TrackedEvent]]:
        with self._lock:
            self.calls["Query"] += 1
            kept = [
                (feed_cursor(event.received_at, f"{home}#{key}"), home, event)
                for (owner, home), events in self._events.items()
                if owner == account
                for key, event in events.items()
            ]
        return [entry for entry in sorted(kept) if entry[0] > after and entry[2].received_at <= until][:limit]

    def put_order(self, account: int, record: OrderRecord) -> bool:
        body = dump_fields(record.order)
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = self._orders.get((account, record.external_order_id))
            if stored is not None and stored[1].version > record.version:
                return False
            created_at = stored[1].created_at if stored is not None else record.created_at
            self._orders[(account, record.external_order_id)] = (body, replace(record, order={}, created_at=created_at))
            return True

    def put_device(self, account: int, record: DeviceRecord) -> bool:
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = self._devices.get((account, record.device_id))
            if stored is not None and stored.version > record.version:
                return False
            created_at = stored.created_at if stored is not None else record.created_at
            device = load_fields(dump_fields(record.device))
            self._devices[(account, record.device_id)] = replace(record, device=device, created_at=created_at)
            return True

    def changed_devices(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, DeviceRecord]]:
        with self._lock:
            self.calls["Query"] += 1
            kept = [record for (owner, _), record in self._devices.items() if owner == account]
        feed = sorted(((feed_cursor(record.updated_at, record.device_id), record) for record in kept), key=_first)
        return [(cursor, record) for cursor, record in feed if cursor > after and record.updated_at <= until][:limit]

    def get_order(self, account: int, external_order_id: str) -> OrderRecord | None:
        with self._lock:
            self.calls["GetItem"] += 1
            stored = self._orders.get((account, external_order_id))
        return None if stored is None else _order(stored)

    def changed_orders(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, OrderRecord]]:
        with self._lock:
            self.calls["Query"] += 1
            kept = [stored for (owner, _), stored in self._orders.items() if owner == account]
        feed = sorted((feed_cursor(item[1].updated_at, item[1].external_order_id), item) for item in kept)
        return [(cursor, _order(item)) for cursor, item in feed if cursor > after and item[1].updated_at <= until][
            :limit
        ]

    def put_activities(self, account: int, records: Sequence[ActivityRecord], keep_until: float | None = None) -> None:
        # Nothing expires here: DynamoDB's TTL deletes days late, and no read depends on when.
        kept = [
            ((account, record.profile_id, feed_cursor(record.occurred_at, record.event_id)), record)
            for record in records
        ]
        # DynamoDB's items: the activity, one per key, and a marker per profile.
        items = len({key for key, _ in kept}) + len({record.profile_id for record in records})
        with self._lock:
            self.calls["BatchWriteItem"] += math.ceil(items / BATCH_WRITE_ITEMS)
            for key, record in kept:
                self._activities[key] = (dump_fields(record.details), replace(record, details={}))

    def changed_activities(
        self, account: int, after: str, until: float, limit: int
    ) -> list[tuple[str, ActivityRecord]]:
        with self._lock:
            self.calls["Query"] += 1
            kept = [item for (owner, _, _), item in self._activities.items() if owner == account]
        feed = sorted(((feed_cursor(item[1].received_at, item[1].event_id), item) for item in kept), key=_first)
        return [
            (cursor, replace(record, details=load_fields(details)))
            for cursor, (details, record) in feed
            if cursor > after and record.received_at <= until
        ][:limit]

    def profiles_with_activity(self, account: int, profile_ids: Collection[str]) -> set[str]:
        wanted = set(profile_ids)
        with self._lock:
            self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
            return {profile for (owner, profile, _) in self._activities if owner == account and profile in wanted}

    def activities_of(self, account: int, profile_id: str, since: float, until: float) -> list[ActivityRecord]:
        since = max(since, 0.0)  # times are kept from 1970 on (feed_cursor sorts no earlier one)
        if since > until:
            return []
        low, high = feed_cursor(since, ""), feed_cursor(until, "\uffff")
        with self._lock:
            self.calls["Query"] += 1
            kept = sorted(
                (key, item)
                for (owner, profile, key), item in self._activities.items()
                if owner == account and profile == profile_id and low <= key <= high
            )
        return [replace(record, details=load_fields(details)) for _, (details, record) in kept]

    def note_entry(
        self,
        account: int,
        kind: CatalogKind,
        entry_id: int,
        values: Mapping[str, Scalar],
        once: Mapping[str, Scalar],
        at: float,
    ) -> bool:
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = self._entries.get((account, kind, entry_id))
            unchanged = stored is not None and all(stored.values.get(name) == value for name, value in values.items())
            if unchanged and stored is not None and all(name in stored.values for name in once):
                return False
            merged = {**once, **(stored.values if stored is not None else {}), **values}
            created_at = stored.created_at if stored is not None else at
            self._entries[(account, kind, entry_id)] = CatalogEntry(kind, entry_id, merged, created_at, at)
            return True

    def changed_entries(
        self, account: int, kind: CatalogKind, after: str, until: float, limit: int
    ) -> list[tuple[str, CatalogEntry]]:
        with self._lock:
            self.calls["Query"] += 1
            kept = [entry for (owner, of, _), entry in self._entries.items() if owner == account and of == kind]
        feed = sorted(((feed_cursor(entry.updated_at, str(entry.entry_id)), entry) for entry in kept), key=_first)
        return [(cursor, entry) for cursor, entry in feed if cursor > after and entry.updated_at <= until][:limit]


def _order(item: tuple[str, OrderRecord]) -> OrderRecord:
    return replace(item[1], order=load_fields(item[0]))


def _first(pair: tuple[str, object]) -> str:
    return pair[0]


def _loaded(item: tuple[str, CustomerRecord], names: Collection[str] | None = None) -> CustomerRecord:
    return replace(item[1], properties=load_properties(item[0], names))


class InMemoryImportStore(ImportStore):
    """Imports kept as the DynamoDB store keeps them (a JSON body and a version), row errors by row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._imports: dict[tuple[int, str], tuple[str, int]] = {}
        self._errors: dict[tuple[int, str], dict[str, str]] = {}

    def create(self, record: ImportRecord) -> None:
        with self._lock:
            self._imports[(record.account, record.import_id)] = (dump_import(record), record.version)

    def get(self, account: int, import_id: str) -> ImportRecord | None:
        with self._lock:
            stored = self._imports.get((account, import_id))
        return None if stored is None else load_import(*stored)

    def list_imports(self, account: int, limit: int = 100) -> list[ImportRecord]:
        with self._lock:
            mine = sorted((key[1], stored) for key, stored in self._imports.items() if key[0] == account)
        return [load_import(*stored) for _, stored in reversed(mine)][:limit]

    def save(self, record: ImportRecord, errors: Sequence[RowError] = ()) -> bool:
        with self._lock:
            kept = self._errors.setdefault((record.account, record.import_id), {})
            kept.update({error_sort_key(error): dump_row_error(error) for error in errors})
            stored = self._imports.get((record.account, record.import_id))
            if stored is None or stored[1] != record.version - 1:
                return False
            self._imports[(record.account, record.import_id)] = (dump_import(record), record.version)
            return True

    def errors(self, account: int, import_id: str, after_row: int = 0, limit: int = 100) -> list[RowError]:
        with self._lock:
            kept = dict(self._errors.get((account, import_id), {}))
        found = [load_row_error(kept[key]) for key in sorted(kept)]
        return [error for error in found if error.row > after_row][:limit]


class InMemoryExportStateStore(ExportStateStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[str, int]] = {}

    def create(self, state: ExportState) -> None:
        with self._lock:
            self._states[state.export_id] = (dump_export_state(state), state.version)

    def get(self, export_id: str) -> ExportState | None:
        with self._lock:
            stored = self._states.get(export_id)
        return None if stored is None else load_export_state(*stored)

    def list_all(self) -> list[ExportState]:
        with self._lock:
            stored = sorted(self._states.items())
        return [load_export_state(*body) for _, body in stored]

    def save(self, state: ExportState) -> bool:
        with self._lock:
            stored = self._states.get(state.export_id)
            if stored is None or stored[1] != state.version - 1:
                return False
            self._states[state.export_id] = (dump_export_state(state), state.version)
            return True

    def delete(self, export_id: str) -> None:
        with self._lock:
            self._states.pop(export_id, None)
