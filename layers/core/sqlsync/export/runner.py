"""Running exports: each due export, dataset after dataset, chunk after chunk, each chunk committed in the
database and then its feed cursor saved (docs/exports.md).

An export runs under a lease (a conditional write on its state), so two exporters never run it at once.
A chunk is upserted in one transaction, then the cursor after it is saved: a run that stops or fails in
between resumes from the last saved cursor and upserts that chunk again, which changes nothing. The feed
is read up to LAG_SECONDS ago only: DynamoDB's index is eventually consistent, and a write that shows up
in it late must not fall behind a cursor that has already passed its time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlsync.collector import collector_paused
from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.base import INT_OR_NONE, STR_OR_NONE
from sqlsync.export.datasets import DATASETS, Column, Dataset
from sqlsync.export.schedules import NEVER, next_run_time
from sqlsync.export.sources import Source
from sqlsync.export.writer import ExportError, ExportWriter
from sqlsync.models.exports import Export
from sqlsync.store.base import ConfigStore, ExportState, ExportStateStore
from sqlsync.store.exceptions import StoreError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 5000
"""Rows per upsert transaction and cursor save: what a failed run repeats at most."""
LAG_SECONDS = 60.0
LEASE_SECONDS = 900.0
"""How long a run holds its export; renewed at every chunk, so only a run that died lets it go."""
RESERVE_SECONDS = 30.0
"""A run starts no chunk with less time left: the next tick goes on from the saved cursor."""
RETRY_SECONDS = 300.0
"""A failed run is tried again after this, or at the schedule's next time if that comes sooner."""

Status = Literal["finished", "partial", "failed", "skipped"]


@dataclass
class RunReport:
    export_id: str
    status: Status
    rows: dict[str, int] = field(default_factory=dict)
    """Per dataset: rows read from the feed and upserted (inserted or changed: an unchanged row is not counted)."""
    changes: list[str] = field(default_factory=list)
    """Tables created and columns added."""
    error: str | None = None


class _Overtaken(Exception):
    """Another run saved the export's state: this one stops."""


@dataclass
class _Progress:
    """The export's state as this run last saved it (kept when a chunk fails)."""

    state: ExportState


class ExportRunner:
    def __init__(
        self,
        config: ConfigStore,
        states: ExportStateStore,
        sources: dict[str, Source],
        target_of: Callable[[Export], Target],
        clock: Callable[[], float] = time.time,
        chunk_rows: int = CHUNK_ROWS,
        lag: float = LAG_SECONDS,
    ) -> None:
        self.config = config
        self.states = states
        self.sources = sources
        self.target_of = target_of
        self.clock = clock
        self.chunk_rows = chunk_rows
        self.lag = lag

    def run_due(self, time_left: Callable[[], float]) -> list[RunReport]:
        """Run every export whose time has come, oldest due first, while time is left."""
        now = self.clock()
        due = sorted(
            (state for state in self.states.list_all() if state.next_run_at <= now and state.lease_until <= now),
            key=lambda state: state.next_run_at,
        )
        reports: list[RunReport] = []
        for state in due:
            if time_left() < RESERVE_SECONDS:
                break
            reports.append(self.run(state.export_id, time_left))
        return reports

    def run(self, export_id: str, time_left: Callable[[], float]) -> RunReport:
        state = self.states.get(export_id)
        export = self.config.get_export(export_id)
        if state is None or export is None or not export.active:
            return RunReport(export_id, "skipped", error="no such export, or paused")
        now = self.clock()
        if state.lease_until > now:
            return RunReport(export_id, "skipped", error="running elsewhere")
        state = replace(state, lease_until=now + LEASE_SECONDS, version=state.version + 1)
        if not self.states.save(state):
            return RunReport(export_id, "skipped", error="running elsewhere")
        report = RunReport(export_id, "finished")
        started = now
        progress = _Progress(state)
        try:
            self._export(export, progress, report, time_left)
        except _Overtaken:
            return RunReport(export_id, "skipped", report.rows, report.changes, "overtaken by another run")
        except (TargetError, ExportError, StoreError) as exc:  # StoreError: sqlsync's store, throttled or down
            report.status, report.error = "failed", str(exc)
            logger.warning("export failed", extra={"export_id": export_id, "error": report.error})
        scheduled = next_run_time(export.schedule, started)  # a rate counts from this run's start
        if report.status == "finished":
            next_run = scheduled
            if scheduled == NEVER:
                logger.warning(
                    "export's schedule names no later time: it runs no more",
                    extra={"export_id": export_id, "schedule": export.schedule},
                )
        elif report.status == "failed":
            next_run = min(scheduled, self.clock() + RETRY_SECONDS)
        else:
            next_run = self.clock()  # partial: the next tick goes on
        last_run = {
            "started_at": _iso(started),
            "finished_at": _iso(self.clock()),
            "status": report.status,
            "rows": report.rows,
            "changes": report.changes,
            "error": report.error,
        }
        try:
            self._save(replace(progress.state, lease_until=0.0, next_run_at=next_run, last_run=last_run))
        except _Overtaken:
            return RunReport(export_id, "skipped", report.rows, report.changes, "overtaken by another run")
        return report

    def _export(self, export: Export, progress: _Progress, report: RunReport, time_left: Callable[[], float]) -> None:
        target = self.target_of(export)
        writer = ExportWriter(target)
        schema = export.target_schema or target.base_dialect.default_schema(target.url.database)
        if schema is None:
            raise ExportError("the connector names no database: set the export's target_schema")
        until = self.clock() - self.lag
        for name in export.datasets:
            dataset = DATASETS[name]
            source = self.sources.get(name)
            if source is None:
                raise ExportError(f"{name}: sqlsync does not keep this dataset yet")
            report.changes += writer.prepare(schema, dataset)
            report.rows[name] = 0
            cursor = progress.state.watermarks.get(name, "")
            while True:
                if time_left() < RESERVE_SECONDS:
                    report.status = "partial"
                    return
                # A chunk is thousands of short-lived rows: the collector would walk them again and again.
                with collector_paused():
                    page = source.read(export.account_id, cursor, until, self.chunk_rows)
                    if not page:
                        break
                    rows = [(at, row) for at, row in page if row is not None]  # None: read past, no row
                    if rows:
                        report.rows[name] += writer.upsert(schema, dataset, table_rows(dataset, rows))
                if page[-1][0] <= cursor:  # a source that does not move on would be read forever
                    raise ExportError(f"{name}: the feed did not move past {cursor!r}")
                cursor = page[-1][0]
                state = progress.state
                progress.state = self._save(
                    replace(
                        state,
                        watermarks={**state.watermarks, name: cursor},
                        lease_until=self.clock() + LEASE_SECONDS,
                    )
                )

    def _save(self, state: ExportState) -> ExportState:
        saved = replace(state, version=state.version + 1)
        if not self.states.save(saved):
            raise _Overtaken
        return saved


def table_rows(dataset: Dataset, page: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """The rows in the table's column order, each value fitted to its column (a varchar's length).

    Once per value of every row exported: the rows are made and checked with C loops (map, zip, set), and only
    a column holding a value to fit is fitted value by value."""
    names = [column.name for column in dataset.columns]
    rows = [tuple(map(row.get, names)) for _, row in page]
    if not rows:
        return rows
    columns = list(zip(*rows, strict=True))
    fitted = False
    for index, column in enumerate(dataset.columns):
        if column.type in _FITTED_TYPES and not _fit_already(column, columns[index]):
            columns[index] = tuple(_fitted(column, value) for value in columns[index])
            fitted = True
    return list(zip(*columns, strict=True)) if fitted else rows


_FITTED_TYPES = frozenset({"varchar", "text", "int", "bigint"})


def _fit_already(column: Column, values: tuple[Any, ...]) -> bool:
    """Whether _fitted would return every value as it is (exact types only: a bool is not an int here)."""
    kinds = set(map(type, values))
    if column.type in ("int", "bigint"):
        return kinds <= INT_OR_NONE
    if not kinds <= STR_OR_NONE:
        return False
    return column.length is None or max(map(len, filter(None, values)), default=0) <= column.length


def _fitted(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type in ("varchar", "text") and not isinstance(value, str):
        value = str(value)
    if column.type == "varchar" and column.length is not None and len(value) > column.length:
        return value[: column.length]  # the vendor's column widths; a longer value is cut, not refused
    if column.type in ("int", "bigint") and (isinstance(value, bool) or not isinstance(value, int)):
        return None
    return value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
