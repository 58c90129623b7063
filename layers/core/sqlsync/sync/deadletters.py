"""Dead letters: list an integration's messages in the sync queue's dead-letter queue, and move them back.

Messages reach the dead-letter queue (DLQ) after the sync queue's maxReceiveCount receives: a target that
stayed down, a template that fails on every row, a body the worker cannot read. Once the cause is fixed,
`DeadLetters.redrive` sends the integration's messages back to the sync queue.

Which messages are an integration's: a segment event whose account is the integration's and whose
segment is one of its segments (the rule the worker applies), and a request (resync, catchup, any JSON
object with "kind" and "integration_id") that names the integration. A body that is not JSON, or not one
of these shapes, names no integration: it is counted as unreadable, listed only when asked for, and never
redriven by an integration's redrive (no integration's fix can make the worker read it).

SQS has no peek. A scan receives with a short visibility timeout and holds every message it received
invisible until the scan ends, so that it never sees one twice; then it makes every message it did not
move visible again (ChangeMessageVisibilityBatch with VisibilityTimeout=0). Should the process die in
between, the held messages come back by themselves when the visibility timeout runs out: a scan can delay
a message by at most `visibility_timeout` seconds, never lose it. Each scan is bounded in messages
examined (`max_messages`) and wall time (`max_seconds`); the answer says whether it reached the end of
the queue (`complete`) and, if not, why it stopped (`stopped_by`).

Every receive adds one to a message's ApproximateReceiveCount, also in the DLQ: listing shows counts that
include listings. The DLQ has no redrive policy of its own, so the count has no effect there.

Examples
--------
>>> dead = DeadLetters(dlq_url, queue_url)             # doctest: +SKIP
>>> dead.list(integration).messages           # doctest: +SKIP
>>> dead.redrive(integration).moved           # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sqlsync.models.deadletters import DeadLetterKind, DeadLetterOut, DeadLettersOut, RedriveOut, StopReason
from sqlsync.models.events import ResyncRequest
from sqlsync.models.integrations import Integration
from sqlsync.sync.exceptions import SyncError
from sqlsync.sync.queue import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES
from sqlsync.sync.wire import EVENT_KIND, EVENT_PREFIX, QueuedEvent, UnreadableBody, decode, describe

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["DeadLetterError", "DeadLetters"]

logger = logging.getLogger(__name__)

_SQS_ERRORS = (ClientError, BotoCoreError)


class DeadLetterError(SyncError):
    """SQS refused a call in the middle of a listing or a redrive. What was done stays done and is described
    by `partial`; every message the scan held is visible again (or will be when its visibility runs out)."""

    def __init__(self, message: str, partial: DeadLettersOut | RedriveOut) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class _Reading:
    """What a body says about whose it is."""

    kind: DeadLetterKind
    integration_id: str | None = None
    account_id: int | None = None
    segment_id: int | None = None
    database_id: int | None = None
    event_id: str | None = None
    type: str | None = None
    profiles: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Letter:
    """One received message of the DLQ."""

    message_id: str
    receipt_handle: str
    body: str
    sent_at: datetime | None
    receive_count: int | None
    reading: _Reading

    def belongs_to(self, integration: Integration, segment_ids: frozenset[int]) -> bool:
        reading = self.reading
        if reading.kind == "request":
            return reading.integration_id == integration.id
        return (
            reading.kind == "event"
            and reading.account_id == integration.account_id
            and reading.segment_id in segment_ids
            and (integration.database_id is None or reading.database_id == integration.database_id)
        )

    def out(self) -> DeadLetterOut:
        reading = self.reading
        return DeadLetterOut(
            message_id=self.message_id,
            kind=reading.kind,
            event_id=reading.event_id,
            type=reading.type,
            segment_id=reading.segment_id,
            profiles=reading.profiles,
            sent_at=self.sent_at,
            receive_count=self.receive_count,
            size=len(self.body.encode()),
            error=reading.error,
        )


class DeadLetters:
    """The sync queue's dead-letter queue, seen per integration.

    `visibility_timeout` (seconds) is how long a scan holds the messages it received; it must exceed
    `max_seconds`, the wall-time bound of a scan, with room to release them afterwards. `wait_seconds` is
    the long poll of each receive: a long poll asks every SQS server, so an empty answer means the queue
    has no visible message left (a short poll may answer empty while messages remain).
    """

    def __init__(
        self,
        dlq_url: str,
        queue_url: str,
        client: SQSClient | None = None,
        *,
        max_messages: int = 1000,
        max_seconds: float = 10.0,
        visibility_timeout: int = 30,
        wait_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if visibility_timeout <= max_seconds:
            raise ValueError("visibility_timeout must exceed max_seconds: a scan must not see a message twice")
        self.dlq_url = dlq_url
        self.queue_url = queue_url
        self._client = client
        self.max_messages = max_messages
        self.max_seconds = max_seconds
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.clock = clock

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def redrive(self, integration: Integration, limit: int = 1000) -> RedriveOut:
        """Move up to `limit` of the integration's messages from the DLQ back to the sync queue, bodies as
        they are; every other message is made visible again.

        Each message is sent first (SendMessageBatch) and deleted from the DLQ only once SQS has accepted
        it, so a fault never loses one: a crash between the two leaves it in both queues, and the worker's
        membership ledger makes the duplicate harmless (an event not newer than what the ledger holds is
        skipped; a resync replays the ledger's current state). Messages the sync queue refused stay in
        the DLQ and are counted in `remaining`.

        A segment event belongs to every integration of its account that has its segment. Redriving it for
        one integration hands it to the worker, which applies it for all of them: for the others it is a
        redelivery, which the ledger skips as not newer (or applies, if they had failed it too).

        A paused integration may be redriven too: the worker holds its events in the ledger and applies
        them when it resumes (docs/pause-and-resume.md). The answer's `complete` is false when a bound
        stopped the scan or messages were left behind: calling again is safe.

        Examples
        --------
        >>> out = DeadLetters(dlq_url, queue_url).redrive(integration)   # doctest: +SKIP
        >>> out.moved, out.remaining, out.complete                        # doctest: +SKIP
        (12, 0, True)
        """
        _check_limit(limit)
        segment_ids = frozenset(integration.segment_ids)
        scan = _Scan(self)
        moved = remaining = taken = 0
        stopped_by: StopReason | None = None
        try:
            for letters in scan.batches():
                mine = [letter for letter in letters if letter.belongs_to(integration, segment_ids)]
                mine = mine[: limit - taken]
                taken += len(mine)
                for chunk in _chunks(mine):
                    sent, deleted = self._move(chunk)
                    scan.forget(deleted)
                    moved += len(sent)
                    remaining += len(chunk) - len(deleted)
                if taken >= limit:
                    stopped_by = "limit"
                    break
        except _SQS_ERRORS as exc:
            partial = RedriveOut(
                integration_id=integration.id,
                moved=moved,
                remaining=remaining,
                scanned=scan.scanned,
                complete=False,
                stopped_by=stopped_by or scan.stopped_by,
            )
            raise DeadLetterError(f"redrive stopped after moving {moved} message(s): {exc}", partial) from exc
        finally:
            scan.release()
        stopped_by = stopped_by or scan.stopped_by
        return RedriveOut(
            integration_id=integration.id,
            moved=moved,
            remaining=remaining,
            scanned=scan.scanned,
            complete=stopped_by is None and remaining == 0,
            stopped_by=stopped_by,
        )

    def _move(self, letters: Sequence[_Letter]) -> tuple[set[str], set[str]]:
        """Send one batch to the sync queue, then delete from the DLQ what was sent: the ids sent, deleted."""
        by_entry = {str(index): letter for index, letter in enumerate(letters)}
        response = self.client.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": entry, "MessageBody": letter.body} for entry, letter in by_entry.items()],
        )
        for failure in response.get("Failed", []):
            logger.warning(
                "redrive: the sync queue refused message %s (%s): %s",
                by_entry[failure["Id"]].message_id,
                failure.get("Code"),
                failure.get("Message"),
            )
        sent = [by_entry[item["Id"]] for item in response.get("Successful", [])]
        if not sent:
            return set(), set()
        deleted = self.client.delete_message_batch(
            QueueUrl=self.dlq_url,
            Entries=[{"Id": str(index), "ReceiptHandle": letter.receipt_handle} for index, letter in enumerate(sent)],
        )
        for failure in deleted.get("Failed", []):
            # Sent but still in the DLQ: a duplicate, harmless for the worker, moved again by a later redrive.
            logger.warning(
                "redrive: message %s was sent back but not deleted from the dead-letter queue (%s): %s",
                sent[int(failure["Id"])].message_id,
                failure.get("Code"),
                failure.get("Message"),
            )
        return (
            {letter.message_id for letter in sent},
            {sent[int(item["Id"])].message_id for item in deleted.get("Successful", [])},
        )

    # Defined last: inside the class body, the name `list` means this method from here on.
    def list(self, integration: Integration, limit: int = 100, include_unreadable: bool = False) -> DeadLettersOut:
        """The integration's messages in the DLQ, oldest first, at most `limit`; with `include_unreadable`,
        also the messages that name no integration (they are nobody's, so they are not shown by default:
        every integration would list the same foreign entries; their number is always in `unreadable`).

        Nothing is lost or delayed: every message received is made visible again when the scan ends.

        Examples
        --------
        >>> out = DeadLetters(dlq_url, queue_url).list(integration, limit=10)   # doctest: +SKIP
        >>> [(m.type, m.segment_id, m.profiles) for m in out.messages]            # doctest: +SKIP
        [('segment.profiles_added', 17, 250)]
        """
        _check_limit(limit)
        segment_ids = frozenset(integration.segment_ids)
        scan = _Scan(self)
        found: list[_Letter] = []
        unreadable = 0
        stopped_by: StopReason | None = None

        def answer(complete: bool) -> DeadLettersOut:
            found.sort(key=lambda letter: (letter.sent_at or _EPOCH, letter.message_id))
            return DeadLettersOut(
                integration_id=integration.id,
                messages=[letter.out() for letter in found[:limit]],
                scanned=scan.scanned,
                unreadable=unreadable,
                complete=complete,
                stopped_by=stopped_by or scan.stopped_by,
            )

        try:
            for letters in scan.batches():
                for letter in letters:
                    is_unreadable = letter.reading.kind == "unreadable"
                    if is_unreadable:
                        unreadable += 1
                    if letter.belongs_to(integration, segment_ids) or (include_unreadable and is_unreadable):
                        found.append(letter)
                if len(found) >= limit:
                    stopped_by = "limit"
                    break
        except _SQS_ERRORS as exc:
            raise DeadLetterError(f"listing the dead-letter queue failed: {exc}", answer(False)) from exc
        finally:
            scan.release()
        return answer(stopped_by is None and scan.stopped_by is None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


class _Scan:
    """One pass over the DLQ. Received messages stay held (invisible) until `release`, except those
    `forget` is told were deleted."""

    def __init__(self, owner: DeadLetters) -> None:
        self.owner = owner
        self.client = owner.client
        self.held: dict[str, str] = {}  # message id -> latest receipt handle
        self.scanned = 0
        self.stopped_by: StopReason | None = None
        self.deadline = owner.clock() + owner.max_seconds

    def batches(self) -> Iterator[list[_Letter]]:
        """Received messages, a ReceiveMessage call at a time, each message once, until the queue has no
        visible message left (then `stopped_by` stays None) or a bound is reached."""
        owner = self.owner
        while True:
            if self.scanned >= owner.max_messages:
                self.stopped_by = "max_messages"
                return
            if owner.clock() >= self.deadline:
                self.stopped_by = "max_seconds"
                return
            response = self.client.receive_message(
                QueueUrl=owner.dlq_url,
                MaxNumberOfMessages=min(MAX_BATCH_ENTRIES, owner.max_messages - self.scanned),
                VisibilityTimeout=owner.visibility_timeout,
                WaitTimeSeconds=owner.wait_seconds,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
            received = response.get("Messages", [])
            if not received:
                return
            letters = []
            for message in received:
                message_id = message["MessageId"]
                # A standard queue may deliver a message twice: hold the newest handle, examine it once.
                first = message_id not in self.held
                self.held[message_id] = message["ReceiptHandle"]
                if first:
                    letters.append(_letter(message))
            self.scanned += len(letters)
            if letters:
                yield letters

    def forget(self, message_ids: set[str]) -> None:
        for message_id in message_ids:
            self.held.pop(message_id, None)

    def release(self) -> None:
        """Make every held message visible again. Best effort: one that stays held comes back by itself when
        the visibility timeout ends."""
        handles = [*self.held.values()]
        self.held.clear()
        for start in range(0, len(handles), MAX_BATCH_ENTRIES):
            chunk = handles[start : start + MAX_BATCH_ENTRIES]
            try:
                response = self.client.change_message_visibility_batch(
                    QueueUrl=self.owner.dlq_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for index, handle in enumerate(chunk)
                    ],
                )
            except _SQS_ERRORS as exc:
                logger.warning(
                    "dead letters: %d message(s) stay hidden until their visibility ends: %s", len(chunk), exc
                )
                continue
            if failed := response.get("Failed", []):
                logger.warning(
                    "dead letters: %d message(s) stay hidden until their visibility ends: %s",
                    len(failed),
                    failed[0].get("Message"),
                )


def _chunks(letters: Sequence[_Letter]) -> Iterator[list[_Letter]]:
    """SendMessageBatch calls within the entry count and total size limits."""
    current: list[_Letter] = []
    size = 0
    for letter in letters:
        body_size = len(letter.body.encode())
        if current and (len(current) == MAX_BATCH_ENTRIES or size + body_size > MAX_MESSAGE_BYTES):
            yield current
            current, size = [], 0
        current.append(letter)
        size += body_size
    if current:
        yield current


def _letter(message: MessageTypeDef) -> _Letter:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    count = attributes.get("ApproximateReceiveCount")
    body = message.get("Body", "")
    return _Letter(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=body,
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        receive_count=int(count) if count else None,
        reading=_read_body(body),
    )


def _read_body(body: str) -> _Reading:
    """Whose a sync-queue body is, and whether the worker can read it (sqlsync.sync.wire)."""
    try:
        # A segment event's envelope (its first line), or any other body whole (a request, an earlier
        # version's event, written by hand perhaps, over several lines)
        data = json.loads(body.partition("\n")[0] if body.startswith(EVENT_PREFIX) else body)
    except ValueError:
        return _Reading("unreadable", error="not JSON")
    if not isinstance(data, dict):
        return _Reading("unreadable", error="not a JSON object")
    kind, integration_id = data.get("kind"), data.get("integration_id")
    if isinstance(kind, str) and isinstance(integration_id, str):
        return _request(data, kind, integration_id)
    try:
        queued = decode(body)
        if not isinstance(queued, QueuedEvent):
            raise UnreadableBody("a request that names no integration")
        queued.fields()
    except (ValidationError, UnreadableBody) as exc:
        # Not an event the worker can read; if its envelope still says whose it is, it is theirs.
        facts = data.get("event") if kind == EVENT_KIND else data
        facts = facts if isinstance(facts, dict) else {}
        segment = facts.get("segment")
        account_id, segment_id = facts.get("account_id"), segment.get("id") if isinstance(segment, dict) else None
        if _is_int(account_id) and _is_int(segment_id):
            database = facts.get("database")
            database_id = database.get("id") if isinstance(database, dict) else None
            profiles = data.get("profile_ids") if kind == EVENT_KIND else facts.get("profiles")
            return _Reading(
                "event",
                account_id=account_id,
                segment_id=segment_id,
                database_id=database_id if _is_int(database_id) else None,
                event_id=_str_or_none(facts.get("id")),
                type=_str_or_none(facts.get("type")),
                profiles=len(profiles) if isinstance(profiles, list) else None,
                error=describe(exc),
            )
        return _Reading("unreadable", error=describe(exc))
    event = queued.event
    return _Reading(
        "event",
        account_id=event.account_id,
        segment_id=event.segment.id,
        database_id=event.database.id if event.database is not None else None,
        event_id=event.id,
        type=event.type.value,
        profiles=len(queued.profile_ids),
    )


def _request(data: dict[str, Any], kind: str, integration_id: str) -> _Reading:
    error = None
    if kind == "resync":
        try:
            ResyncRequest.model_validate(data)
        except ValidationError as exc:
            error = describe(exc)
    segment_id = data.get("segment_id")
    return _Reading(
        "request",
        integration_id=integration_id,
        segment_id=segment_id if _is_int(segment_id) else None,
        event_id=_str_or_none(data.get("id")),
        type=kind,
        error=error,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
