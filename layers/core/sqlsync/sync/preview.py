"""Render an integration's template for a sample event, the way the worker would, without executing it.

The dialect is the target's by name, with its default session settings: preview never connects (MySQL's
live sql_mode is read when the worker connects; the default is what almost every server runs).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlsync.models.events import SegmentEvent
from sqlsync.models.integrations import IntegrationIn, Templates
from sqlsync.models.preview import PreviewChunk, PreviewIn, PreviewOut
from sqlsync.store.base import ConfigStore
from sqlsync.sync.exceptions import InvalidIntegrationError
from sqlsync.sync.integrations import compile_checked, target_dialect
from sqlsync.sync.worker import as_lead, event_context
from sqlsync.template import RenderError


def preview(
    integration: IntegrationIn,
    request: PreviewIn,
    *,
    account_id: int,
    integration_id: str | None = None,
    now: datetime | None = None,
    config: ConfigStore | None = None,
) -> PreviewOut:
    """The statements each chunk of the sample would run. A chunk that would fail (a value the target
    cannot store) carries the error instead; template errors raise InvalidIntegrationError."""
    field = "template" if request.template is not None else f"templates.{Templates.field_for(request.type)}"
    text = request.template if request.template is not None else integration.templates.for_event(request.type)
    if text is None:
        raise InvalidIntegrationError("type", f"the integration has no {field} for {request.type.value} events")
    dialect = target_dialect(integration, account_id, config, require_driver=False)
    compiled = compile_checked(text, dialect, field)
    event = SegmentEvent(
        id="preview",
        type=request.type,
        account_id=account_id,
        occurred_at=request.occurred_at or now or datetime.now(UTC),
        segment=request.segment or {"id": integration.segment_ids[0], "name": "Sample segment"},
        profiles=request.profiles,
    )
    context = event_context(event)
    size = integration.batch_size
    if request.type.carries_profiles:
        batches = [event.profiles[start : start + size] for start in range(0, len(event.profiles), size)]
    else:
        batches = [[]]
    chunks = []
    for batch in batches:
        chunk = PreviewChunk(profiles=[profile.id for profile in batch])
        try:
            chunk.statements = compiled.render(context, [as_lead(p.id, p.fields) for p in batch])
        except RenderError as exc:
            chunk.error = str(exc)
        chunks.append(chunk)
    return PreviewOut(
        integration_id=integration_id,
        event_type=request.type,
        template=field,
        dialect=dialect.name,
        mode=compiled.mode,
        event_time=event.occurred_at,
        chunks=chunks,
    )
