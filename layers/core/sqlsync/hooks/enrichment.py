"""Trigger enrichment: rows of the account's data sources, read by contact when an event is delivered, go
with it as `"jsonParam": "<JSON text>"` — {"<data source name>": [rows]} serialized, as eSputnik's triggers
carry them (docs/hooks.md).

Read at delivery, not at ingest: the user's database being slow or down delays the events that need it
(retried like a receiver that is down) instead of failing the platform's request. One query per data source
per batch, for all the batch's contacts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlsync.connectors import TargetError
from sqlsync.datasources.exceptions import DataSourceError, UnknownDataSourceError
from sqlsync.hooks.delivery import DeliveryResult
from sqlsync.store.exceptions import StoreError

logger = logging.getLogger(__name__)

Key = TypeVar("Key")

Rows = dict[str, list[dict[str, Any]]]
"""Each contact's rows, JSON-typed."""


class RowSource(Protocol):
    def lookup(self, account_id: int, name: str, contacts: Sequence[str]) -> Rows:
        """Each contact's rows of the account's data source `name`. UnknownDataSourceError when there is no
        such data source; TargetError, StoreError or DataSourceError when it cannot be read."""


@dataclass
class Enrichment(Generic[Key]):
    data: dict[Key, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """Per event: {data source name: the contact's rows}, for jsonParam."""
    failed: dict[Key, DeliveryResult] = field(default_factory=dict)
    """Per event: why its data could not be read (retryable when the database may come back)."""


def enrich(
    source: RowSource | None, account_id: int, wanted: Iterable[tuple[Key, Sequence[tuple[str, str]]]]
) -> Enrichment[Key]:
    """The data of each (event's key, [(data source, contact)]) of one hook's batch; the keys are the
    caller's, one per event."""
    wanted = [(event_key, lookups) for event_key, lookups in wanted if lookups]
    contacts: dict[str, set[str]] = defaultdict(set)
    for _, lookups in wanted:
        for name, contact in lookups:
            contacts[name].add(contact)
    found: dict[str, Rows] = {}
    problems: dict[str, DeliveryResult] = {}
    for name, keys in contacts.items():
        try:
            if source is None:
                raise UnknownDataSourceError("this deployment reads no data sources")
            found[name] = source.lookup(account_id, name, sorted(keys))
        except UnknownDataSourceError as exc:
            problems[name] = _failed(f"data source {name!r}: {exc}", retryable=False)
        except TargetError as exc:
            problems[name] = _failed(f"data source {name!r} could not be read: {exc}", retryable=exc.transient)
        except StoreError as exc:
            problems[name] = _failed(f"data source {name!r}: its configuration could not be read: {exc}", True)
        except DataSourceError as exc:  # its table or contact column is gone from the database
            problems[name] = _failed(f"data source {name!r}: {exc}", retryable=False)
    result: Enrichment[Key] = Enrichment()
    for event_key, lookups in wanted:
        problem = next((problems[name] for name, _ in lookups if name in problems), None)
        if problem is not None:
            result.failed[event_key] = problem
        else:
            result.data[event_key] = {name: found[name].get(contact, []) for name, contact in lookups}
    return result


def _failed(detail: str, retryable: bool) -> DeliveryResult:
    logger.warning("trigger enrichment: %s", detail)
    return DeliveryResult(ok=False, delivered=0, retryable=retryable, detail=detail)
