"""Exports as the API sees them: created, changed, deleted, shown with their state, run now (docs/exports.md)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlsync.export.schedules import NEVER, next_run_time
from sqlsync.models.connectors import ConnectorType
from sqlsync.models.exports import Export, ExportIn, ExportOut
from sqlsync.store.base import ConfigStore, ExportState, ExportStateStore


class ExportConfigError(ValueError):
    """An export that cannot be saved as sent: names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


EXPORT_CONNECTOR_TYPES = frozenset({ConnectorType.POSTGRESQL, ConnectorType.MYSQL})


class ExportService:
    def __init__(self, config: ConfigStore, states: ExportStateStore, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.states = states
        self.clock = clock

    def create(self, account_id: int, data: ExportIn) -> Export:
        self._check(account_id, data)
        now = self.clock()
        export = Export(
            **data.model_dump(),
            id=secrets.token_hex(8),
            account_id=account_id,
            created_at=_at(now),
            updated_at=_at(now),
        )
        self.config.put_export(export)
        self.states.create(ExportState(export.id, account_id, next_run_at=now))  # the first run: at the next tick
        return export

    def update(self, account_id: int, export_id: str, data: ExportIn) -> Export | None:
        current = self.get(account_id, export_id)
        if current is None:
            return None
        self._check(account_id, data)
        export = Export(
            **data.model_dump(),
            id=export_id,
            account_id=account_id,
            created_at=current.created_at,
            updated_at=_at(self.clock()),
        )
        self.config.put_export(export)
        if export.schedule != current.schedule:
            self._reschedule(export)
        return export

    def _reschedule(self, export: Export) -> None:
        """A changed schedule takes effect at once: the next run is the new schedule's next time from now.
        Unless a run holds the export: changing its state would stop it at its next save, so its own end
        counts the next run (from the schedule it started with), and the new one applies after that."""
        now = self.clock()
        next_run = next_run_time(export.schedule, now)
        self._change_state(
            export.id,
            export.account_id,
            lambda state: None if state.lease_until > now else {"next_run_at": next_run},
            next_run,
        )

    def _change_state(
        self,
        export_id: str,
        account_id: int,
        changes: Callable[[ExportState], dict[str, Any] | None],
        first_run_at: float,
    ) -> None:
        """Save the state with `changes` (None: leave it), again if a run saved it meanwhile; a lost state is
        started afresh, due at `first_run_at`."""
        for _ in range(10):
            state = self.states.get(export_id)
            if state is None:
                self.states.create(ExportState(export_id, account_id, next_run_at=first_run_at))
                return
            changed = changes(state)
            if changed is None or self.states.save(replace(state, **changed, version=state.version + 1)):
                return
        raise ExportConfigError("id", "the export's state keeps changing (a run is saving it); try again")

    def delete(self, account_id: int, export_id: str) -> bool:
        if self.get(account_id, export_id) is None:
            return False
        self.config.delete_export(export_id)
        self.states.delete(export_id)
        return True

    def get(self, account_id: int, export_id: str) -> Export | None:
        export = self.config.get_export(export_id)
        return export if export is not None and export.account_id == account_id else None

    def list(self, account_id: int) -> list[Export]:
        return self.config.list_exports(account_id)

    def run_now(self, account_id: int, export_id: str, full: bool) -> Export | None:
        """Make the export due now (the exporter's next tick, within a minute, runs it); `full` starts every
        dataset from the beginning (a full re-export: upserts, so rows already there are only updated)."""
        export = self.get(account_id, export_id)
        if export is None:
            return None
        now = self.clock()
        self._change_state(
            export_id,
            account_id,
            lambda state: {
                "next_run_at": min(state.next_run_at, now),
                # A run holding the lease is overtaken at its next save and stops; the next tick starts afresh.
                "lease_until": 0.0,
                "watermarks": {} if full else state.watermarks,
            },
            now,
        )
        return export

    def view(self, export: Export) -> ExportOut:
        state = self.states.get(export.id)
        now = self.clock()
        return ExportOut(
            **export.model_dump(exclude={"account_id"}),
            next_run_at=(
                _at(state.next_run_at) if state is not None and export.active and state.next_run_at < NEVER else None
            ),
            running=state is not None and state.lease_until > now,
            last_run=state.last_run if state is not None else None,
            watermarks={
                name: _cursor_time(state.watermarks.get(name, "")) if state is not None else None
                for name in export.datasets
            },
        )

    def _check(self, account_id: int, data: ExportIn) -> None:
        connector = self.config.get_connector(data.connector_id)
        if connector is None or connector.account_id != account_id:
            raise ExportConfigError("connector_id", f"no connector {data.connector_id!r} in this account")
        if connector.type not in EXPORT_CONNECTOR_TYPES:
            raise ExportConfigError(
                "connector_id", f"exports write to PostgreSQL or MySQL; this connector is {connector.type}"
            )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _cursor_time(cursor: str) -> datetime | None:
    """A feed cursor starts with the time of the change it is at."""
    head = cursor.partition("#")[0]
    return _at(float(head)) if head else None
