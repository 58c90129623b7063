"""Paused integrations catch up on resume: the requests the API queues, and the configuration versions that
tell a worker whether its cached configuration is older than a resume. The same request flushes the batch
an integration with a batch_timeout gathers (the worker sends it, delayed by the timeout).

While an integration is paused the worker claims its events in the membership ledger without executing
any SQL and marks each segment pending (the oldest version not applied, the newest held cleared/deleted
and upserted events). On resume the API queues one CatchUpRequest per segment; the worker applies what
the ledger holds from the mark on and removes the mark. docs/pause-and-resume.md tells the whole story.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Literal

from sqlsync.models.events import CatchUpRequest
from sqlsync.models.integrations import Integration

__all__ = ["catch_up_messages", "config_version", "flush_message", "stamp"]


def catch_up_messages(integration: Integration, at: datetime) -> list[str]:
    """The sync-queue bodies that make a resumed integration catch up: one CatchUpRequest per segment.

    `integration` is the integration as saved with `active` true (its `updated_at` tells workers whose
    cached configuration still says "paused" to retry later); `at` is when it was resumed, the event time
    templates see during the catch-up.

    Examples
    --------
    >>> from sqlsync.models.integrations import Templates
    >>> t0 = datetime(2026, 11, 22, tzinfo=UTC)
    >>> resumed = Integration(id="i1", name="n", account_id=1, target_url="sqlite://", segment_ids=[7, 8],
    ...     templates=Templates(profiles_added="x", profiles_removed="y"), created_at=t0, updated_at=t0)
    >>> [body[:32] for body in catch_up_messages(resumed, t0)]
    ['{"kind":"catchup","id":"catchup-', '{"kind":"catchup","id":"catchup-']
    """
    if not integration.active:
        raise ValueError(f"integration {integration.id} is paused: a catch-up is for a resumed integration")
    return [_request("resume", integration, segment_id, at) for segment_id in dict.fromkeys(integration.segment_ids)]


def flush_message(integration: Integration, segment_id: int, at: datetime) -> str:
    """The sync-queue body that applies what a segment gathered under the integration's batch_timeout."""
    return _request("batch_timeout", integration, segment_id, at)


def _request(
    reason: Literal["resume", "batch_timeout"], integration: Integration, segment_id: int, at: datetime
) -> str:
    return CatchUpRequest(
        id=f"{'catchup' if reason == 'resume' else 'flush'}-{secrets.token_hex(6)}",
        reason=reason,
        integration_id=integration.id,
        account_id=integration.account_id,
        segment_id=segment_id,
        requested_at=_aware(at),
        resumed_at=_aware(integration.updated_at),
    ).model_dump_json()


def stamp(at: datetime) -> str:
    """A time as a fixed-width UTC string, so that plain string comparison orders stamps (as versions)."""
    return _aware(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def config_version(integration: Integration) -> str:
    """The version of an integration's configuration, as the ledger compares it: its updated_at."""
    return stamp(integration.updated_at)


def _aware(at: datetime) -> datetime:
    # Integration.updated_at is written aware (UTC); a naive one, from an older writer, is taken as UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
