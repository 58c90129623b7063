"""Render throughput: leads per second through the compiled INSERT template, beside Jinja2.

Jinja renders the equivalent template with a filter that escapes the same way (doubles single quotes,
quotes, NULL for None; autoescape off). Both outputs are compared (modulo whitespace) before any clock
runs, so the two do the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import BenchmarkError, Options, Row, Target, pick
from sqlsync.dialects import dialect_for
from sqlsync.template import compile_template

TARGET_RATIO = 3.0
FIELDS = ("CustomID", "email", "name", "city")

OURS_TEMPLATE = (
    "INSERT INTO mysegment (segId, clientId, email, name, city) VALUES "
    "{for $index, $lead = $batch}"
    "({segment_id}, '{$lead.CustomID}', '{$lead.email}', '{$lead.name}', '{$lead.city}'){autocomma}"
    "{end} ON CONFLICT (segId, clientId) DO UPDATE SET email = EXCLUDED.email"
)
JINJA_TEMPLATE = (
    "INSERT INTO mysegment (segId, clientId, email, name, city) VALUES "
    "{% for lead in batch %}"
    "({{ segment_id }}, {{ lead['CustomID']|sql }}, {{ lead['email']|sql }}, {{ lead['name']|sql }}, "
    "{{ lead['city']|sql }}){% if not loop.last %},{% endif %}"
    "{% endfor %} ON CONFLICT (segId, clientId) DO UPDATE SET email = EXCLUDED.email"
)


def sql_literal(value: object) -> str:
    """The Jinja side's escaping: NULL for None, else a quoted string with single quotes doubled."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def make_leads(count: int) -> list[dict[str, Any]]:
    """Four fields; some quotes to escape and some missing values (None), as real data has."""
    return [
        {
            "CustomID": f"c{i:08d}",
            "email": f"user{i}@example.com",
            "name": f"O'Brien {i}" if i % 3 == 0 else f"Name {i}",
            "city": None if i % 7 == 0 else f"City {i % 50}",
        }
        for i in range(count)
    ]


def _normal(sql: str) -> str:
    return " ".join(sql.split())


def renderers() -> tuple[Callable[[dict[str, Any], Sequence[dict[str, Any]]], str], ...]:
    """(ours, jinja): each renders one batch to one SQL string."""
    import jinja2

    compiled = compile_template(OURS_TEMPLATE, dialect_for("postgresql"), "render-bench")
    environment = jinja2.Environment(autoescape=False)
    environment.filters["sql"] = sql_literal
    jinja_template = environment.from_string(JINJA_TEMPLATE)

    def ours(context: dict[str, Any], leads: Sequence[dict[str, Any]]) -> str:
        (statement,) = compiled.render(context, leads)
        return statement

    def jinja(context: dict[str, Any], leads: Sequence[dict[str, Any]]) -> str:
        return jinja_template.render(batch=leads, **context)

    return ours, jinja


def _rate(render: Callable[[], object], leads: int, renders: int) -> float:
    started = time.perf_counter()
    for _ in range(renders):
        render()
    return leads * renders / (time.perf_counter() - started)


def run(options: Options, leads_count: int = 1_000, renders: int | None = None) -> list[Row]:
    leads = make_leads(leads_count)
    context = {"segment_id": 4242}
    ours, jinja = renderers()
    if _normal(ours(context, leads)) != _normal(jinja(context, leads)):
        raise BenchmarkError("the compiled template and Jinja render different SQL; the comparison is void")
    per_sample = renders if renders is not None else (20 if options.quick else 100)
    ours_rates, jinja_rates = [], []
    for _ in range(options.runs(5)):
        ours_rates.append(_rate(lambda: ours(context, leads), leads_count, per_sample))
        jinja_rates.append(_rate(lambda: jinja(context, leads), leads_count, per_sample))
    return [
        Row(
            name="render postgresql",
            ours=pick(ours_rates, options.statistic, higher_is_better=True),
            baseline=pick(jinja_rates, options.statistic, higher_is_better=True),
            unit="leads/s",
            baseline_name="Jinja2 + escaping filter",
            target=Target("ratio>=", TARGET_RATIO),
            notes=[f"{leads_count} leads x {len(FIELDS)} fields, {per_sample} renders per sample; outputs equal"],
        )
    ]
