"""When the exporter runs an export next: at its schedule's next time after a run (cron() or rate()), sooner
after a failure, and never again once a cron() names no later time. The database is stood in for: these
tests are about times, not rows (tests/integration/export runs the real ones)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from sqlsync.connectors import Target
from sqlsync.export import runner as runner_module
from sqlsync.export.datasets import Dataset
from sqlsync.export.runner import RETRY_SECONDS, ExportRunner
from sqlsync.export.schedules import NEVER
from sqlsync.export.service import ExportService
from sqlsync.export.sources import sources
from sqlsync.export.writer import ExportError
from sqlsync.models.exports import Export, ExportDataset, ExportIn
from sqlsync.store.memory import InMemoryConfigStore, InMemoryCustomerStore, InMemoryExportStateStore
from testkit import connector

ACCOUNT = 3
START = datetime(2024, 2, 27, 12, 0, 30, tzinfo=UTC).timestamp()  # a Tuesday, in a leap year
ALWAYS: Callable[[], float] = lambda: 1e9  # noqa: E731


def at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


class Writer:
    """The database's stand-in: takes every chunk, or refuses the run when `failing`."""

    failing = False

    def __init__(self, target: Target) -> None:
        self.target = target

    def prepare(self, schema: str, dataset: Dataset) -> list[str]:
        if Writer.failing:
            raise ExportError("the database refused")
        return []

    def upsert(self, schema: str, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> int:
        return len(rows)


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "ExportWriter", Writer)
    monkeypatch.setattr(Writer, "failing", False)


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.config = InMemoryConfigStore()
        self.states = InMemoryExportStateStore()
        self.service = ExportService(self.config, self.states, clock=self.clock)
        self.config.put_connector(connector("pg", ACCOUNT))
        self.runner = ExportRunner(
            self.config,
            self.states,
            sources(InMemoryCustomerStore()),
            lambda export: Target("postgresql+pg8000://sqlsync@127.0.0.1/sqlsync"),
            clock=self.clock,
        )

    def create(self, schedule: str) -> Export:
        data = ExportIn(
            name="nightly",
            connector_id="pg",
            datasets=[ExportDataset.CONTACTS],
            target_schema="public",
            schedule=schedule,
        )
        return self.service.create(ACCOUNT, data)  # due at once: the first run is at the next tick

    def next_run_at(self, export: Export) -> float:
        state = self.states.get(export.id)
        assert state is not None
        return state.next_run_at


@pytest.mark.parametrize(
    ("schedule", "next_time"),
    [
        ("cron(0 2 * * ? *)", "2024-02-28 02:00"),
        ("cron(0 12 * * ? *)", "2024-02-28 12:00"),  # 12:00 today began before the run did
        ("cron(*/5 * * * ? *)", "2024-02-27 12:05"),
        ("cron(0 9 L * ? *)", "2024-02-29 09:00"),
        ("cron(30 8 ? * MON#1 *)", "2024-03-04 08:30"),
        ("cron(0 6 ? * MON-FRI *)", "2024-02-28 06:00"),
    ],
)
def test_a_finished_cron_export_is_due_at_its_next_time(schedule: str, next_time: str) -> None:
    world = World()
    export = world.create(schedule)

    assert world.runner.run(export.id, ALWAYS).status == "finished"
    assert world.next_run_at(export) == at(next_time)

    # the exporter's ticks leave it until then
    world.clock.now = at(next_time) - 1
    assert world.runner.run_due(ALWAYS) == []
    world.clock.now = at(next_time)
    assert [report.export_id for report in world.runner.run_due(ALWAYS)] == [export.id]


def test_a_rate_counts_from_the_start_of_the_run() -> None:
    world = World()
    export = world.create("rate(1 hour)")
    world.runner.run(export.id, ALWAYS)
    assert world.next_run_at(export) == START + 3600


@pytest.mark.parametrize(
    ("schedule", "retried_at"),
    [
        ("cron(0 2 * * ? *)", START + RETRY_SECONDS),
        ("rate(1 day)", START + RETRY_SECONDS),
        ("cron(*/2 * * * ? *)", at("2024-02-27 12:02")),  # the next time comes sooner than the retry
        ("rate(1 minute)", START + 60),
    ],
)
def test_a_failed_run_is_retried_after_five_minutes_or_at_the_next_time_if_sooner(
    schedule: str, retried_at: float
) -> None:
    world = World()
    export = world.create(schedule)
    Writer.failing = True

    report = world.runner.run(export.id, ALWAYS)

    assert report.status == "failed" and report.error == "the database refused"
    assert world.next_run_at(export) == retried_at


def test_after_its_last_time_a_cron_export_runs_no_more(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    export = world.create("cron(0 12 27 2 ? 2024)")  # only 12:00 on 27 February 2024, half a minute ago

    with caplog.at_level(logging.WARNING, logger="sqlsync.export.runner"):
        assert world.runner.run(export.id, ALWAYS).status == "finished"

    assert world.next_run_at(export) == NEVER
    assert "runs no more" in caplog.text
    assert world.service.view(export).next_run_at is None  # shown as no next run
    world.clock.now = at("2030-01-01 00:00")
    assert world.runner.run_due(ALWAYS) == []

    # "run now" still runs it, once
    world.service.run_now(ACCOUNT, export.id, full=False)
    assert [report.status for report in world.runner.run_due(ALWAYS)] == ["finished"]
    assert world.next_run_at(export) == NEVER


def test_a_failed_last_run_is_still_retried() -> None:
    world = World()
    export = world.create("cron(0 12 27 2 ? 2024)")
    Writer.failing = True
    assert world.runner.run(export.id, ALWAYS).status == "failed"
    assert world.next_run_at(export) == START + RETRY_SECONDS


def test_a_changed_schedule_takes_effect_at_once_unless_a_run_holds_the_export() -> None:
    world = World()
    export = world.create("rate(1 day)")
    world.runner.run(export.id, ALWAYS)
    assert world.next_run_at(export) == START + 86400

    # WHEN the schedule is changed: the next run is the new schedule's next time from now
    world.clock.now = START + 600
    changed = ExportIn(**{**export.model_dump(include=set(ExportIn.model_fields)), "schedule": "cron(0 13 * * ? *)"})
    world.service.update(ACCOUNT, export.id, changed)
    assert world.next_run_at(export) == at("2024-02-27 13:00")

    # AND a schedule that names no later time shows no next run
    past = changed.model_copy(update={"schedule": "cron(0 12 27 2 ? 2024)"})
    world.service.update(ACCOUNT, export.id, past)
    assert world.next_run_at(export) == NEVER and world.service.view(export).next_run_at is None

    # BUT while a run holds the export, its state is left to the run (changing it would stop the run)
    state = world.states.get(export.id)
    assert state is not None
    assert world.states.save(replace(state, lease_until=world.clock.now + 60, version=state.version + 1))
    world.service.update(ACCOUNT, export.id, changed)
    assert world.next_run_at(export) == NEVER
