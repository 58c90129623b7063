"""What every benchmark shares: options, the result row, timing helpers and the table.

Every figure is a ratio against a baseline measured in the same run, so that the machine's speed
cancels out. Targets are printed, never enforced by the exit code.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

TargetKind = Literal["ratio>=", "ours<="]


class BenchmarkError(RuntimeError):
    """A benchmark could not produce a trustworthy figure (rows missing, a message failed, ...)."""


class ServiceUnavailableError(BenchmarkError):
    """A database the benchmark needs is not reachable."""


@dataclass(frozen=True)
class Options:
    quick: bool = False
    repeat: int | None = None  # None: each benchmark's default
    statistic: Literal["best", "median"] = "best"

    def runs(self, default: int) -> int:
        return max(1, self.repeat if self.repeat is not None else default)


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: float
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "ratio>=":
            return f"ratio >= {self.value:g}"
        return f"ours <= {self.value:g}{self.unit}"


@dataclass
class Row:
    """One line of the table: our figure beside the baseline's, both measured in this run."""

    name: str
    ours: float
    baseline: float
    unit: str
    baseline_name: str
    target: Target
    notes: list[str] = field(default_factory=list)
    extra_ok: bool = True  # a condition beyond the number (e.g. no driver imported) that must hold

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool:
        if not self.extra_ok:
            return False
        if self.target.kind == "ratio>=":
            return self.ratio >= self.target.value
        return self.ours <= self.target.value


def pick(samples: Sequence[float], statistic: str, *, higher_is_better: bool) -> float:
    """The best (or the median) of the samples."""
    if statistic == "median":
        return statistics.median(samples)
    return max(samples) if higher_is_better else min(samples)


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _number(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f} {unit}"


def format_table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "ours", "baseline", "ratio", "target", "met")
    lines = [
        (
            row.name,
            _number(row.ours, row.unit),
            f"{_number(row.baseline, row.unit)} ({row.baseline_name})",
            f"{row.ratio:.2f}",
            row.target.describe(),
            "yes" if row.met else "NO",
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    out = [render(header), render(["-" * width for width in widths])]
    out += [render(cells) for cells in lines]
    notes = [f"  {row.name}: {note}" for row in rows for note in row.notes]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
