"""The sample events of action hooks (events/) stay readable by the code that takes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlsync.hooks.wire import decode
from sqlsync.models.hooks import ActivityEvent
from testkit import ROOT

SAMPLES = sorted((ROOT / "events" / "platform" / "hooks").glob("*.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_platform_activity_samples_are_activity_events(path: Path) -> None:
    assert isinstance(ActivityEvent.model_validate_json(path.read_text()), ActivityEvent)


def test_the_hook_dispatcher_sample_carries_wire_messages() -> None:
    records = json.loads((ROOT / "events" / "lambda" / "hook_dispatcher_sqs.json").read_text())["Records"]
    for record in records:
        message = decode(record["body"])
        assert [json.loads(event.body)["event_id"] for event in message.events] == [
            event.event_id for event in message.events
        ]


def test_there_are_samples() -> None:
    assert SAMPLES
