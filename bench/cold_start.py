"""Cold start: import time of the handler modules in a fresh interpreter, beside `import boto3`.

Each sample is a new `python -c` that imports the handler by path (as Lambda loads it) and prints the
perf_counter delta of the import alone, with the database drivers it pulled in. Lambda's runtime has
boto3, so importing only boto3 is the floor a handler can reach.

The sqlsync package is imported as the core layer carries it: packed by layers/core/Makefile (bytecode
included, since Lambda's /opt is read-only) into a temporary directory put first on the path. Python here
may be told not to write bytecode (PYTHONDONTWRITEBYTECODE), so a checkout's sources could otherwise be
compiled again at every sample, as they would be in a layer without bytecode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BenchmarkError, Options, Row, Target, pick

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
DRIVERS = ("sqlalchemy", "pg8000", "pymysql")
HANDLERS = {
    "sync_worker": ROOT / "functions" / "sync_worker" / "app.py",
    "ingest": ROOT / "functions" / "ingest" / "app.py",
    "hook_dispatcher": ROOT / "functions" / "hook_dispatcher" / "app.py",
}

_PROBE = """
import importlib.util, json, sys, time
path = sys.argv[1]
started = time.perf_counter()
if path == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("handler_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["handler_under_test"] = module
    spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
drivers = sorted(name for name in sys.modules if name.split(".")[0] in DRIVERS)
origin = getattr(sys.modules.get("sqlsync"), "__file__", None)
roots = sorted({name.split(".")[0] for name in drivers})
print(json.dumps({"ms": elapsed * 1000, "drivers": roots, "sqlsync": origin}))
""".replace("DRIVERS", repr(DRIVERS))


def package_layer(destination: Path) -> None:
    """The sqlsync package as `sam build` packs it into the core layer."""
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-C",
            str(ROOT / "layers" / "core"),
            "package-sqlsync",
            f"DEST={destination}",
            f"PYTHON={sys.executable}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"packing the core layer failed:\n{done.stderr.strip()[-2000:]}")


def probe(what: str, layer: Path | None = None) -> dict[str, Any]:
    """Import `what` (a file path, or 'boto3') in a fresh interpreter; its import ms and drivers loaded."""
    env = dict(os.environ)
    if layer is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(layer), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, what],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"importing {what} failed:\n{done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(options: Options, samples: int | None = None, handlers: tuple[str, ...] = tuple(HANDLERS)) -> list[Row]:
    count = samples if samples is not None else max(options.runs(5), 3 if options.quick else 5)
    baseline = [probe("boto3")["ms"] for _ in range(count)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sqlsync-layer-") as layer:
        package_layer(Path(layer))
        results_by_handler = {
            name: [probe(str(HANDLERS[name]), Path(layer)) for _ in range(count)] for name in handlers
        }
    for name, results in results_by_handler.items():
        elsewhere = {result["sqlsync"] for result in results if not str(result["sqlsync"]).startswith(layer)}
        if elsewhere:
            raise BenchmarkError(f"{name} imported sqlsync from {sorted(elsewhere)}, not from the packed layer")
        drivers = sorted({driver for result in results for driver in result["drivers"]})
        rows.append(
            Row(
                name=f"cold start {name} import",
                ours=pick([result["ms"] for result in results], options.statistic, higher_is_better=False),
                baseline=pick(baseline, options.statistic, higher_is_better=False),
                unit="ms",
                baseline_name="import boto3",
                target=Target("ours<=", TARGET_MS, " ms, no driver"),
                notes=[
                    f"{'best' if options.statistic == 'best' else 'median'} of {count} fresh interpreters; "
                    f"drivers imported: {', '.join(drivers) if drivers else 'none'}"
                ],
                extra_ok=not drivers,
            )
        )
    return rows
