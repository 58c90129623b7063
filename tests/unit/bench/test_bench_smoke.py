"""Smoke test of the benchmarks: each runs with tiny sizes and returns well-formed rows.

No timing is asserted here (timings never go in tests); only the structure of the results, the checks a
benchmark makes to be fair (equal SQL, all rows committed), and the scratch database's cleanup.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # `bench` lives at the repository root, beside layers/ and functions/
    sys.path.insert(0, str(ROOT))

from bench import cold_start, customers, exports, hooks, render, sync_throughput  # noqa: E402
from bench.__main__ import main  # noqa: E402
from bench.common import BenchmarkError, Options, Row, ServiceUnavailableError, Target, format_table  # noqa: E402
from bench.databases import Server, scratch_database, servers  # noqa: E402

REQUIRE_SERVICES = os.environ.get("SQLSYNC_REQUIRE_SERVICES") == "1"
TINY = sync_throughput.Workload(profiles=30, profiles_per_event=10, batch_size=8, messages_per_invocation=2)


def _check_row(row: Row, unit: str) -> None:
    assert row.name
    assert row.unit == unit
    assert row.ours > 0 and row.baseline > 0
    assert row.ratio == pytest.approx(row.ours / row.baseline)
    assert isinstance(row.met, bool)


def _server(name: str) -> Server:
    server = next(server for server in servers() if server.name == name)
    try:
        server.connect().close()
    except ServiceUnavailableError as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"{exc} (SQLSYNC_REQUIRE_SERVICES=1)")
        pytest.skip(str(exc))
    return server


def test_render_benchmark_row_and_equal_sql() -> None:
    (row,) = render.run(Options(quick=True, repeat=1), leads_count=25, renders=2)
    _check_row(row, "leads/s")
    assert row.target == Target("ratio>=", render.TARGET_RATIO)
    ours, jinja = render.renderers()
    leads = [{"CustomID": "a'b", "email": None, "name": "x", "city": "y"}]
    assert ours({"segment_id": 1}, leads) == jinja({"segment_id": 1}, leads)
    assert "'a''b', NULL" in ours({"segment_id": 1}, leads)


def test_hooks_benchmark_row_after_checking_every_request() -> None:
    # The benchmark itself fails when the receiver did not get exactly the expected, signed requests (here in
    # invocations of one message, of 100 events, cut into requests of 3).
    (row,) = hooks.run(
        Options(quick=True, repeat=1), hooks.Workload(events=300, batch_size=3, messages_per_invocation=1)
    )
    _check_row(row, "events/s")
    assert row.target == Target("ratio>=", hooks.TARGET_RATIO)


def test_customers_rows_after_checking_the_merge_and_the_calls() -> None:
    # The benchmark itself fails when ours does not end as the merge rule says, or when an update of an existing
    # customer is not exactly one GetItem and one conditional PutItem on moto; the environment is left as it was.
    environment = dict(os.environ)
    throughput, calls = customers.run(
        Options(quick=True, repeat=1), customers.Workload(customers=40, dynamodb_customers=2, dynamodb_rounds=2)
    )
    assert dict(os.environ) == environment
    _check_row(throughput, "updates/s")
    assert throughput.target == Target("ratio>=", customers.TARGET_RATIO)
    _check_row(calls, "calls/update")
    assert calls.target == Target("ours<=", 2.0, " calls")
    assert calls.ours == calls.baseline == 2.0  # counts, not timings
    assert calls.extra_ok and calls.met
    assert any("1.00 BatchGetItem + 1.00 TransactWriteItems" in note for note in calls.notes), calls.notes


def test_customers_benchmark_fails_when_the_common_case_costs_more() -> None:
    calls = Counter({"GetItem": 4, "PutItem": 4, "Query": 1})
    with pytest.raises(BenchmarkError, match="exactly 1 GetItem"):
        customers.check_common_case(customers.Case("existing", 4, calls))
    with pytest.raises(BenchmarkError, match="1 writes without a condition"):
        customers.check_common_case(
            customers.Case("existing", 4, Counter({"GetItem": 4, "PutItem": 4}), unconditional_writes=1)
        )


def test_cold_start_rows_and_no_driver_imported() -> None:
    rows = cold_start.run(Options(repeat=1), samples=1)
    assert [row.name for row in rows] == [
        "cold start sync_worker import",
        "cold start ingest import",
        "cold start hook_dispatcher import",
    ]
    for row in rows:
        _check_row(row, "ms")
        assert row.target.kind == "ours<="
        assert "drivers imported: none" in row.notes[0], row.notes
        assert row.extra_ok


def test_table_prints_every_column_and_a_missed_target() -> None:
    rows = [
        Row("fast", 10.0, 5.0, "leads/s", "jinja", Target("ratio>=", 3.0)),
        Row("import", 120.0, 100.0, "ms", "boto3", Target("ours<=", 300.0, " ms")),
    ]
    table = format_table(rows)
    assert "ratio >= 3" in table and "2.00" in table and "NO" in table
    assert "ours <= 300 ms" in table and "yes" in table


def test_cli_runs_one_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--only", "render", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "render postgresql" in out and "target" in out


def test_batch_size_comes_from_the_template() -> None:
    assert sync_throughput.messages_per_invocation() >= 1


@pytest.mark.services
@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_sync_benchmark_commits_every_row(name: str) -> None:
    server = _server(name)
    prepared = sync_throughput.prepare(TINY)
    assert len(prepared.messages) == 3 and len(prepared.rows) == TINY.profiles
    row = sync_throughput.bench_server(server, TINY, prepared, Options(repeat=1))
    _check_row(row, "profiles/s")
    assert row.target == Target("ratio>=", sync_throughput.TARGET_RATIO)
    assert any("ledger DynamoDB calls" in note for note in row.notes)


@pytest.mark.services
@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_scratch_database_is_dropped_also_on_failure(name: str) -> None:
    server = _server(name)
    with pytest.raises(RuntimeError, match="boom"), scratch_database(server) as database:
        raise RuntimeError("boom")
    connection = server.connect()
    try:
        cursor = connection.cursor()
        if name == "postgresql":
            cursor.execute("SELECT datname FROM pg_database")
        else:
            cursor.execute("SHOW DATABASES")
        assert database not in {found for (found,) in cursor.fetchall()}
    finally:
        connection.close()


@pytest.mark.services
def test_profile_breaks_the_worker_down_by_phase() -> None:
    from bench import sync_profile

    server = _server("postgresql")
    report = sync_profile.profile_server(server, TINY, sync_throughput.prepare(TINY))
    assert "ledger claims" in report and "execute (SQLAlchemy + DB)" in report


def test_exports_feed_index_reads_as_the_in_memory_store_does() -> None:
    # The benchmark reads the feed through an index (the in-memory store's own feed decodes every customer at
    # each read); both must give the same pages, cursor after cursor, and up to the same time.
    store, last_write = exports.fill(23)
    plain = [store.changed_customers(exports.ACCOUNT, "", last_write, 5)]
    assert store.index(exports.ACCOUNT) == 23
    for until in (last_write, last_write - 0.0105, exports.T0 - 1):
        cursor = ""
        while True:
            page = store.changed_customers(exports.ACCOUNT, cursor, until, 5)
            assert page == exports.InMemoryCustomerStore.changed_customers(store, exports.ACCOUNT, cursor, until, 5)
            if not page:
                break
            cursor = page[-1][0]
    assert store.changed_customers(exports.ACCOUNT, "", last_write, 5) == plain[0]
    assert store.changed_customers(exports.ACCOUNT + 1, "", last_write, 5) == []


@pytest.mark.services
def test_exports_ours_writes_every_row_as_the_feed_gives_it() -> None:
    # No dlt here: ours' first export, then its two re-exports, each checked against the feed's rows; the
    # checks refuse a table that lacks a row or holds another value.
    server = _server("postgresql")
    prepared = exports.prepare(exports.Workload(contacts=40))
    assert len(prepared.rows) == 40 and all(len(row) == len(exports.DATASET.columns) for row in prepared.rows)
    with exports.scratch(server) as db:
        run = exports.bench_ours(db, prepared, "ours")
        assert run.seconds > 0 and run.report.rows == {"contacts": 40}
        assert {"feed read (contact rows)", "COPY data encoded", "SQL: COPY into staging"} <= set(run.phases.seconds)
        exports.check_tables(db, ["ours"], prepared)
        unchanged, changed = exports.rerun_ours(db, prepared, "ours")
        assert (unchanged.report.rows, changed.report.rows) == ({"contacts": 0}, {"contacts": 40})
        exports.create_copy_table(db.url, "copy")
        db.execute("INSERT INTO copy.contacts SELECT * FROM ours.contacts")
        exports.check_tables(db, ["ours", "copy"], prepared)
        first = "(SELECT min(contactid) FROM copy.contacts)"
        db.execute(f"UPDATE copy.contacts SET firstname = 'x' WHERE contactid = {first}")
        with pytest.raises(BenchmarkError, match="rows differ"):
            exports.check_tables(db, ["ours", "copy"], prepared)
        db.execute(f"DELETE FROM copy.contacts WHERE contactid = {first}")
        with pytest.raises(BenchmarkError, match="rows, 40 exported"):
            exports.check_tables(db, ["ours", "copy"], prepared)


@pytest.mark.services
def test_exports_rows_beside_dlt_and_copy() -> None:
    _server("postgresql")
    if not exports.dlt_available():
        pytest.skip(f"{exports.DLT_PYTHON} is missing (`make bench` creates it)")
    by_dlt, by_copy = exports.run(Options(quick=True, repeat=1), exports.Workload(contacts=30, reruns=False))
    for row in (by_dlt, by_copy):
        _check_row(row, "rows/s")
        assert row.ours == by_dlt.ours
    assert by_dlt.target == Target("ratio>=", exports.TARGET_RATIO)
    assert by_copy.target == Target("ratio>=", exports.TARGET_COPY_RATIO)
    assert by_dlt.baseline_name.startswith("dlt 1.31.0")
    assert any("every row equal" in note for note in by_dlt.notes), by_dlt.notes
