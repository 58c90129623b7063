"""Trigger enrichment with an in-memory row source: one query per data source per batch, each event with
its contact's rows, and the reasons an event cannot be enriched (retry or give up)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlsync.connectors import TargetError
from sqlsync.datasources.exceptions import DataSourceError, UnknownDataSourceError
from sqlsync.hooks.enrichment import Rows, enrich
from sqlsync.store.exceptions import StoreError

TABLES: dict[str, dict[str, list[dict[str, object]]]] = {
    "promo_codes": {"a@x": [{"code": "A1"}, {"code": "A2"}], "b@x": [{"code": "B1"}]},
    "orders": {"a@x": [{"total": 12.5}]},
}


class Tables:
    """Rows of in-memory tables; data sources named in `broken` fail with their exception."""

    def __init__(self, broken: dict[str, Exception] | None = None) -> None:
        self.broken = broken or {}
        self.queries: list[tuple[int, str, list[str]]] = []

    def lookup(self, account_id: int, name: str, contacts: Sequence[str]) -> Rows:
        self.queries.append((account_id, name, list(contacts)))
        if name in self.broken:
            raise self.broken[name]
        if name not in TABLES:
            raise UnknownDataSourceError("no data source of that name in this account (any more)")
        return {contact: TABLES[name].get(contact, []) for contact in contacts}


def test_each_event_gets_its_contacts_rows_with_one_query_per_data_source() -> None:
    tables = Tables()
    wanted = [
        ("m1", [("promo_codes", "a@x"), ("orders", "a@x")]),
        ("m2", [("promo_codes", "b@x")]),
        ("m3", [("promo_codes", "nobody@x")]),
        ("m4", []),  # asks for nothing: left alone
    ]

    result = enrich(tables, 7, wanted)

    assert result.data == {
        "m1": {"promo_codes": [{"code": "A1"}, {"code": "A2"}], "orders": [{"total": 12.5}]},
        "m2": {"promo_codes": [{"code": "B1"}]},
        "m3": {"promo_codes": []},
    }
    assert result.failed == {}
    assert sorted(tables.queries) == [(7, "orders", ["a@x"]), (7, "promo_codes", ["a@x", "b@x", "nobody@x"])]


def test_a_database_that_is_down_delays_only_the_events_that_need_it() -> None:
    tables = Tables({"orders": TargetError("connection refused", transient=True)})

    result = enrich(tables, 7, [("m1", [("promo_codes", "a@x"), ("orders", "a@x")]), ("m2", [("promo_codes", "b@x")])])

    assert result.data == {"m2": {"promo_codes": [{"code": "B1"}]}}
    problem = result.failed["m1"]
    assert problem.retryable and problem.detail == "data source 'orders' could not be read: connection refused"


def test_what_cannot_come_right_by_waiting_is_given_up_on() -> None:
    tables = Tables(
        {
            "gone_table": DataSourceError("table", "no table or view 'x' in schema 'public'"),
            "bad_sql": TargetError("permission denied", transient=False),
        }
    )
    wanted = [("m1", [("deleted", "a@x")]), ("m2", [("gone_table", "a@x")]), ("m3", [("bad_sql", "a@x")])]

    failed = enrich(tables, 7, wanted).failed

    assert {message_id: problem.retryable for message_id, problem in failed.items()} == {
        "m1": False,
        "m2": False,
        "m3": False,
    }
    assert failed["m1"].detail == "data source 'deleted': no data source of that name in this account (any more)"
    assert failed["m2"].detail == "data source 'gone_table': table: no table or view 'x' in schema 'public'"


def test_configuration_that_cannot_be_read_now_is_retried_and_no_source_at_all_is_given_up_on() -> None:
    unreadable = enrich(Tables({"promo_codes": StoreError("throttled")}), 7, [("m1", [("promo_codes", "a@x")])])
    assert unreadable.failed["m1"].retryable

    nowhere = enrich(None, 7, [("m1", [("promo_codes", "a@x")])])
    assert not nowhere.failed["m1"].retryable
    assert nowhere.failed["m1"].detail == "data source 'promo_codes': this deployment reads no data sources"
