"""Preview: the statements the worker would run for a sample event, chunked as it would, never executed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqlsync.models.events import EventType, Profile
from sqlsync.models.preview import PreviewIn
from sqlsync.sync.exceptions import InvalidIntegrationError
from sqlsync.sync.preview import preview
from testkit import integration

TEMPLATES = {
    "profiles_added": "INSERT INTO s VALUES "
    "{for $i, $lead = $batch}({$i}, '{$lead.name}', {event_time|date \"2006\"}){autocomma}{end}",
    "profiles_removed": "DELETE FROM s WHERE id = {$lead._id}",
    "segment_upserted": "UPDATE segments SET name = '{segment_name}' WHERE id = {segment_id}",
}
AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_chunks_follow_the_batch_size_and_a_failing_chunk_says_why() -> None:
    config = integration("postgresql+pg8000://u@db.invalid/x", TEMPLATES, batch_size=2)
    profiles = [Profile(id=f"p-{k}", fields={"name": name}) for k, name in enumerate(["a", "b'c", "nul\x00", "d"])]
    result = preview(config, PreviewIn(profiles=profiles, occurred_at=AT), account_id=config.account_id)
    assert [chunk.profiles for chunk in result.chunks] == [["p-0", "p-1"], ["p-2", "p-3"]]
    assert result.chunks[0].statements == ["INSERT INTO s VALUES (0, 'a', '2026'),(1, 'b''c', '2026')"]
    assert result.chunks[1].statements == [] and "U+0000" in (result.chunks[1].error or "")
    assert (result.mode, result.dialect, result.event_time) == ("batch", "postgresql", AT)


def test_segment_events_render_once_with_the_integrations_first_segment_by_default() -> None:
    config = integration("sqlite:///x.db", TEMPLATES, segment_ids=[5, 9])
    result = preview(config, PreviewIn(type=EventType.UPSERTED, profiles=[Profile(id="ignored")]), account_id=1)
    assert [chunk.model_dump() for chunk in result.chunks] == [
        {"profiles": [], "statements": ["UPDATE segments SET name = 'Sample segment' WHERE id = 5"], "error": None}
    ]


def test_a_missing_template_or_an_unknown_database_names_the_field() -> None:
    with pytest.raises(InvalidIntegrationError) as caught:
        preview(integration("sqlite:///x.db", TEMPLATES), PreviewIn(type=EventType.DELETED), account_id=1)
    assert caught.value.field == "type"
    with pytest.raises(InvalidIntegrationError) as caught:
        preview(integration("db2+ibm_db://h/x", TEMPLATES), PreviewIn(), account_id=1)
    assert caught.value.field == "target_url"
