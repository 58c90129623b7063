"""The local stack's EventBridge: invokes each function with a rate() Schedule event at its rate, as a
scheduled rule would (the exporter's minute tick). cron() schedules are not run locally."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlsync.export.schedules import RateSchedule, parse_schedule
from sqlsync.local.runtime import Invocable

logger = logging.getLogger(__name__)


def rate_seconds(expression: str) -> float | None:
    """The period of a rate() expression (read as exports read theirs); None for anything else (cron)."""
    try:
        schedule = parse_schedule(expression)
    except ValueError:
        return None
    return schedule.seconds if isinstance(schedule, RateSchedule) else None


def scheduled_event(rule: str, region: str, account_id: str) -> dict[str, object]:
    """The event EventBridge hands a function for a scheduled rule."""
    return {
        "version": "0",
        "id": "local-schedule",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{rule}"],
        "detail": {},
    }


class Ticker:
    """Invokes a function every `period` seconds until stopped; a failed invocation is logged, not fatal."""

    def __init__(self, function: Invocable, name: str, period: float, event: dict[str, object]) -> None:
        self.function = function
        self.name = name
        self.period = period
        self.event = event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{name}", daemon=True)
        self.ticks = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.ticks += 1
            try:
                self.function.invoke(self.event)
            except Exception:
                logger.exception("scheduled invocation of %s failed", self.name)
