"""The tracking batch (`POST /track/v2/projects/{project_id}/batch`): each command run alone, its result in
order. A malformed command, or one the store failed on, fails alone; the others are applied."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlsync.customers.exceptions import CustomerError
from sqlsync.customers.service import CustomerService
from sqlsync.store.exceptions import StoreError

logger = logging.getLogger(__name__)

MAX_COMMANDS = 50
"""Commands per batch, as Bloomreach's batch endpoint allows."""


def run_batch(service: CustomerService, account: int, commands: Sequence[Any]) -> list[dict[str, Any]]:
    """One result per command: {"success": true[, "time": t]} or {"success": false, "errors": ["field: why"]}."""
    return [run_command(service, account, command) for command in commands]


def run_command(service: CustomerService, account: int, command: Any) -> dict[str, Any]:
    try:
        return _run(service, account, command)
    except CustomerError as exc:
        return {"success": False, "errors": [str(exc)]}
    except StoreError as exc:
        logger.error("tracking command failed: %s", exc)
        return {"success": False, "errors": ["storage is unavailable for a moment; resending this command is safe"]}


def _run(service: CustomerService, account: int, command: Any) -> dict[str, Any]:
    if not isinstance(command, Mapping):
        raise CustomerError("command", 'an object such as {"name": "customers", "data": {...}}')
    name = command.get("name")
    unknown = sorted(set(command) - {"name", "data", "command_id"})
    if unknown:
        raise CustomerError(unknown[0], "unknown field; a command has name and data")
    if name == "system/time":
        return {"success": True, "time": service.clock()}
    if not isinstance(name, str) or name not in _COMMANDS:
        raise CustomerError("name", f"unknown command {name!r}; known: system/time, {', '.join(_COMMANDS)}")
    fields, run = _COMMANDS[name]
    data = command.get("data")
    if not isinstance(data, Mapping):
        raise CustomerError("data", "an object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CustomerError(f"data.{unknown[0]}", f"unknown field; {name} takes {', '.join(fields)}")
    try:
        run(service, account, data)
    except CustomerError as exc:
        raise CustomerError(f"data.{exc.field}", exc.message) from exc
    return {"success": True}


def _customers(service: CustomerService, account: int, data: Mapping[str, Any]) -> None:
    service.update(account, data.get("customer_ids") or {}, data.get("properties") or {}, data.get("update_timestamp"))


def _event(service: CustomerService, account: int, data: Mapping[str, Any]) -> None:
    service.track(
        account,
        data.get("customer_ids") or {},
        cast(str, data.get("event_type")),  # track checks it
        data.get("properties") or {},
        data.get("timestamp"),
    )


# Each command: the fields its data may have, and what runs it.
_COMMANDS: dict[str, tuple[tuple[str, ...], Callable[[CustomerService, int, Mapping[str, Any]], None]]] = {
    "customers": (("customer_ids", "properties", "update_timestamp"), _customers),
    "customers/events": (("customer_ids", "event_type", "timestamp", "properties"), _event),
}
