"""A scheduled export into the real MariaDB: the table is created in the connector's database (a MySQL
schema is a database), later runs send only what changed, a re-run changes nothing."""

from __future__ import annotations

import pytest

from sqlsync.connectors import Target, target_for
from sqlsync.customers.service import CustomerService
from sqlsync.export.runner import ExportRunner
from sqlsync.export.service import ExportService
from sqlsync.export.sources import sources, stable_id
from sqlsync.models.connectors import ConnectorType
from sqlsync.models.exports import Export, ExportDataset, ExportIn
from sqlsync.store.memory import InMemoryConfigStore, InMemoryCustomerStore, InMemoryExportStateStore
from testkit import connector, rows, run_sql

pytestmark = pytest.mark.services

ACCOUNT = 5
START = 1_800_000_000.0


def test_contacts_and_events_are_exported_into_the_connectors_database(mariadb_url: str) -> None:
    now = [START]
    customers_store = InMemoryCustomerStore()
    customers = CustomerService(customers_store, clock=lambda: now[0])
    config, states = InMemoryConfigStore(), InMemoryExportStateStore()
    config.put_connector(connector("my", ACCOUNT, ConnectorType.MYSQL))
    exports = ExportService(config, states, clock=lambda: now[0])
    export = exports.create(
        ACCOUNT, ExportIn(name="to mariadb", connector_id="my", datasets=[ExportDataset.CONTACTS, ExportDataset.EVENTS])
    )

    def target_of(_: Export) -> Target:
        return target_for(mariadb_url)

    runner = ExportRunner(config, states, sources(customers_store), target_of, clock=lambda: now[0], lag=60)
    customers.update(ACCOUNT, {"registered": "zoe"}, {"email": "zoe@example.com", "first_name": "Zoë 🦊"}, START)
    customers.track(ACCOUNT, {"registered": "zoe"}, "view", {"page": "/a'b\\c"}, START)
    try:
        now[0] = START + 120
        report = runner.run(export.id, lambda: 1e9)
        assert report.status == "finished", report.error
        assert report.rows == {"contacts": 1, "events": 1}
        assert rows(mariadb_url, "SELECT contactid, firstname, emaildomain FROM contacts") == [
            (stable_id(ACCOUNT, "registered:zoe"), "Zoë 🦊", "example.com")
        ]
        assert rows(mariadb_url, "SELECT eventtypekey, JSON_VALUE(paramsjson, '$.page') FROM events") == [
            ("view", "/a'b\\c")
        ]

        exports.run_now(ACCOUNT, export.id, full=True)
        now[0] = START + 300
        again = runner.run(export.id, lambda: 1e9)
        assert again.status == "finished" and again.rows == {"contacts": 0, "events": 0}
    finally:
        run_sql(mariadb_url, "DROP TABLE IF EXISTS contacts", "DROP TABLE IF EXISTS events")
