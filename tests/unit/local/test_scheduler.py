"""The local stack's schedule ticks."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sqlsync.local.scheduler import Ticker, rate_seconds, scheduled_event


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rates_are_read(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_is_not_run_locally() -> None:
    assert rate_seconds("cron(0 12 * * ? *)") is None


class Recording:
    def __init__(self, fail_first: bool) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.third = threading.Event()

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if len(self.events) >= 3:
            self.third.set()
        if self.fail_first and len(self.events) == 1:
            raise RuntimeError("a failing tick")
        return None


def test_a_ticker_invokes_at_its_period_with_a_scheduled_event_and_survives_a_failure() -> None:
    function = Recording(fail_first=True)
    ticker = Ticker(function, "ExporterFunction.EveryMinute", 0.01, scheduled_event("r", "us-east-1", "123"))
    ticker.start()
    try:
        assert function.third.wait(5)
    finally:
        ticker.stop()
    assert function.events[0]["detail-type"] == "Scheduled Event" and function.events[0]["source"] == "aws.events"
    assert function.events[0]["resources"] == ["arn:aws:events:us-east-1:123:rule/r"]
