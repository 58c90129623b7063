"""The exports benchmark's baselines, run in the dlt virtualenv (`make bench` makes it: .venv-bench-dlt), never
imported by sqlsync's: dlt pins packages of its own.

    python bench/dlt_merge.py dlt ROWS_FILE URL SCHEMA TABLE [--file-format insert_values|csv]
    python bench/dlt_merge.py copy ROWS_FILE URL SCHEMA TABLE

ROWS_FILE is what bench/exports.py wrote before any clock: a first line {"columns": [{"name", "type",
"length"}], "key": [...]}, then one JSON array per row in the columns' order, timestamps as ISO text (UTC,
no zone). The rows are read and turned into Python values (datetimes) before the clock starts, so that
either side starts from objects in memory, as ours does; then they are frozen out of the cyclic garbage
collector's sight (gc.freeze), as ours' fixture is.

dlt: a new pipeline (its own working directory, no state from before) loads the rows with
write_disposition="merge" and the primary key into SCHEMA.TABLE, with column hints that give the table the
types ours has (varchar(n), integer, bigint, timestamp without time zone, the key NOT NULL). Timed: the
whole pipeline.run (extract, normalize, load: dlt's staging dataset and its merge statement).

copy: psycopg 3's COPY ... FROM STDIN of the rows (write_row, the C adapters of psycopg_binary) into
SCHEMA.TABLE, which bench/exports.py created with ours' DDL, in one transaction. Timed: the COPY and the
commit, on a connection opened before.

Prints one JSON object on stdout: {"seconds": ..., "rows": ..., "version": ...}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit


def read_rows(path: str) -> tuple[list[dict[str, Any]], list[str], list[tuple[Any, ...]]]:
    with open(path, encoding="utf-8") as file:
        header = json.loads(file.readline())
        columns: list[dict[str, Any]] = header["columns"]
        stamps = [index for index, column in enumerate(columns) if column["type"] == "timestamp"]
        rows: list[tuple[Any, ...]] = []
        for line in file:
            values = json.loads(line)
            for index in stamps:
                if values[index] is not None:
                    values[index] = datetime.fromisoformat(values[index])
            rows.append(tuple(values))
    return columns, list(header["key"]), rows


def dlt_hints(columns: list[dict[str, Any]], key: list[str]) -> dict[str, dict[str, Any]]:
    """dlt's column hints for ours' types (dlt's PostgreSQL type mapper: text with a precision is varchar(n),
    bigint with precision 32 is integer, a timestamp with timezone=False has no zone)."""
    hints: dict[str, dict[str, Any]] = {}
    for column in columns:
        kind = column["type"]
        hint: dict[str, Any]
        if kind == "varchar":
            hint = {"data_type": "text", "precision": column["length"]}
        elif kind == "text":
            hint = {"data_type": "text"}
        elif kind == "bigint":
            hint = {"data_type": "bigint"}
        elif kind == "int":
            hint = {"data_type": "bigint", "precision": 32}
        elif kind == "timestamp":
            hint = {"data_type": "timestamp", "timezone": False}
        elif kind == "numeric":
            hint = {"data_type": "decimal"}
        elif kind == "json":
            hint = {"data_type": "json"}
        else:
            raise SystemExit(f"no dlt hint for the type {kind}")
        hint["nullable"] = column["name"] not in key
        if column["name"] in key:
            hint["primary_key"] = True
            if len(key) == 1:  # dlt makes no primary key constraint; a unique one indexes the key as ours does
                hint["unique"] = True
        hints[column["name"]] = hint
    return hints


def dlt_credentials(url: str) -> str:
    """The URL as dlt takes it (postgresql://, no SQLAlchemy driver). dlt wants a password even where the
    server trusts the connection: then any will do."""
    parts = urlsplit(url)
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password or "") or "unused-trust"
    host = parts.hostname or "127.0.0.1"
    return f"postgresql://{user}:{password}@{host}:{parts.port or 5432}{parts.path}"


def run_dlt(path: str, url: str, schema: str, table: str, file_format: str) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt

    columns, key, rows = read_rows(path)
    names = [column["name"] for column in columns]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    del rows
    with tempfile.TemporaryDirectory(prefix="sqlsync-bench-dlt-") as workdir:
        pipeline = dlt.pipeline(
            pipeline_name=f"sqlsync_bench_{schema}",
            pipelines_dir=workdir,
            destination=dlt.destinations.postgres(credentials=dlt_credentials(url)),
            dataset_name=schema,
        )
        resource = dlt.resource(
            records,
            name=table,
            write_disposition="merge",
            primary_key=key[0] if len(key) == 1 else key,
            columns=dlt_hints(columns, key),
        )
        gc.collect()
        gc.freeze()  # the rows held for the run out of the cyclic collector's sight, as bench/exports.py does
        started = time.perf_counter()
        info = pipeline.run(resource, loader_file_format=file_format)
        elapsed = time.perf_counter() - started
        info.raise_on_failed_jobs()
        merge_key = pipeline.default_schema.tables[table]["columns"][key[0]].get("primary_key")
        disposition = pipeline.default_schema.tables[table].get("write_disposition")
    if not merge_key or disposition != "merge":
        raise SystemExit(f"dlt did not load {table} as a merge on its primary key ({disposition}, {merge_key})")
    return {"seconds": elapsed, "rows": len(records), "version": dlt.__version__, "file_format": file_format}


def run_copy(path: str, url: str, schema: str, table: str) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    columns, _, rows = read_rows(path)
    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or "") or None,
        dbname=parts.path.lstrip("/"),
    ) as connection:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(column["name"]) for column in columns)
        )
        gc.collect()
        gc.freeze()
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rows": len(rows), "version": psycopg.__version__}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/dlt_merge.py", description=__doc__)
    parser.add_argument("mode", choices=("dlt", "copy"))
    parser.add_argument("rows_file")
    parser.add_argument("url")
    parser.add_argument("schema")
    parser.add_argument("table")
    parser.add_argument("--file-format", default="insert_values", choices=("insert_values", "csv"))
    args = parser.parse_args(argv)
    if args.mode == "dlt":
        result = run_dlt(args.rows_file, args.url, args.schema, args.table, args.file_format)
    else:
        result = run_copy(args.rows_file, args.url, args.schema, args.table)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
