"""The stores on DynamoDB, through the low-level client (no resource layer: less import time, no Decimal).

Key layouts are fixed by template.yaml; each store documents its own (the ledger table holds members,
the cleared marker, the pending mark of a paused integration and its held segment events: see
DynamoDBLedgerStore). Every boto3 failure leaves as a StoreError whose `__cause__` is the boto3 exception.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from itertools import islice, takewhile
from typing import TYPE_CHECKING, Any, Literal, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sqlsync.store._codec import (
    LAST_ERROR_MAX_CHARS,
    claimed_fields,
    dump_export_state,
    dump_fields,
    dump_ids,
    dump_import,
    dump_properties,
    dump_row_error,
    error_sort_key,
    error_time,
    event_sort_key,
    expires_at,
    load_export_state,
    load_fields,
    load_ids,
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
from sqlsync.store.exceptions import StoreError

if TYPE_CHECKING:
    from typing import TypeAlias

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
        WriteRequestTypeDef,
    )

    from sqlsync.customers.imports.reader import RowError

    Item: TypeAlias = dict[str, AttributeValueTypeDef]

BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
_PROFILE = "profile#"
_CLEARED = "cleared"
_SEGMENT = "segment"
_PENDING = "pending"
_HELD = "held#"
_FLUSH = "flush"
_CUSTOMER = "customer"
_ORDER = "order"
_DEVICE = "device"
_ACTIVITY = "activity"
_PROFILE_MARK = "~profile"
"""The sort key of a profile's activity marker: after every time-ordered activity item of the partition."""
_EXPORT_STATE = "exportstate"
_MARK_ROUNDS = 10
_STATES: dict[str, MembershipState] = {"in": "in", "out": "out"}


class _Table:
    """One table and its client. The client is made on first use: creating one costs cold-start time."""

    max_attempts = 6
    """Attempts for the unprocessed part of a batch call (throttling) before giving up."""
    base_delay = 0.05
    """Seconds; the backoff before attempt n is uniform in [0, base_delay * 2**n) (full jitter)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None, connections: int = 10) -> None:
        self.table_name = table_name
        self.connections = connections
        """HTTP connections the client keeps (botocore's default is 10): at least one per calling thread,
        else urllib3 drops the extra ones and each call beyond them opens a new TLS connection."""
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = boto3.client("dynamodb", config=Config(max_pool_connections=self.connections))
        return self._client

    def _failure(self, operation: str, exc: Exception) -> StoreError:
        return StoreError(f"DynamoDB {operation} on table {self.table_name!r} failed: {exc}")

    @contextmanager
    def _calling(self, operation: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(operation, exc) from exc

    def _back_off(self, attempt: int, operation: str) -> None:
        if attempt + 1 >= self.max_attempts:
            raise StoreError(
                f"DynamoDB {operation} on table {self.table_name!r}: items still unprocessed "
                f"after {self.max_attempts} attempts"
            )
        time.sleep(random.uniform(0, self.base_delay * 2**attempt))

    def _query(self, request: QueryInputTypeDef) -> Iterator[Item]:
        """Every item of the query, page after page, fetched as the caller advances."""
        page = request
        while True:
            with self._calling("Query"):
                response = self.client.query(**page)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            page = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def _get_item(self, key: Item) -> Item | None:
        with self._calling("GetItem"):
            response = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        return response.get("Item")

    def _batch_get(self, keys: list[Item], projection: str | None = None) -> list[Item]:
        """At most BATCH_GET_KEYS distinct keys; retries what DynamoDB leaves unprocessed.

        `projection` lists attribute names to read ("sk version"): names are aliased, as several are
        reserved words."""
        pending: KeysAndAttributesTypeDef = {"Keys": keys, "ConsistentRead": True}
        if projection is not None:
            names = {f"#a{index}": name for index, name in enumerate(projection.split())}
            pending["ProjectionExpression"] = ", ".join(names)
            pending["ExpressionAttributeNames"] = names
        items: list[Item] = []
        attempt = 0
        while True:
            with self._calling("BatchGetItem"):
                response = self.client.batch_get_item(RequestItems={self.table_name: pending})
            items.extend(response["Responses"].get(self.table_name, []))
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
            if not unprocessed or not unprocessed["Keys"]:
                return items
            self._back_off(attempt, "BatchGetItem")
            attempt += 1
            pending = {**pending, "Keys": unprocessed["Keys"]}

    def _put_if(self, request: dict[str, Any]) -> bool:
        """A conditional PutItem: False when its condition fails."""
        try:
            self.client.put_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._failure("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise self._failure("PutItem", exc) from exc
        return True

    def _batch_delete(self, keys: list[Item]) -> None:
        """At most BATCH_WRITE_ITEMS keys."""
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    def _batch_put(self, items: list[Item]) -> None:
        """At most BATCH_WRITE_ITEMS items."""
        self._batch_write([{"PutRequest": {"Item": item}} for item in items])

    def _batch_write(self, requests: list[WriteRequestTypeDef]) -> None:
        """Retries what DynamoDB leaves unprocessed (it hands those requests back as they were sent)."""
        pending = requests
        attempt = 0
        while True:
            with self._calling("BatchWriteItem"):
                response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            unprocessed = response.get("UnprocessedItems", {}).get(self.table_name)
            if not unprocessed:
                return
            self._back_off(attempt, "BatchWriteItem")
            attempt += 1
            pending = cast("list[WriteRequestTypeDef]", unprocessed)

    def _set_unless_newer(self, key: Item, values: dict[str, str]) -> Item | None:
        """SET `values` (a "version" among them) unless the stored version is strictly newer.

        Returns None when written, else the stored item, which DynamoDB hands back with the failed
        condition (ReturnValuesOnConditionCheckFailure): one call either way.
        """
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ConditionExpression="attribute_not_exists(#version) OR #version <= :version",
                ExpressionAttributeNames={f"#{name}": name for name in values},
                ExpressionAttributeValues={f":{name}": {"S": value} for name, value in values.items()},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._failure("UpdateItem", exc) from exc
            stored: Item | None = cast("dict[str, Any]", exc.response).get("Item")
            if not stored:
                raise self._failure("UpdateItem", exc) from exc
            return stored
        except BotoCoreError as exc:
            raise self._failure("UpdateItem", exc) from exc
        return None


def _key(pk: str, sk: str) -> Item:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class DynamoDBConfigStore(_Table, ConfigStore):
    """Integrations and connectors: pk "<kind>#<id>", sk "<kind>", the model's JSON in `body`.

    GSI gsi1 (gsi1pk "account#<account_id>", gsi1sk "<kind>#<id>") lists an account's objects of a kind
    ordered by id.

    Examples
    --------
    >>> store = DynamoDBConfigStore("sqlsync-config")  # the client is created on first use
    >>> store.table_name
    'sqlsync-config'
    """

    def put_body(self, kind: str, object_id: str, account_id: int, body: str) -> None:
        with self._calling("PutItem"):
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    **_key(f"{kind}#{object_id}", kind),
                    "gsi1pk": {"S": f"account#{account_id}"},
                    "gsi1sk": {"S": f"{kind}#{object_id}"},
                    "body": {"S": body},
                },
            )

    def get_body(self, kind: str, object_id: str) -> str | None:
        item = self._get_item(_key(f"{kind}#{object_id}", kind))
        return None if item is None else item["body"]["S"]

    def list_bodies(self, kind: str, account_id: int) -> list[str]:
        items = self._query(
            {
                "TableName": self.table_name,
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :account AND begins_with(gsi1sk, :kind)",
                "ExpressionAttributeValues": {":account": {"S": f"account#{account_id}"}, ":kind": {"S": f"{kind}#"}},
            }
        )
        return [item["body"]["S"] for item in items]

    def delete_body(self, kind: str, object_id: str) -> bool:
        with self._calling("DeleteItem"):
            response = self.client.delete_item(
                TableName=self.table_name, Key=_key(f"{kind}#{object_id}", kind), ReturnValues="ALL_OLD"
            )
        return bool(response.get("Attributes"))


def _ledger_pk(integration_id: str, segment_id: int) -> str:
    return f"{integration_id}#{segment_id}"


def _membership(item: Item) -> Membership:
    return Membership(
        profile_id=item["sk"]["S"].removeprefix(_PROFILE),
        version=item["version"]["S"],
        state=_STATES[item["state"]["S"]],
        fields=load_fields(item["fields"]["S"]),
    )


class DynamoDBLedgerStore(_Table, LedgerStore):
    """The membership ledger: pk "<integration_id>#<segment_id>".

    A member is sk "profile#<profile_id>" with `version`, `state` ("in"/"out") and `fields` (JSON text);
    the segment's cleared marker is sk "cleared" with `version`. Each claim is one conditional
    UpdateItem: BatchWriteItem takes no condition, and a transaction fails whole on one stale profile.

    A paused integration (docs/pause-and-resume.md) adds, per segment:

    * sk "pending": `since` (the oldest version claimed but not applied; absent once caught up), `holds`
      (a number, +1 per hold, never reset) and `resumed` (the updated_at, as a fixed-width UTC string,
      of the active configuration the segment was last caught up under; it only grows). A hold is refused
      when `resumed` is newer than the paused configuration it holds under.
    * sk "held#clear" and "held#upsert": the newest held cleared-or-deleted event and the newest held
      upserted event, each with `version` and `body` (the event's JSON), written unless newer.

    All of them are single-item conditional writes; no index is needed (the catch-up reads the three
    items with one BatchGetItem and lists members with the same Query as `members`).

    Examples
    --------
    >>> ledger = DynamoDBLedgerStore("sqlsync-ledger")
    >>> ledger.max_attempts  # batch retries of unprocessed keys before StoreError
    6
    """

    def __init__(self, table_name: str, client: DynamoDBClient | None = None, claim_threads: int = 16) -> None:
        # The claim threads, and the caller's own thread for the other calls.
        super().__init__(table_name, client, connections=max(10, claim_threads + 1))
        self.claim_threads = claim_threads
        self._pool: ThreadPoolExecutor | None = None

    def get_members(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, Membership]:
        pk = _ledger_pk(integration_id, segment_id)
        keys = [_key(pk, _PROFILE + profile_id) for profile_id in dict.fromkeys(profile_ids)]
        found: dict[str, Membership] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            for item in self._batch_get(keys[start : start + BATCH_GET_KEYS]):
                membership = _membership(item)
                found[membership.profile_id] = membership
        return found

    def get_versions(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, str]:
        pk = _ledger_pk(integration_id, segment_id)
        keys = [_key(pk, _PROFILE + profile_id) for profile_id in dict.fromkeys(profile_ids)]
        found: dict[str, str] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            for item in self._batch_get(keys[start : start + BATCH_GET_KEYS], "sk version"):
                found[item["sk"]["S"][len(_PROFILE) :]] = item["version"]["S"]
        return found

    def claim(self, integration_id: str, segment_id: int, membership: MembershipLike) -> Membership | None:
        stored = self._set_unless_newer(
            _key(_ledger_pk(integration_id, segment_id), _PROFILE + membership.profile_id),
            {
                "version": membership.version,
                "state": membership.state,
                "fields": claimed_fields(membership),
            },
        )
        return None if stored is None else _membership(stored)

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        """One conditional write per profile (BatchWriteItem takes no conditions, and TransactWriteItems
        fails whole on one), spread over `claim_threads` threads, each claiming a contiguous slice: one
        task per slice rather than per profile keeps the thread hand-off off the per-profile cost."""
        if len(memberships) <= 1:
            return [self.claim(integration_id, segment_id, membership) for membership in memberships]
        slices = min(self.claim_threads, len(memberships))
        size = -(-len(memberships) // slices)
        parts = [memberships[start : start + size] for start in range(0, len(memberships), size)]
        results = self._claim_pool().map(
            lambda part: [self.claim(integration_id, segment_id, membership) for membership in part], parts
        )
        return [result for part in results for result in part]

    def _claim_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._client_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.claim_threads, thread_name_prefix="ledger-claim")
        return self._pool

    def get_cleared(self, integration_id: str, segment_id: int) -> str | None:
        item = self._get_item(_key(_ledger_pk(integration_id, segment_id), _CLEARED))
        return None if item is None else item["version"]["S"]

    def claim_cleared(self, integration_id: str, segment_id: int, version: str) -> str | None:
        stored = self._set_unless_newer(_key(_ledger_pk(integration_id, segment_id), _CLEARED), {"version": version})
        return None if stored is None else stored["version"]["S"]

    def claim_segment(self, integration_id: str, segment_id: int, version: str) -> str | None:
        stored = self._set_unless_newer(_key(_ledger_pk(integration_id, segment_id), _SEGMENT), {"version": version})
        return None if stored is None else stored["version"]["S"]

    def members(self, integration_id: str, segment_id: int, newer_than: str = "") -> Iterator[Membership]:
        return self._members(integration_id, segment_id, ">", newer_than)

    def members_since(self, integration_id: str, segment_id: int, oldest: str) -> Iterator[Membership]:
        return self._members(integration_id, segment_id, ">=", oldest)

    def _members(self, integration_id: str, segment_id: int, compare: str, version: str) -> Iterator[Membership]:
        request: QueryInputTypeDef = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :profile)",
            "ExpressionAttributeValues": {
                ":pk": {"S": _ledger_pk(integration_id, segment_id)},
                ":profile": {"S": _PROFILE},
            },
            "ConsistentRead": True,
        }
        if version:
            request["FilterExpression"] = f"#version {compare} :version"
            request["ExpressionAttributeNames"] = {"#version": "version"}
            request["ExpressionAttributeValues"] = {
                **request["ExpressionAttributeValues"],
                ":version": {"S": version},
            }
        for item in self._query(request):
            yield _membership(item)

    def forget_segment(self, integration_id: str, segment_id: int) -> None:
        """Deletes while paging, so a segment of millions of profiles never sits in memory."""
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": _ledger_pk(integration_id, segment_id)}},
                "ProjectionExpression": "pk, sk",
                "ConsistentRead": True,
            }
        )
        keys: list[Item] = []
        for item in items:
            keys.append(_key(item["pk"]["S"], item["sk"]["S"]))
            if len(keys) == BATCH_WRITE_ITEMS:
                self._batch_delete(keys)
                keys = []
        if keys:
            self._batch_delete(keys)

    # Paused integrations -----------------------------------------------------------------------------

    def hold_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str, body: str) -> bool:
        key = _key(_ledger_pk(integration_id, segment_id), _HELD + kind)
        return self._set_unless_newer(key, {"version": version, "body": body}) is None

    def drop_held_event(self, integration_id: str, segment_id: int, kind: HeldKind, version: str) -> None:
        self._update_if(
            "DeleteItem",
            _key(_ledger_pk(integration_id, segment_id), _HELD + kind),
            None,
            "#version = :version",
            {"#version": "version"},
            {":version": {"S": version}},
        )

    def mark_pending(self, integration_id: str, segment_id: int, since: str, config: str) -> bool:
        """One UpdateItem when the mark is absent or not newer than `since` (the usual case: events mostly
        come in order), a second one to lower it; again if a concurrent hold or catch-up moved it between."""
        key = _key(_ledger_pk(integration_id, segment_id), _PENDING)
        names = {"#since": "since", "#holds": "holds", "#resumed": "resumed"}
        values: dict[str, AttributeValueTypeDef] = {
            ":since": {"S": since},
            ":config": {"S": config},
            ":one": {"N": "1"},
        }
        fresh = "(attribute_not_exists(#resumed) OR #resumed <= :config)"
        attempts = [
            (
                "SET #since = if_not_exists(#since, :since) ADD #holds :one",
                "attribute_not_exists(#since) OR #since <= :since",
            ),
            ("SET #since = :since ADD #holds :one", "#since > :since"),
        ]
        for _ in range(_MARK_ROUNDS):
            for update, condition in attempts:
                stored = self._update_if("UpdateItem", key, update, f"{fresh} AND ({condition})", names, values)
                if stored is None:
                    return True
                if "resumed" in stored and stored["resumed"]["S"] > config:
                    return False
        raise StoreError(f"DynamoDB table {self.table_name!r}: the pending mark kept moving ({_MARK_ROUNDS} rounds)")

    def note_resumed(self, integration_id: str, segment_id: int, config: str) -> None:
        self._update_if(
            "UpdateItem",
            _key(_ledger_pk(integration_id, segment_id), _PENDING),
            "SET #resumed = :config",
            "attribute_not_exists(#resumed) OR #resumed < :config",
            {"#resumed": "resumed"},
            {":config": {"S": config}},
        )

    def get_pending(self, integration_id: str, segment_id: int) -> Pending | None:
        pk = _ledger_pk(integration_id, segment_id)
        keys = [_key(pk, _PENDING), _key(pk, _HELD + "clear"), _key(pk, _HELD + "upsert")]
        items = {item["sk"]["S"]: item for item in self._batch_get(keys)}
        mark = items.get(_PENDING)
        if mark is None or "since" not in mark:
            return None
        held = {sk: HeldEvent(item["version"]["S"], item["body"]["S"]) for sk, item in items.items() if sk != _PENDING}
        return Pending(
            since=mark["since"]["S"],
            holds=int(mark["holds"]["N"]),
            clear=held.get(_HELD + "clear"),
            upsert=held.get(_HELD + "upsert"),
        )

    def finish_pending(self, integration_id: str, segment_id: int, holds: int) -> bool:
        return (
            self._update_if(
                "UpdateItem",
                _key(_ledger_pk(integration_id, segment_id), _PENDING),
                "REMOVE #since",
                "attribute_exists(#since) AND #holds = :holds",
                {"#since": "since", "#holds": "holds"},
                {":holds": {"N": str(holds)}},
            )
            is None
        )

    def start_flush_timer(self, integration_id: str, segment_id: int, due: str, now: str) -> bool:
        return (
            self._update_if(
                "UpdateItem",
                _key(_ledger_pk(integration_id, segment_id), _FLUSH),
                "SET #due = :due",
                "attribute_not_exists(#due) OR #due < :now",
                {"#due": "due"},
                {":due": {"S": due}, ":now": {"S": now}},
            )
            is None
        )

    def stop_flush_timer(self, integration_id: str, segment_id: int) -> None:
        key = _key(_ledger_pk(integration_id, segment_id), _FLUSH)
        with self._calling("DeleteItem"):
            self.client.delete_item(TableName=self.table_name, Key=key)

    def _update_if(
        self,
        operation: Literal["UpdateItem", "DeleteItem"],
        key: Item,
        update: str | None,
        condition: str,
        names: dict[str, str],
        values: dict[str, AttributeValueTypeDef],
    ) -> Item | None:
        """A conditional UpdateItem (or DeleteItem when `update` is None). None when written, else the
        stored item, empty when there is none (DynamoDB returns it with the failed condition)."""
        try:
            if update is None:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=key,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            else:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._failure(operation, exc) from exc
            stored: Item = cast("dict[str, Any]", exc.response).get("Item") or {}
            return stored
        except BotoCoreError as exc:
            raise self._failure(operation, exc) from exc
        return None


class DynamoDBStatsStore(_Table, StatsStore):
    """Per-minute sync statistics: pk integration id, sk minute bucket, `expires_at` for DynamoDB's TTL.

    Examples
    --------
    >>> DynamoDBStatsStore("sqlsync-stats").table_name
    'sqlsync-stats'
    """

    def add(self, integration_id: str, at: datetime, delta: StatsDelta) -> None:
        bucket = minute_bucket(at)
        update = "ADD statements :s, profiles :p, errors :e SET expires_at = :ttl"
        values: dict[str, AttributeValueTypeDef] = {
            ":s": {"N": str(delta.statements)},
            ":p": {"N": str(delta.profiles)},
            ":e": {"N": str(delta.errors)},
            ":ttl": {"N": str(expires_at(bucket))},
        }
        if delta.retried:
            update = update.replace(" SET", ", retried :r SET")
            values[":r"] = {"N": str(delta.retried)}
        if delta.last_error is not None:
            update += ", last_error = :le, last_error_at = :at"
            values[":le"] = {"S": delta.last_error[:LAST_ERROR_MAX_CHARS]}
            values[":at"] = {"S": error_time(at)}
        with self._calling("UpdateItem"):
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(integration_id, bucket),
                UpdateExpression=update,
                ExpressionAttributeValues=values,
            )

    def query(self, integration_id: str, start: datetime, end: datetime) -> list[StatsBucket]:
        first, last = minute_bucket(start), minute_bucket(end)
        if first > last:
            return []  # DynamoDB rejects a BETWEEN whose bounds are reversed
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": {"S": integration_id},
                    ":first": {"S": first},
                    ":last": {"S": last},
                },
            }
        )
        return [
            StatsBucket(
                bucket=item["sk"]["S"],
                statements=int(item["statements"]["N"]),
                profiles=int(item["profiles"]["N"]),
                errors=int(item["errors"]["N"]),
                last_error=item["last_error"]["S"] if "last_error" in item else None,
                last_error_at=item["last_error_at"]["S"] if "last_error_at" in item else None,
                retried=int(item["retried"]["N"]) if "retried" in item else 0,
            )
            for item in items
        ]


class DynamoDBContentStore(_Table, ContentStore):
    """Message contents: pk "<account>#<message>#<profile>", the compressed JSON in `content` (binary), and
    `expires_at` for DynamoDB's TTL (which deletes up to days late: reads check it too)."""

    def put(self, key: ContentKey, content: dict[str, Any], expires_at: datetime) -> bool:
        packed = pack_content(content)
        if packed is None:
            return False
        with self._calling("PutItem"):
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": _content_pk(key)},
                    "content": {"B": packed},
                    "expires_at": {"N": str(int(expires_at.timestamp()))},
                },
            )
        return True

    def get_many(self, keys: Sequence[ContentKey], now: datetime) -> dict[ContentKey, dict[str, Any]]:
        by_pk = {_content_pk(key): key for key in keys}
        wanted: list[Item] = [{"pk": {"S": pk}} for pk in by_pk]
        found: dict[ContentKey, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            for item in self._batch_get(wanted[start : start + BATCH_GET_KEYS]):
                if int(item["expires_at"]["N"]) > now.timestamp():
                    found[by_pk[item["pk"]["S"]]] = unpack_content(item["content"]["B"])
        return found


def _content_pk(key: ContentKey) -> str:
    account_id, message_id, profile_id = key
    return f"{account_id}#{message_id}#{profile_id}"


class DynamoDBCustomerStore(_Table, CustomerStore):
    """Customers, pk "<account>#<id key>":

    * sk "customer", a home item: `ids` (JSON list of id keys, home first), `properties` (JSON: name ->
      [value, last_update]) and `version`; or an alias item: `home`, the home key;
    * pk "<account>#<home key>", sk "event#<time>#<digest>": the customer's tracked events;
    * pk "<account>#order#<external order id>", sk "order": an order (`home`, `version`, `order` as JSON,
      `created_at`, `updated_at`); an id key is "type:value", so it never starts with "order#";
    * pk "<account>#device#<device id>", sk "device": a device, as an order (`device` as JSON);
    * pk "<account>#activity#<profile id>", sk "<occurred_at, fixed width>#<event id>": a message activity
      event of the profile (`event_id`, `event_type`, `profile_id`, `occurred_at`, `details` as JSON,
      `received_at`); sk "~profile": a marker, present once the profile has activity;
    * pk "<account>#message#<id>" or "<account>#broadcast#<id>", sk "message" or "broadcast": what the
      activity events said of a message or a broadcast, one attribute `v_<name>` per value (so that a write
      can be conditioned on each), `created_at`, `updated_at`;
    * the index `changes` (gsi1pk "<account>#customers", "<account>#events", "<account>#orders",
      "<account>#devices", "<account>#activities", "<account>#messages" or "<account>#broadcasts", gsi1sk
      the feed cursor: the time of the write, then the key): the change feeds incremental exports read.

    A write is one PutItem conditioned on the version read, or one TransactWriteItems when new ids are
    attached (docs/customers.md: why one item per customer)."""

    def read(self, account: int, keys: Sequence[str]) -> dict[str, CustomerRecord | CustomerAlias]:
        wanted: list[Item] = [{"pk": {"S": f"{account}#{key}"}, "sk": {"S": _CUSTOMER}} for key in dict.fromkeys(keys)]
        if len(wanted) == 1:
            item = self._get_item(wanted[0])
            items = [] if item is None else [item]
        else:
            items = []
            for start in range(0, len(wanted), BATCH_GET_KEYS):
                items += self._batch_get(wanted[start : start + BATCH_GET_KEYS])
        found: dict[str, CustomerRecord | CustomerAlias] = {}
        for item in items:
            key = item["pk"]["S"].partition("#")[2]
            if "home" in item:
                found[key] = CustomerAlias(key, item["home"]["S"])
            else:
                found[key] = _customer(key, item)
        return found

    def write(self, account: int, record: CustomerRecord, aliases: Sequence[str] = ()) -> bool:
        home: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {
                "pk": {"S": f"{account}#{record.key}"},
                "sk": {"S": _CUSTOMER},
                "ids": {"S": dump_ids(record.ids)},
                "properties": {"S": dump_properties(record.properties)},
                "version": {"N": str(record.version)},
                "created_at": {"N": repr(record.created_at)},
                "updated_at": {"N": repr(record.updated_at)},
                "source": {"S": record.source},
                # The change feed (index `changes`): the account's customers by the time of their last write.
                "gsi1pk": {"S": f"{account}#customers"},
                "gsi1sk": {"S": feed_cursor(record.updated_at, record.key)},
            },
        }
        if record.version > 1:
            home["ConditionExpression"] = "version = :read"
            home["ExpressionAttributeValues"] = {":read": {"N": str(record.version - 1)}}
        else:
            home["ConditionExpression"] = "attribute_not_exists(pk)"
        if not aliases:
            return self._put_if(home)
        alias_puts: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": {"S": f"{account}#{alias}"},
                        "sk": {"S": _CUSTOMER},
                        "home": {"S": record.key},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for alias in aliases
        ]
        try:
            self.client.transact_write_items(
                TransactItems=cast("list[TransactWriteItemTypeDef]", [{"Put": home}, *alias_puts])
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False  # a condition failed, or another transaction held one of the items: read again
            raise self._failure("TransactWriteItems", exc) from exc
        except BotoCoreError as exc:
            raise self._failure("TransactWriteItems", exc) from exc
        return True

    def add_event(self, account: int, home: str, event: TrackedEvent) -> None:
        sort_key = event_sort_key(event)
        with self._calling("PutItem"):
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"{account}#{home}"},
                    "sk": {"S": sort_key},
                    "event_type": {"S": event.event_type},
                    "timestamp": {"N": repr(event.timestamp)},
                    "properties": {"S": dump_fields(event.properties)},
                    "received_at": {"N": repr(event.received_at)},
                    "gsi1pk": {"S": f"{account}#events"},
                    "gsi1sk": {"S": feed_cursor(event.received_at, f"{home}#{sort_key}")},
                },
            )

    def events(self, account: int, home: str) -> list[TrackedEvent]:
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :events)",
                "ExpressionAttributeValues": {":pk": {"S": f"{account}#{home}"}, ":events": {"S": "event#"}},
                "ConsistentRead": True,
            }
        )
        return [_event(item) for item in items]

    def changed_customers(
        self, account: int, after: str, until: float, limit: int, properties: Collection[str] | None = None
    ) -> list[tuple[str, CustomerRecord]]:
        return [
            (item["gsi1sk"]["S"], _customer(item["pk"]["S"].partition("#")[2], item, properties))
            for item in self._changes(f"{account}#customers", after, until, limit)
        ]

    def changed_events(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, str, TrackedEvent]]:
        return [
            (item["gsi1sk"]["S"], item["pk"]["S"].partition("#")[2], _event(item))
            for item in self._changes(f"{account}#events", after, until, limit)
        ]

    def put_order(self, account: int, record: OrderRecord) -> bool:
        return self._put_versioned(
            account,
            _ORDER,
            record.external_order_id,
            {"external_order_id": {"S": record.external_order_id}, "order": {"S": dump_fields(record.order)}},
            (record.home, record.version, record.created_at, record.updated_at),
        )

    def put_device(self, account: int, record: DeviceRecord) -> bool:
        return self._put_versioned(
            account,
            _DEVICE,
            record.device_id,
            {"device_id": {"S": record.device_id}, "device": {"S": dump_fields(record.device)}},
            (record.home, record.version, record.created_at, record.updated_at),
        )

    def _put_versioned(
        self, account: int, kind: str, key: str, body: Item, kept: tuple[str, str, float, float]
    ) -> bool:
        """An order or a device, pk "<account>#<kind>#<key>": one UpdateItem, conditioned on the stored version,
        keeping the stored created_at (if_not_exists). `kept`: its home, version, created_at and updated_at."""
        home, version, created_at, updated_at = kept
        values: dict[str, AttributeValueTypeDef] = {
            **{f":{name}": value for name, value in body.items()},
            ":home": {"S": home},
            ":version": {"S": version},
            ":created_at": {"N": repr(created_at)},
            ":updated_at": {"N": repr(updated_at)},
            ":gsi1pk": {"S": f"{account}#{kind}s"},
            ":gsi1sk": {"S": feed_cursor(updated_at, key)},
        }
        names = [name[1:] for name in values]
        assignments = [f"#{name} = :{name}" for name in names if name != "created_at"]
        assignments.append("#created_at = if_not_exists(#created_at, :created_at)")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(f"{account}#{kind}#{key}", kind),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_not_exists(#version) OR #version <= :version",
                ExpressionAttributeNames={f"#{name}": name for name in names},  # "order" is a reserved word
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._failure("UpdateItem", exc) from exc
        except BotoCoreError as exc:
            raise self._failure("UpdateItem", exc) from exc
        return True

    def get_order(self, account: int, external_order_id: str) -> OrderRecord | None:
        item = self._get_item(_key(f"{account}#{_ORDER}#{external_order_id}", _ORDER))
        return None if item is None else _order(item)

    def changed_orders(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, OrderRecord]]:
        return [(item["gsi1sk"]["S"], _order(item)) for item in self._changes(f"{account}#orders", after, until, limit)]

    def changed_devices(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, DeviceRecord]]:
        return [
            (item["gsi1sk"]["S"], _device(item)) for item in self._changes(f"{account}#devices", after, until, limit)
        ]

    def put_activities(self, account: int, records: Sequence[ActivityRecord], keep_until: float | None = None) -> None:
        items: list[Item] = [
            {
                # Under the profile, by time: a profile's activity of a period is one Query (revenue's clicks).
                **_key(f"{account}#{_ACTIVITY}#{record.profile_id}", _activity_sort_key(record)),
                "event_id": {"S": record.event_id},
                "event_type": {"S": record.event_type},
                "profile_id": {"S": record.profile_id},
                "occurred_at": {"N": repr(record.occurred_at)},
                "details": {"S": dump_fields(record.details)},
                "received_at": {"N": repr(record.received_at)},
                "gsi1pk": {"S": f"{account}#activities"},
                "gsi1sk": {"S": feed_cursor(record.received_at, record.event_id)},
            }
            for record in records
        ]
        # A marker per profile, so that which profiles have activity is one BatchGetItem (profiles_with_activity).
        items += [
            _key(f"{account}#{_ACTIVITY}#{profile}", _PROFILE_MARK) for profile in {r.profile_id for r in records}
        ]
        if keep_until is not None:  # the markers too: a profile whose activity expired has none
            for item in items:
                item["expires_at"] = {"N": str(int(keep_until))}
        # One item per key, the last one: DynamoDB refuses a BatchWriteItem naming a key twice.
        items = list({(item["pk"]["S"], item["sk"]["S"]): item for item in items}.values())
        batches = [items[start : start + BATCH_WRITE_ITEMS] for start in range(0, len(items), BATCH_WRITE_ITEMS)]
        if len(batches) <= 1:
            for batch in batches:
                self._batch_put(batch)
            return
        # Ingest waits for these: a request's thousand events are some eighty calls, made a few at a time.
        with ThreadPoolExecutor(max_workers=min(len(batches), self.connections)) as pool:
            list(pool.map(self._batch_put, batches))

    def changed_activities(
        self, account: int, after: str, until: float, limit: int
    ) -> list[tuple[str, ActivityRecord]]:
        items = self._changes(f"{account}#activities", after, until, limit)
        return [(item["gsi1sk"]["S"], _activity(item)) for item in items]

    def profiles_with_activity(self, account: int, profile_ids: Collection[str]) -> set[str]:
        keys = [_key(f"{account}#{_ACTIVITY}#{profile}", _PROFILE_MARK) for profile in set(profile_ids)]
        found: set[str] = set()
        for start in range(0, len(keys), BATCH_GET_KEYS):
            items = self._batch_get(keys[start : start + BATCH_GET_KEYS], projection="pk")
            found.update(item["pk"]["S"].split("#", 2)[2] for item in items)
        return found

    def activities_of(self, account: int, profile_id: str, since: float, until: float) -> list[ActivityRecord]:
        since = max(since, 0.0)  # times are kept from 1970 on (feed_cursor sorts no earlier one)
        if since > until:  # DynamoDB refuses a BETWEEN whose bounds are the wrong way round
            return []
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :since AND :until",
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"{account}#{_ACTIVITY}#{profile_id}"},
                    ":since": {"S": feed_cursor(since, "")},
                    ":until": {"S": feed_cursor(until, "\uffff")},
                },
                "ConsistentRead": True,
            }
        )
        return [_activity(item) for item in items]

    def note_entry(
        self,
        account: int,
        kind: CatalogKind,
        entry_id: int,
        values: Mapping[str, Scalar],
        once: Mapping[str, Scalar],
        at: float,
    ) -> bool:
        """One UpdateItem, conditioned on the entry being new or on one of the values changing it."""
        names: dict[str, str] = {"#created_at": "created_at", "#updated_at": "updated_at"}
        bound: dict[str, AttributeValueTypeDef] = {
            ":at": {"N": repr(at)},
            ":feed": {"S": f"{account}#{kind}s"},
            ":cursor": {"S": feed_cursor(at, str(entry_id))},
        }
        assignments = ["#created_at = if_not_exists(#created_at, :at)", "#updated_at = :at"]
        assignments += ["gsi1pk = :feed", "gsi1sk = :cursor"]
        changes = ["attribute_not_exists(pk)"]
        for index, (name, value) in enumerate([*values.items(), *once.items()]):
            names[f"#v{index}"], bound[f":v{index}"] = f"v_{name}", _scalar_value(value)
            if index < len(values):
                assignments.append(f"#v{index} = :v{index}")
                changes.append(f"attribute_not_exists(#v{index}) OR #v{index} <> :v{index}")
            else:
                assignments.append(f"#v{index} = if_not_exists(#v{index}, :v{index})")
                changes.append(f"attribute_not_exists(#v{index})")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(f"{account}#{kind}#{entry_id}", kind),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=" OR ".join(changes),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=bound,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # nothing new: the feed stays where it is
            raise self._failure("UpdateItem", exc) from exc
        except BotoCoreError as exc:
            raise self._failure("UpdateItem", exc) from exc
        return True

    def changed_entries(
        self, account: int, kind: CatalogKind, after: str, until: float, limit: int
    ) -> list[tuple[str, CatalogEntry]]:
        items = self._changes(f"{account}#{kind}s", after, until, limit)
        return [(item["gsi1sk"]["S"], _entry(kind, item)) for item in items]

    def _changes(self, feed: str, after: str, until: float, limit: int) -> list[Item]:
        """The feed's items after the cursor, up to `until` (the index is read in order: stop at the first later)."""
        bound = feed_cursor(until, "\uffff")
        items = self._query(
            {
                "TableName": self.table_name,
                "IndexName": "changes",
                "KeyConditionExpression": "gsi1pk = :feed AND gsi1sk > :after",
                # DynamoDB refuses an empty key value; every cursor starts with a digit.
                "ExpressionAttributeValues": {":feed": {"S": feed}, ":after": {"S": after or "0"}},
                "Limit": limit,
            }
        )
        return list(islice(takewhile(lambda item: item["gsi1sk"]["S"] <= bound, items), limit))


def _customer(key: str, item: Item, properties: Collection[str] | None = None) -> CustomerRecord:
    return CustomerRecord(
        key,
        tuple(load_ids(item["ids"]["S"])),
        load_properties(item["properties"]["S"], properties),
        int(item["version"]["N"]),
        float(item["created_at"]["N"]) if "created_at" in item else 0.0,
        float(item["updated_at"]["N"]) if "updated_at" in item else 0.0,
        item["source"]["S"] if "source" in item else "",
    )


def _event(item: Item) -> TrackedEvent:
    return TrackedEvent(
        item["event_type"]["S"],
        float(item["timestamp"]["N"]),
        load_fields(item["properties"]["S"]),
        float(item["received_at"]["N"]) if "received_at" in item else 0.0,
    )


def _order(item: Item) -> OrderRecord:
    return OrderRecord(*_versioned(item, "external_order_id", "order"))


def _device(item: Item) -> DeviceRecord:
    return DeviceRecord(*_versioned(item, "device_id", "device"))


def _versioned(item: Item, key: str, body: str) -> tuple[str, str, str, dict[str, Any], float, float]:
    """The fields of an item _put_versioned wrote, in the order OrderRecord and DeviceRecord take them."""
    return (
        item[key]["S"],
        item["home"]["S"],
        item["version"]["S"],
        load_fields(item[body]["S"]),
        float(item["created_at"]["N"]),
        float(item["updated_at"]["N"]),
    )


def _activity_sort_key(record: ActivityRecord) -> str:
    return feed_cursor(record.occurred_at, record.event_id)


def _activity(item: Item) -> ActivityRecord:
    return ActivityRecord(
        item["event_id"]["S"],
        item["event_type"]["S"],
        item["profile_id"]["S"],
        float(item["occurred_at"]["N"]),
        load_fields(item["details"]["S"]),
        float(item["received_at"]["N"]),
    )


def _scalar_value(value: Scalar) -> AttributeValueTypeDef:
    if isinstance(value, str):
        return {"S": value}
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _scalar(value: AttributeValueTypeDef) -> Scalar:
    if "S" in value:
        return value["S"]
    number = value["N"]
    return int(number) if number.lstrip("-").isdigit() else float(number)


def _entry(kind: CatalogKind, item: Item) -> CatalogEntry:
    values = {name[2:]: _scalar(value) for name, value in item.items() if name.startswith("v_")}
    entry_id = int(item["pk"]["S"].rpartition("#")[2])
    return CatalogEntry(kind, entry_id, values, float(item["created_at"]["N"]), float(item["updated_at"]["N"]))


class DynamoDBImportStore(_Table, ImportStore):
    """Imports in the customers table: pk "<account>#import", sk the import id (time-ordered), `body` (JSON)
    and `version`; the row errors of one import under pk "<account>#import#<id>", sk "error#<row>#<column>"."""

    def create(self, record: ImportRecord) -> None:
        with self._calling("PutItem"):
            self.client.put_item(
                TableName=self.table_name,
                Item=self._item(record),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, account: int, import_id: str) -> ImportRecord | None:
        item = self._get_item({"pk": {"S": f"{account}#import"}, "sk": {"S": import_id}})
        return None if item is None else load_import(item["body"]["S"], int(item["version"]["N"]))

    def list_imports(self, account: int, limit: int = 100) -> list[ImportRecord]:
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": f"{account}#import"}},
                "ScanIndexForward": False,
                "Limit": limit,
            }
        )
        return [load_import(item["body"]["S"], int(item["version"]["N"])) for item in islice(items, limit)]

    def save(self, record: ImportRecord, errors: Sequence[RowError] = ()) -> bool:
        pk = f"{record.account}#import#{record.import_id}"
        items: list[Item] = [
            {"pk": {"S": pk}, "sk": {"S": error_sort_key(error)}, "body": {"S": dump_row_error(error)}}
            for error in {error_sort_key(error): error for error in errors}.values()
        ]
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            self._batch_put(items[start : start + BATCH_WRITE_ITEMS])
        return self._put_if(
            {
                "TableName": self.table_name,
                "Item": self._item(record),
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(record.version - 1)}},
            }
        )

    def errors(self, account: int, import_id: str, after_row: int = 0, limit: int = 100) -> list[RowError]:
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk > :after",
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"{account}#import#{import_id}"},
                    ":after": {"S": f"error#{after_row:012d}#\uffff"},
                },
                "Limit": limit,
            }
        )
        return [load_row_error(item["body"]["S"]) for item in islice(items, limit)]

    def _item(self, record: ImportRecord) -> Item:
        return {
            "pk": {"S": f"{record.account}#import"},
            "sk": {"S": record.import_id},
            "body": {"S": dump_import(record)},
            "version": {"N": str(record.version)},
        }


class DynamoDBExportStateStore(_Table, ExportStateStore):
    """Export states in the config table: pk "exportstate", sk the export id, `body` (JSON) and `version`. One
    partition: the scheduler reads every state each minute, and exports are few."""

    def create(self, state: ExportState) -> None:
        with self._calling("PutItem"):
            self.client.put_item(TableName=self.table_name, Item=self._item(state))

    def get(self, export_id: str) -> ExportState | None:
        item = self._get_item(_key(_EXPORT_STATE, export_id))
        return None if item is None else load_export_state(item["body"]["S"], int(item["version"]["N"]))

    def list_all(self) -> list[ExportState]:
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": _EXPORT_STATE}},
                "ConsistentRead": True,
            }
        )
        return [load_export_state(item["body"]["S"], int(item["version"]["N"])) for item in items]

    def save(self, state: ExportState) -> bool:
        return self._put_if(
            {
                "TableName": self.table_name,
                "Item": self._item(state),
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(state.version - 1)}},
            }
        )

    def delete(self, export_id: str) -> None:
        with self._calling("DeleteItem"):
            self.client.delete_item(TableName=self.table_name, Key=_key(_EXPORT_STATE, export_id))

    def _item(self, state: ExportState) -> Item:
        return {
            **_key(_EXPORT_STATE, state.export_id),
            "body": {"S": dump_export_state(state)},
            "version": {"N": str(state.version)},
        }
