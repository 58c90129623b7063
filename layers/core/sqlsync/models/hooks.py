"""Action hooks: the platform's activity events, and hooks that forward chosen ones to a destination."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from sqlsync.models.datasources import SourceName
from sqlsync.models.events import Database, NonEmpty, Profile

Id = Annotated[int, Field(ge=0)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class HookEventType(StrEnum):
    """The events a hook can forward (docs/hooks.md). Tracking names are the vendor's own."""

    # Message delivery
    SENT = "sent"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    BOUNCED = "bounced"
    SPAM_COMPLAINT = "spam_complaint"
    # Email tracking
    OPEN = "open"
    UNIQUE_OPEN = "uopen"
    CLICK = "click"
    UNIQUE_CLICK = "uclick"
    READ = "read"
    GLANCED = "glanced"
    SKIMMED = "skimmed"
    UNSUBSCRIBED = "unsub"
    CONFIRMED = "confirm"
    CONFIRMED_SUBSCRIPTION = "confirmsub"
    # SMS tracking
    CLICK_SMS = "click_sms"
    UNIQUE_CLICK_SMS = "uclick_sms"
    UNSUBSCRIBED_SMS = "unsub_sms"
    # Push tracking
    OPEN_PUSH = "open_push"
    UNIQUE_OPEN_PUSH = "uopen_push"
    CLICK_PUSH = "click_push"
    UNIQUE_CLICK_PUSH = "uclick_push"
    # Profiles and subscriptions
    SUBSCRIBED = "subscribed"
    RESUBSCRIBED = "resubscribed"
    PROFILE_IMPORTED = "profile_imported"
    PROFILE_UPDATED = "profile_updated"
    # Pixels on the customer's site or app
    PIXEL = "pixel"


class Named(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name: str | None = Field(default=None, max_length=1024)


class Campaign(Named):
    subid: str | None = Field(default=None, max_length=256, description="the campaign's SubID")


class Message(Named):
    """The message template of the event."""

    subject: str | None = Field(default=None, max_length=2048)
    content: dict[str, Any] | None = Field(
        default=None,
        description="what was sent (a `sent` event): kept for the hooks that include content, for the "
        "retention period, and attached to the later events of the same message and profile",
    )


class DataSourceRequest(BaseModel):
    """Rows of one of the account's data sources, sent with the event in `jsonParam` (docs/hooks.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SourceName
    contact: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="the value of the data source's contact column to look up; default: the event's profile id",
    )


MAX_DATA_SOURCES_PER_EVENT = 10


class ActivityEvent(BaseModel):
    """One platform event for action hooks, as `POST /v1/events` accepts it (next to segment events)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NonEmpty = Field(description="stable: receivers deduplicate on it")
    type: HookEventType
    account_id: int = Field(ge=0)
    occurred_at: AwareDatetime
    database: Database | None = None
    profile: Profile | None = None
    resource: Named | None = None
    campaign: Campaign | None = None
    message: Message | None = None
    segments: list[Named] = Field(default_factory=list, max_length=1000)
    pixel: Named | None = None
    event_data: dict[str, Any] = Field(default_factory=dict, description="the event's own data, passed on as is")
    custom_data: dict[str, Any] | None = Field(
        default=None, description="when given, sent as custom_data instead of what the hook's template makes"
    )
    data_sources: list[DataSourceRequest] = Field(
        default_factory=list,
        max_length=MAX_DATA_SOURCES_PER_EVENT,
        description="trigger enrichment: each one's rows for the contact go with the event, in jsonParam, "
        "under the data source's name; a name alone (\"promo_codes\") looks up the event's profile id",
    )
    is_test: bool = False

    @field_validator("data_sources", mode="before")
    @classmethod
    def _names_alone(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("data_sources")
    @classmethod
    def _lookups_possible(cls, value: list[DataSourceRequest], info: ValidationInfo) -> list[DataSourceRequest]:
        names = [request.name for request in value]
        for index, request in enumerate(value):
            if request.name in names[:index]:
                raise ValueError(f"[{index}]: {request.name!r} is asked for twice")
            if request.contact is None and info.data.get("profile") is None:
                raise ValueError(f"[{index}]: no contact to look up: give `contact`, or send the event with a profile")
        return value

    def lookups(self) -> list[tuple[str, str]]:
        """(data source name, contact key) of each data source asked for."""
        profile_id = self.profile.id if self.profile is not None else ""
        return [(request.name, request.contact or profile_id) for request in self.data_sources]


# Hooks -------------------------------------------------------------------------------------------------


class HookFilters(BaseModel):
    """Narrower than the event types: an event passes when it matches every filter that is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    campaign_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    message_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    segment_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    pixel_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)


class CustomDataSpec(BaseModel):
    """What the hook puts in each event's custom_data: chosen profile fields, and key/value pairs whose
    values may use {{uuid}}, {{event_date}}, {{campaign_name}}... (docs/hooks.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile_fields: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=200
    )
    values: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str] = Field(
        default_factory=dict, max_length=200
    )


class HttpDestination(BaseModel):
    """A JSON array of events, POSTed and signed with the Standard Webhooks scheme."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http"] = "http"
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str] = Field(
        default_factory=dict, max_length=50
    )
    batch_size: int = Field(default=100, ge=1, le=1000, description="events per request at most")
    max_wait_seconds: int = Field(
        default=0,
        ge=0,
        le=900,
        description="how long events may wait for others to fill a request of batch_size; 0: send what the "
        "dispatcher has at once",
    )
    timeout_seconds: float = Field(
        default=10, gt=0, le=30, description="the longest a request may take, connecting and reading"
    )
    signing_secret: SecretStr | None = Field(
        default=None,
        description="whsec_ + base64; made for you when absent. Write-only: GET /v1/hooks/{id}/signing-secret",
    )


class RabbitMQDestination(BaseModel):
    """What both RabbitMQ destinations share: the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="amqp[s]://user:password@host:port/vhost; the password is kept in the secret store"
    )


class RabbitMQQueueDestination(RabbitMQDestination):
    kind: Literal["rabbitmq_queue"] = "rabbitmq_queue"
    queue: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class RabbitMQExchangeDestination(RabbitMQDestination):
    kind: Literal["rabbitmq_exchange"] = "rabbitmq_exchange"
    exchange: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    routing_key: str = Field(default="", max_length=255)


class KafkaDestination(BaseModel):
    """One record per event on the topic, keyed by the profile id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kafka"] = "kafka"
    bootstrap_servers: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="host:port[,host:port...]"
    )
    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = Field(default=None, max_length=256)
    sasl_password: SecretStr | None = Field(default=None, description="write-only, kept in the secret store")


Destination = Annotated[
    HttpDestination | RabbitMQQueueDestination | RabbitMQExchangeDestination | KafkaDestination,
    Field(discriminator="kind"),
]


class HookIn(BaseModel):
    """What a user sends to create or replace a hook (POST/PUT /v1/hooks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    active: bool = True
    database_id: int | None = Field(default=None, ge=0, description="scope: one profile database; none: all")
    event_types: list[HookEventType] = Field(min_length=1, max_length=len(HookEventType))
    filters: HookFilters = Field(default_factory=HookFilters)
    custom_data: CustomDataSpec = Field(default_factory=CustomDataSpec)
    include_content: bool = Field(
        default=False, description="attach the content of sent messages, while it is kept (72 h by default)"
    )
    destination: Destination

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[HookEventType]) -> list[HookEventType]:
        return list(dict.fromkeys(value))


class Hook(HookIn):
    """A hook as stored: its destination without secrets (they are in the secret store, `secret_id`)."""

    id: str
    account_id: int = Field(ge=0)
    secret_id: str | None = None
    created_at: datetime
    updated_at: datetime

    def passes(self, event: ActivityEvent) -> bool:
        """Whether the event is one this hook forwards (active, scope, type, every filter set). Ingest asks
        a HookFilter it keeps per hook instead of building one per event."""
        return HookFilter(self).passes(event)


class HookFilter:
    """The test of which events a hook forwards, made once per hook: its ids in sets and only the filters it
    sets, since ingest asks it of every event for every hook of the account."""

    __slots__ = ("account_id", "active", "database_id", "event_types", "named", "segment_ids")

    def __init__(self, hook: Hook) -> None:
        self.active = hook.active
        self.account_id = hook.account_id
        self.event_types = frozenset(hook.event_types)
        self.database_id = hook.database_id
        f = hook.filters
        named = (
            ("resource", f.resource_ids),
            ("campaign", f.campaign_ids),
            ("message", f.message_ids),
            ("pixel", f.pixel_ids),
        )
        self.named = tuple((attribute, frozenset(ids)) for attribute, ids in named if ids is not None)
        self.segment_ids = None if f.segment_ids is None else frozenset(f.segment_ids)

    def passes(self, event: ActivityEvent) -> bool:
        if not self.active or event.account_id != self.account_id or event.type not in self.event_types:
            return False
        if self.database_id is not None and (event.database is None or event.database.id != self.database_id):
            return False
        for attribute, ids in self.named:
            named: Named | None = getattr(event, attribute)
            if named is None or named.id not in ids:
                return False
        return self.segment_ids is None or any(segment.id in self.segment_ids for segment in event.segments)


class HookOut(BaseModel):
    """A hook as the API returns it: secrets never, only whether they are set."""

    id: str
    name: str
    active: bool
    database_id: int | None
    event_types: list[HookEventType]
    filters: HookFilters
    custom_data: CustomDataSpec
    include_content: bool
    destination: dict[str, Any] = Field(description="as sent, with secrets shown as '***'")
    created_at: datetime
    updated_at: datetime


class SigningSecretOut(BaseModel):
    signing_secret: str = Field(description="whsec_ + base64: verify webhook-signature with it (docs/hooks.md)")


class HookTestOut(BaseModel):
    ok: bool
    detail: str = Field(description="what the destination answered, or why it could not be reached")
    latency_ms: float | None = None


QueuedAt = Annotated[float, Field(ge=0, allow_inf_nan=False)]
ContentKeyText = Annotated[str, StringConstraints(pattern=r"^\d+#\d+#")]
"""account#message#profile"""


class HookBatch(BaseModel):
    """On the hook queue: the envelope of a run of one hook's events. Their bodies follow it, one per line,
    already rendered (sqlsync.hooks.wire), so that the dispatcher never parses or builds them again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hook_batch"] = "hook_batch"
    hook_id: str
    attempt: int = Field(default=1, ge=1)
    last_error: str | None = None
    queued_at: QueuedAt | None = Field(default=None, description="unix seconds when ingest queued the events")
    event_ids: list[str] = Field(min_length=1, description="in the order of the bodies")
    keys: list[str | None] = Field(description="each event's profile id: Kafka's record key")
    content_keys: dict[int, ContentKeyText] = Field(
        default_factory=dict,
        description="by event position: account#message#profile, the kept content to attach (include_content)",
    )
    data_sources: dict[int, list[tuple[str, str]]] = Field(
        default_factory=dict,
        description="by event position: (data source name, contact key), rows to add as jsonParam when sent",
    )


class HookDelivery(BaseModel):
    """On the hook queue, as earlier versions wrote it: the envelope of one event for one hook, its body
    after it. Still read (sqlsync.hooks.wire), no longer written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hook"] = "hook"
    hook_id: str
    event_id: str
    key: str | None = None
    content_key: ContentKeyText | None = None
    attempt: int = Field(default=1, ge=1)
    last_error: str | None = None
    queued_at: QueuedAt | None = None
    data_sources: list[tuple[str, str]] = Field(default_factory=list)


class HookStatsBucketOut(BaseModel):
    minute: str
    requests: int = Field(description="requests (HTTP) or publish calls (brokers) that succeeded")
    sent: int = Field(description="events the destination accepted")
    retried: int = Field(description="events put back on the queue for a later attempt")
    failed: int = Field(description="events given up on: in the hook dead-letter queue")


class HookStatsOut(BaseModel):
    hook_id: str
    requests: int
    sent: int
    retried: int
    failed: int
    last_error: str | None
    last_error_at: str | None
    buckets: list[HookStatsBucketOut]
