"""Storage interfaces. `dynamodb.py` implements them on DynamoDB, `memory.py` in memory (tests, benchmarks).

Each store owns its record shapes; the rest of sqlsync sees only the dataclasses below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from sqlsync.customers.merge import Stamped
from sqlsync.models.connectors import Connector
from sqlsync.models.integrations import Integration

if TYPE_CHECKING:
    from sqlsync.customers.imports.reader import RowError
    from sqlsync.models.exports import Export
    from sqlsync.models.hooks import Hook

MembershipState = Literal["in", "out"]
HeldKind = Literal["clear", "upsert"]
"""The segment events a paused integration keeps: the newest cleared-or-deleted one, the newest upserted one."""


class Membership(NamedTuple):
    """The ledger's word on one profile of one segment of one integration.

    `version` is the version of the event that set the state (see SegmentEvent.version: a fixed-width
    UTC time, '#', the event id), so plain string comparison orders versions. `fields` are the profile
    fields of that event, kept so that the state can be applied again later (resync, lost races).
    A tuple: the sync worker makes one per profile.
    """

    profile_id: str
    version: str
    state: MembershipState
    fields: Mapping[str, Any] = MappingProxyType({})
    fields_json: str | None = None
    """The fields as JSON text when the caller has it (as queued): the store keeps it instead of encoding
    `fields` again."""


class MembershipLike(Protocol):
    """What a claim reads: a Membership, or the sync worker's own per-profile tuple, passed as it is
    rather than copied into a Membership per profile."""

    @property
    def profile_id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def state(self) -> MembershipState: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...
    @property
    def fields_json(self) -> str | None: ...


@dataclass(frozen=True)
class HeldEvent:
    """A segment event (cleared, deleted or upserted) received while its integration was paused."""

    version: str
    body: str
    """The event's JSON (SegmentEvent.model_dump_json), replayed by the catch-up."""


@dataclass(frozen=True)
class Pending:
    """What a paused integration left to catch up on in one segment (the "pending since" mark).

    `since` is the oldest version claimed but not applied (a profile change or a held segment event);
    `holds` counts every hold of the segment (never reset), so that the catch-up removes the mark only if
    no hold came while it ran. `clear` and `upsert` are the newest held segment events of each kind.
    """

    since: str
    holds: int
    clear: HeldEvent | None = None
    upsert: HeldEvent | None = None


class LedgerStore(ABC):
    """Membership ledger: segment -> profile -> newest event version and state.

    Conditions are evaluated by the store atomically; equal versions always pass, so that redelivery of
    one event is applied again (templates are idempotent) instead of being lost after a failed attempt.
    """

    @abstractmethod
    def get_members(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, Membership]:
        """Entries for those profiles that have one (consistent read)."""

    @abstractmethod
    def get_versions(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, str]:
        """The versions alone of those profiles that have an entry (consistent read): the cheap check
        after a commit, which usually finds nothing moved."""

    @abstractmethod
    def claim(self, integration_id: str, segment_id: int, membership: MembershipLike) -> Membership | None:
        """Store `membership` unless a strictly newer entry exists. None when stored, else that entry."""

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        """`claim` for each membership, results in the same order. Stores with network latency override
        this to claim concurrently; each claim stays its own conditional write."""
        return [self.claim(integration_id, segment_id, membership) for membership in memberships]

    @abstractmethod
    def get_cleared(self, integration_id: str, segment_id: int) -> str | None:
        """Version of the newest 'segment cleared' event seen, or None (consistent read)."""

    @abstractmethod
    def claim_cleared(self, integration_id: str, segment_id: int, version: str) -> str | None:
        """Store the cleared version unless a strictly newer one exists. None when stored, else that one."""

    @abstractmethod
    def claim_segment(self, integration_id: str, segment_id: int, version: str) -> str | None:
        """Store the version of an upserted or deleted event (the segment's own state) unless a strictly
        newer one exists. None when stored, else that one: the event is stale."""

    @abstractmethod
    def members(self, integration_id: str, segment_id: int, newer_than: str = "") -> Iterator[Membership]:
        """Every entry of the segment whose version is strictly greater than `newer_than`."""

    @abstractmethod
    def members_since(self, integration_id: str, segment_id: int, oldest: str) -> Iterator[Membership]:
        """Every entry of the segment whose version is `oldest` or newer (`members` is strict)."""

    @abstractmethod
    def forget_segment(self, integration_id: str, segment_id: int) -> None:
        """Delete every entry of the segment, its cleared marker, its pending mark and held events."""

    # Paused integrations (docs/pause-and-resume.md) ------------------------------------------------

    @abstractmethod
    def hold_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str, body: str) -> bool:
        """Keep a segment event of a paused integration unless a newer one of that kind is held. True
        when stored (equal versions pass, as for claims)."""

    @abstractmethod
    def drop_held_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str) -> None:
        """Delete the held event of that kind if it is still the one of `version` (a newer one stays)."""

    @abstractmethod
    def mark_pending(self, integration_id: str, segment_id: int, since: str, config: str) -> bool:
        """Record that changes from `since` on were claimed but not applied: the mark's oldest version
        becomes `since` if that is older (or there is no mark), and its hold count goes up by one, in any
        case. Called after the claims, so that a catch-up reading the mark sees them or fails to remove it.

        `config` is the version of the (paused) configuration the caller holds under. False, and nothing
        written, when the segment was resumed under a newer configuration (`note_resumed`): the caller's
        cached configuration is stale, the integration is active again and its events must be applied."""

    @abstractmethod
    def note_resumed(self, integration_id: str, segment_id: int, config: str) -> None:
        """Record that the segment is caught up under the (active) configuration `config`; never lowered."""

    @abstractmethod
    def get_pending(self, integration_id: str, segment_id: int) -> Pending | None:
        """The pending mark with the held events, or None when there is no mark (consistent read)."""

    @abstractmethod
    def finish_pending(self, integration_id: str, segment_id: int, holds: int) -> bool:
        """Remove the pending mark if its hold count is still `holds` (no hold came meanwhile); the count and
        the resumed configuration stay. False, and nothing removed, when it changed or is gone."""

    # Gathered batches (an integration's batch_timeout) -----------------------------------------------

    @abstractmethod
    def start_flush_timer(self, integration_id: str, segment_id: int, due: str, now: str) -> bool:
        """Set the segment's flush timer to `due` unless one is running (set, and not due before `now`).
        True when set: the caller sends the delayed flush. Times are `stamp`s (they order as strings)."""

    @abstractmethod
    def stop_flush_timer(self, integration_id: str, segment_id: int) -> None:
        """Remove the timer: the flush has started, so a hold from now on starts the next one."""


@dataclass(frozen=True)
class StatsDelta:
    statements: int = 0
    profiles: int = 0
    errors: int = 0
    last_error: str | None = None
    retried: int = 0
    """Action hooks only: events put back for a later attempt."""

    def __add__(self, other: StatsDelta) -> StatsDelta:
        """The counts summed; the later last error (`other`'s, when it has one)."""
        return StatsDelta(
            statements=self.statements + other.statements,
            profiles=self.profiles + other.profiles,
            errors=self.errors + other.errors,
            last_error=other.last_error if other.last_error is not None else self.last_error,
            retried=self.retried + other.retried,
        )


@dataclass(frozen=True)
class StatsBucket:
    """Sync statistics of one integration for one minute (`bucket` like '2026-11-22T10:05Z')."""

    bucket: str
    statements: int
    profiles: int
    errors: int
    last_error: str | None = None
    last_error_at: str | None = None
    retried: int = 0


def minute_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


class StatsStore(ABC):
    @abstractmethod
    def add(self, integration_id: str, at: datetime, delta: StatsDelta) -> None:
        """Add the counters to the minute bucket of `at` (atomic increments); keep the last error."""

    @abstractmethod
    def query(self, integration_id: str, start: datetime, end: datetime) -> list[StatsBucket]:
        """Buckets with start <= minute <= end, oldest first."""


class ConfigStore(ABC):
    """Configuration objects (integrations, connectors), each kept as its model's JSON under (kind, id)
    and listed per account. Implementations provide the four body operations."""

    def put_integration(self, integration: Integration) -> None:
        self.put_body("integration", integration.id, integration.account_id, integration.model_dump_json())

    def get_integration(self, integration_id: str) -> Integration | None:
        body = self.get_body("integration", integration_id)
        return None if body is None else Integration.model_validate_json(body)

    def list_integrations(self, account_id: int) -> list[Integration]:
        return [Integration.model_validate_json(body) for body in self.list_bodies("integration", account_id)]

    def delete_integration(self, integration_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("integration", integration_id)

    def put_connector(self, connector: Connector) -> None:
        self.put_body("connector", connector.id, connector.account_id, connector.model_dump_json())

    def get_connector(self, connector_id: str) -> Connector | None:
        body = self.get_body("connector", connector_id)
        return None if body is None else Connector.model_validate_json(body)

    def list_connectors(self, account_id: int) -> list[Connector]:
        return [Connector.model_validate_json(body) for body in self.list_bodies("connector", account_id)]

    def delete_connector(self, connector_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("connector", connector_id)

    # Hook models are imported on use: the sync worker never needs them (cold start).

    def put_hook(self, hook: Hook) -> None:
        self.put_body("hook", hook.id, hook.account_id, hook.model_dump_json())

    def get_hook(self, hook_id: str) -> Hook | None:
        from sqlsync.models.hooks import Hook

        body = self.get_body("hook", hook_id)
        return None if body is None else Hook.model_validate_json(body)

    def list_hooks(self, account_id: int) -> list[Hook]:
        from sqlsync.models.hooks import Hook

        return [Hook.model_validate_json(body) for body in self.list_bodies("hook", account_id)]

    def delete_hook(self, hook_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("hook", hook_id)

    def put_export(self, export: Export) -> None:
        self.put_body("export", export.id, export.account_id, export.model_dump_json())

    def get_export(self, export_id: str) -> Export | None:
        from sqlsync.models.exports import Export

        body = self.get_body("export", export_id)
        return None if body is None else Export.model_validate_json(body)

    def list_exports(self, account_id: int) -> list[Export]:
        from sqlsync.models.exports import Export

        return [Export.model_validate_json(body) for body in self.list_bodies("export", account_id)]

    def delete_export(self, export_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("export", export_id)

    def data_source_names(self, account_id: int) -> frozenset[str]:
        """The names of an account's data sources (saved by sqlsync.datasources.service, kind "datasource")."""
        from sqlsync.models.datasources import DataSource

        return frozenset(
            DataSource.model_validate_json(body).name for body in self.list_bodies("datasource", account_id)
        )

    @abstractmethod
    def put_body(self, kind: str, object_id: str, account_id: int, body: str) -> None: ...

    @abstractmethod
    def get_body(self, kind: str, object_id: str) -> str | None: ...

    @abstractmethod
    def list_bodies(self, kind: str, account_id: int) -> list[str]:
        """The bodies of an account's objects of a kind, ordered by id."""

    @abstractmethod
    def delete_body(self, kind: str, object_id: str) -> bool:
        """True when it existed."""


ContentKey = tuple[int, int, str]
"""(account id, message id, profile id): what was sent to whom."""


class ContentStore(ABC):
    """The content of sent messages, kept for the hooks that attach it (include_content) until it expires."""

    @abstractmethod
    def put(self, key: ContentKey, content: dict[str, Any], expires_at: datetime) -> bool:
        """Keep it until `expires_at`; False when it is too large to keep (it is then not attached)."""

    @abstractmethod
    def get_many(self, keys: Sequence[ContentKey], now: datetime) -> dict[ContentKey, dict[str, Any]]:
        """The contents still kept at `now` (the table's TTL deletes late, so expiry is checked here too)."""


@dataclass(frozen=True)
class CustomerRecord:
    """A customer, stored under its home key (the first of its ids, "type:value"): all its ids (home first),
    its properties each with the time of its last update, and its version (the optimistic lock)."""

    key: str
    ids: tuple[str, ...]
    properties: dict[str, Stamped]
    version: int
    created_at: float = 0.0
    updated_at: float = 0.0
    """When sqlsync last wrote the customer (its place in the change feed that exports read)."""
    source: str = ""
    """What created it: API (tracking) or IMPORT."""


@dataclass(frozen=True)
class CustomerAlias:
    """Another id of a customer: points at the home key the customer is stored under."""

    key: str
    home: str


@dataclass(frozen=True)
class TrackedEvent:
    """An event tracked for a customer (`customers/events`): its type, time (unix seconds) and properties."""

    event_type: str
    timestamp: float
    properties: dict[str, Any]
    received_at: float = field(default=0.0, compare=False)
    """When sqlsync kept it (its place in the change feed); not part of what the event is."""


@dataclass(frozen=True)
class OrderRecord:
    """An order kept for the orders exports (sent to ingest as order events, models/orders.py), one per external
    order id of an account: the whole order as last received, the customer it belongs to and the version of
    the event that brought it."""

    external_order_id: str
    home: str
    """The home key of the order's customer (sqlsync.customers.ids)."""
    version: str
    """The event's version (OrderEvent.version: a fixed-width UTC time, '#', the event id): orders as text."""
    order: dict[str, Any]
    """The order as JSON values (models.orders.Order.model_dump(mode="json"))."""
    created_at: float = 0.0
    """When sqlsync first kept the order: a later write keeps the stored one."""
    updated_at: float = 0.0
    """When sqlsync last wrote the order (its place in the change feed)."""


@dataclass(frozen=True)
class DeviceRecord:
    """A device kept for the devices exports (sent to ingest as device events, models/devices.py), one per device
    id of an account: the device as last received, the customer using it and the version of the event."""

    device_id: str
    home: str
    """The home key of the device's customer (sqlsync.customers.ids)."""
    version: str
    """The event's version, as OrderRecord's."""
    device: dict[str, Any]
    """The device as JSON values (models.devices.Device.model_dump(mode="json"))."""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class ActivityRecord:
    """A message activity event (a delivery, an open, a click...) kept for the activity exports, under its
    event id: what sqlsync.customers.activity takes from the event."""

    event_id: str
    event_type: str
    profile_id: str
    occurred_at: float
    """Unix seconds."""
    details: dict[str, Any]
    """The campaign, message, segment, link and description the exports read (JSON values)."""
    received_at: float = 0.0
    """When sqlsync kept it (its place in the change feed)."""


CatalogKind = Literal["message", "broadcast"]
Scalar = str | int | float


@dataclass(frozen=True)
class CatalogEntry:
    """What the activity events have said of one message or one broadcast (campaign) of an account."""

    kind: CatalogKind
    entry_id: int
    values: dict[str, Scalar]
    created_at: float = 0.0
    """When sqlsync first heard of it."""
    updated_at: float = 0.0
    """When one of its values last changed (its place in the change feed)."""


def feed_cursor(at: float, key: str) -> str:
    """A position in a change feed: items changed at `at` (unix seconds), then by key; sorts as text."""
    return f"{at:020.6f}#{key}"


class CustomerStore(ABC):
    """Customers of each account, by id key (sqlsync.customers.ids): one home item per customer holding its
    properties, one alias item per other id (docs/customers.md)."""

    @abstractmethod
    def read(self, account: int, keys: Sequence[str]) -> dict[str, CustomerRecord | CustomerAlias]:
        """The items of those id keys that exist (one GetItem for one key, a BatchGetItem per 100 for more)."""

    @abstractmethod
    def write(self, account: int, record: CustomerRecord, aliases: Sequence[str] = ()) -> bool:
        """Store `record` (version n) only if the stored version is still n - 1 (n == 1: only if there is
        no item under its key yet), together with an alias to it for each of `aliases`, each only if that
        key is still free; all or nothing. False when another writer came first."""

    @abstractmethod
    def add_event(self, account: int, home: str, event: TrackedEvent) -> None:
        """Keep the event under the customer. The same event (type, time, properties) twice is kept once."""

    @abstractmethod
    def events(self, account: int, home: str) -> list[TrackedEvent]:
        """The customer's events, oldest first."""

    @abstractmethod
    def changed_customers(
        self, account: int, after: str, until: float, limit: int, properties: Collection[str] | None = None
    ) -> list[tuple[str, CustomerRecord]]:
        """Customers written after the feed cursor `after` and at or before `until`, oldest change first, each
        with its cursor (`feed_cursor(updated_at, key)`): what an incremental export reads. `properties`: only
        these are decoded into the records (an export reads a few of each customer's properties)."""

    @abstractmethod
    def changed_events(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, str, TrackedEvent]]:
        """Events kept after the cursor `after` and at or before `until`: (cursor, home key, event)."""

    @abstractmethod
    def put_order(self, account: int, record: OrderRecord) -> bool:
        """Store the order unless the one kept under its external id has a strictly newer version (equal
        versions pass: a redelivered event is written again, to the same values). One conditional write; the
        stored `created_at`, if any, is kept. False when a newer order is kept (nothing written)."""

    @abstractmethod
    def get_order(self, account: int, external_order_id: str) -> OrderRecord | None:
        """The order kept under that external id (consistent read), or None."""

    @abstractmethod
    def changed_orders(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, OrderRecord]]:
        """Orders written after the feed cursor `after` and at or before `until`, oldest write first, each with
        its cursor (`feed_cursor(updated_at, external_order_id)`)."""

    @abstractmethod
    def put_device(self, account: int, record: DeviceRecord) -> bool:
        """Store the device as put_order stores an order: unless a strictly newer one is kept under its id."""

    @abstractmethod
    def changed_devices(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, DeviceRecord]]:
        """Devices written after the feed cursor `after` and at or before `until`, oldest write first, each with
        its cursor (`feed_cursor(updated_at, device_id)`)."""

    @abstractmethod
    def put_activities(self, account: int, records: Sequence[ActivityRecord], keep_until: float | None = None) -> None:
        """Keep the activity events, each under its event id (the same event again replaces itself), until
        `keep_until` (unix seconds; DynamoDB's TTL deletes them, up to days later) or for good."""

    @abstractmethod
    def changed_activities(
        self, account: int, after: str, until: float, limit: int
    ) -> list[tuple[str, ActivityRecord]]:
        """Activity kept after the feed cursor `after` and at or before `until`, oldest first, each with its
        cursor (`feed_cursor(received_at, event_id)`)."""

    @abstractmethod
    def profiles_with_activity(self, account: int, profile_ids: Collection[str]) -> set[str]:
        """Those of the profiles that have activity kept (a BatchGetItem per 100)."""

    @abstractmethod
    def activities_of(self, account: int, profile_id: str, since: float, until: float) -> list[ActivityRecord]:
        """The profile's activity that occurred from `since` to `until` (unix seconds, both included), oldest
        first: one Query."""

    @abstractmethod
    def note_entry(
        self,
        account: int,
        kind: CatalogKind,
        entry_id: int,
        values: Mapping[str, Scalar],
        once: Mapping[str, Scalar],
        at: float,
    ) -> bool:
        """Record what an event says of a message or a broadcast: `values` replace the stored ones (absent
        names stay as stored), `once` are stored only where the entry has none yet (a broadcast's start).
        Written, with `at` as its update time, only when the entry is new or one of these changes it, so that
        its change feed moves only then. One conditional write; returns whether it wrote."""

    @abstractmethod
    def changed_entries(
        self, account: int, kind: CatalogKind, after: str, until: float, limit: int
    ) -> list[tuple[str, CatalogEntry]]:
        """Entries of that kind changed after the cursor `after` and at or before `until`, oldest change first,
        each with its cursor (`feed_cursor(updated_at, str(entry_id))`)."""


ImportStatus = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class ImportRecord:
    """A customer import and its progress: where reading stopped (offset, row, line: the reader's Position),
    what it did so far, and its version (each checkpoint is a write on the version read)."""

    account: int
    import_id: str
    mapping: dict[str, Any]
    """The ImportMapping as the API received it."""
    source: str
    """The key of the CSV file in the object store."""
    created_at: float
    """Unix seconds: also the update time of rows that have none of their own."""
    status: ImportStatus = "queued"
    header: tuple[str, ...] = ()
    offset: int = 0
    row: int = 0
    line: int = 0
    bytes_total: int = 0
    rows_imported: int = 0
    rows_failed: int = 0
    customers_created: int = 0
    properties_updated: int = 0
    errors_kept: int = 0
    """Row errors stored for the report (the first MAX_ERRORS_KEPT; rows_failed counts them all)."""
    failure: str | None = None
    """Why the import as a whole failed (a mapping that does not fit the file...)."""
    updated_at: float = 0.0
    finished_at: float | None = None
    version: int = 1


class ImportStore(ABC):
    """Imports of each account and their row errors (in the customers table)."""

    @abstractmethod
    def create(self, record: ImportRecord) -> None: ...

    @abstractmethod
    def get(self, account: int, import_id: str) -> ImportRecord | None: ...

    @abstractmethod
    def list_imports(self, account: int, limit: int = 100) -> list[ImportRecord]:
        """The account's imports, newest first."""

    @abstractmethod
    def save(self, record: ImportRecord, errors: Sequence[RowError] = ()) -> bool:
        """Store the row errors, then `record` (version n) only if the stored version is still n - 1. False
        when another run of the same import came first (this run then stops; the errors it stored are the
        same ones the other run stores, under the same keys)."""

    @abstractmethod
    def errors(self, account: int, import_id: str, after_row: int = 0, limit: int = 100) -> list[RowError]:
        """Row errors of rows after `after_row`, in row order."""


@dataclass(frozen=True)
class ExportState:
    """Where an export stands: when it runs next, who runs it now (a lease), how far each dataset got (a
    change-feed cursor per dataset) and how its last run went. Saved on the version read, so that two
    exporters cannot both run it, and a run's progress is never overwritten by an older view of it."""

    export_id: str
    account_id: int
    next_run_at: float
    lease_until: float = 0.0
    watermarks: dict[str, str] = field(default_factory=dict)
    last_run: dict[str, Any] | None = None
    version: int = 1


class ExportStateStore(ABC):
    @abstractmethod
    def create(self, state: ExportState) -> None: ...

    @abstractmethod
    def get(self, export_id: str) -> ExportState | None: ...

    @abstractmethod
    def list_all(self) -> list[ExportState]:
        """Every export's state, all accounts (the scheduler's look for due exports: exports are few)."""

    @abstractmethod
    def save(self, state: ExportState) -> bool:
        """Store `state` (version n) only if the stored version is still n - 1; False otherwise."""

    @abstractmethod
    def delete(self, export_id: str) -> None: ...
