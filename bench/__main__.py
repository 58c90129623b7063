"""python -m bench [--quick] [--only NAME] [--repeat N] [--median] [--profile]"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from bench import cold_start, customers, exports, hooks, render, sync_throughput
from bench.common import Options, Row, format_table

Benchmark = Callable[[Options], list[Row]]
BENCHMARKS: dict[str, Benchmark] = {
    "sync": sync_throughput.run,
    "render": render.run,
    "cold-start": cold_start.run,
    "hooks": hooks.run,
    "customers": customers.run,
    "exports": exports.run,
}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast look")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this (repeatable)")
    parser.add_argument("--repeat", type=int, help="runs per figure (default: each benchmark's own)")
    parser.add_argument("--median", action="store_true", help="report the median of the runs instead of the best")
    parser.add_argument(
        "--profile", action="store_true", help="break the sync worker's time down by phase (no comparison)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    options = Options(quick=args.quick, repeat=args.repeat, statistic="median" if args.median else "best")
    if args.profile:
        from bench import sync_profile

        sync_profile.main(options)
        return 0
    rows: list[Row] = []
    failures: list[str] = []
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += BENCHMARKS[name](options)
        except Exception as exc:
            traceback.print_exc()
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(format_table(rows))
    if failures:
        print("\nFAILED (no figure for these):", *failures, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
