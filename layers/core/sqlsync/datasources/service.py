"""Data sources as the API sees them: saved after their table and contact column were found in the
database's catalog; read by contact (one or many) and by condition (segments of known customers)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlsync.connectors import Target
from sqlsync.customers.ids import id_key
from sqlsync.datasources.exceptions import DataSourceError, UnknownDataSourceError
from sqlsync.datasources.reader import check_column, column_types, matching_contacts, reflect, rows_by_contact
from sqlsync.models.connectors import Connector, ConnectorType, ContactKey
from sqlsync.models.datasources import MAX_CONTACTS, Condition, DataSource, DataSourceIn, DataSourceOut
from sqlsync.store.base import ConfigStore, CustomerStore
from sqlsync.sync.cache import TtlCache

SOURCE_CONNECTOR_TYPES = frozenset({ConnectorType.POSTGRESQL, ConnectorType.MYSQL})
_CONTACT_COLUMNS = {ContactKey.EMAIL: "email", ContactKey.PHONE: "phone", ContactKey.EXTERNAL_ID: "external_id"}
_CUSTOMER_READ_KEYS = 100


class DataSourceService:
    def __init__(
        self,
        config: ConfigStore,
        connector_target: Callable[[str, int], Target],
        customers: CustomerStore | None = None,
        clock: Callable[[], float] = time.time,
        table_ttl: float = 60.0,
        source_ttl: float = 30.0,
    ) -> None:
        self.config = config
        self.connector_target = connector_target
        self.customers = customers
        self.clock = clock
        # Reflected tables per data source version: a lookup costs one query, not a catalog read as well.
        self._tables: TtlCache[tuple[str, datetime], Any] = TtlCache(table_ttl)
        self._sources: TtlCache[tuple[int, str], DataSource | None] = TtlCache(source_ttl)

    # Configuration ------------------------------------------------------------------------------

    def create(self, account_id: int, data: DataSourceIn) -> DataSource:
        if self.get(account_id, data.name) is not None:
            raise DataSourceError("name", f"a data source named {data.name!r} exists; PUT changes it")
        return self._save(account_id, data, None)

    def update(self, account_id: int, name: str, data: DataSourceIn) -> DataSource | None:
        current = self.get(account_id, name)
        if current is None:
            return None
        if data.name != name:
            raise DataSourceError("name", "a data source cannot be renamed (templates name it); create another")
        return self._save(account_id, data, current.created_at)

    def delete(self, account_id: int, name: str) -> bool:
        return self.get(account_id, name) is not None and self.config.delete_body("datasource", _id(account_id, name))

    def get(self, account_id: int, name: str) -> DataSource | None:
        body = self.config.get_body("datasource", _id(account_id, name))
        return None if body is None else DataSource.model_validate_json(body)

    def list_sources(self, account_id: int) -> list[DataSource]:
        return [DataSource.model_validate_json(body) for body in self.config.list_bodies("datasource", account_id)]

    def view(self, source: DataSource) -> DataSourceOut:
        return DataSourceOut(
            **source.model_dump(exclude={"id", "account_id"}), columns=column_types(self._table(source))
        )

    # Reading --------------------------------------------------------------------------------------

    def rows(self, source: DataSource, contacts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each contact's rows, JSON-typed: what a template reads as $!data.get('<name>')."""
        return rows_by_contact(self._target(source), self._table(source), self._contact_column(source), contacts)

    def lookup(self, account_id: int, name: str, contacts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """`rows` of the account's data source by name (trigger enrichment: hooks.enrichment.RowSource), the
        configuration read through a short cache; at most MAX_CONTACTS contacts per query."""
        source = self._sources.get((account_id, name), lambda key: self.get(*key))
        if source is None:
            raise UnknownDataSourceError("no data source of that name in this account (any more)")
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(contacts), MAX_CONTACTS):
            found.update(self.rows(source, contacts[start : start + MAX_CONTACTS]))
        return found

    def segment(
        self, source: DataSource, conditions: Sequence[Condition], match_all: bool, limit: int
    ) -> dict[str, Any]:
        """The contacts whose rows pass the conditions and who exist among sqlsync's customers."""
        matched = matching_contacts(
            self._target(source), self._table(source), self._contact_column(source), conditions, match_all, limit
        )
        known = self._known(source, matched)
        return {"contacts": known, "matched": len(matched), "known": len(known), "truncated": len(matched) >= limit}

    def _known(self, source: DataSource, contacts: list[str]) -> list[str]:
        if self.customers is None:
            return contacts
        known: list[str] = []
        for start in range(0, len(contacts), _CUSTOMER_READ_KEYS):
            chunk = contacts[start : start + _CUSTOMER_READ_KEYS]
            found = self.customers.read(source.account_id, [id_key(source.customer_id_type, c) for c in chunk])
            known += [c for c in chunk if id_key(source.customer_id_type, c) in found]
        return known

    # Internals -------------------------------------------------------------------------------------

    def _save(self, account_id: int, data: DataSourceIn, created_at: datetime | None) -> DataSource:
        connector = self.config.get_connector(data.connector_id)
        if connector is None or connector.account_id != account_id:
            raise DataSourceError("connector_id", f"no connector {data.connector_id!r} in this account")
        if connector.type not in SOURCE_CONNECTOR_TYPES:
            raise DataSourceError(
                "connector_id", f"data sources read PostgreSQL or MySQL; this one is {connector.type}"
            )
        contact_column = data.contact_column or _contact_column(connector)
        now = datetime.fromtimestamp(self.clock(), UTC)
        source = DataSource(
            **{**data.model_dump(), "contact_column": contact_column},
            id=_id(account_id, data.name),
            account_id=account_id,
            created_at=created_at or now,
            updated_at=now,
        )
        table = reflect(self._target(source), _schema(source), source.table)
        check_column(table, contact_column, "contact_column")
        self.config.put_body("datasource", source.id, account_id, source.model_dump_json())
        return source

    def _target(self, source: DataSource) -> Target:
        return self.connector_target(source.connector_id, source.account_id)

    def _table(self, source: DataSource) -> Any:
        def load(_: tuple[str, datetime]) -> Any:
            return reflect(self._target(source), _schema(source), source.table)

        return self._tables.get((source.id, source.updated_at), load)

    def _contact_column(self, source: DataSource) -> str:
        assert source.contact_column is not None  # set when saved
        return source.contact_column


def _contact_column(connector: Connector) -> str:
    if connector.contact_key == ContactKey.CUSTOM:
        if not connector.contact_key_field:
            raise DataSourceError("contact_column", "the connector's contact key is custom without a column: name one")
        return connector.contact_key_field
    return _CONTACT_COLUMNS[connector.contact_key]


def _schema(source: DataSource) -> str | None:
    """None: the connection's default (public on PostgreSQL, the connector's database on MySQL)."""
    return source.schema_name


def _id(account_id: int, name: str) -> str:
    """Names are unique per account; the config table's ids are global."""
    return f"{account_id}:{name}"
