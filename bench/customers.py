"""Customer updates (issue 6): updates per second through the merge logic, and DynamoDB calls per update.

Throughput. Ours: `CustomerService.update` on `InMemoryCustomerStore` (ids checked and resolved, the
timestamp checked, properties merged per property, newest timestamp wins, written back on the version read,
properties kept as JSON as DynamoDB keeps them). Baseline: a plain dict of dicts, `table[home].update(props)`
for the same updates, no timestamps. Both start from the same customers (seeded before the clock) and take
the same list of updates, in the same shuffled order: most newer than what is stored, some arriving after
newer ones of the same customer, some older than everything stored (late arrivals), some naming properties
the customer does not have yet. Before any figure is given, ours' final state must equal a reference computed
plainly (the newest value of each property), and it must have written exactly the updates that change
something. Ours costs the same per update whatever the number of customers; the dict loop gets faster when
its table fits the CPU's caches, so --quick's smaller table gives a lower ratio.

DynamoDB calls. The same service on `DynamoDBCustomerStore` against moto, each real API call counted by a
botocore hook on the store's client, case by case: the common case (an existing customer updated by its home
id) must be exactly one GetItem and one conditional PutItem per update, else the benchmark fails. Each case
also runs on the in-memory store, whose `calls` counter must say the same (it stands for DynamoDB in the
other benchmarks and in tests). These are counts, not times.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

from bench.common import BenchmarkError, Options, Row, Target, pick
from sqlsync.customers.service import CustomerService, Update
from sqlsync.store.base import CustomerRecord
from sqlsync.store.memory import InMemoryCustomerStore

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from sqlsync.store.dynamodb import DynamoDBCustomerStore

ACCOUNT = 6
T0 = 1_750_000_000.0  # the seed's time; updates are within a few hours of it
NOW = T0 + 86_400.0  # the service's clock: every timestamp is in its past
TARGET_RATIO = 0.02
"""Not set by the issue: a floor against regressions, about half the ratio of the first full run (0.04)."""
TARGET_CALLS = 2.0  # the target: one read and one conditional write in the common case
TABLE = "sqlsync-bench-customers"
CITIES = ("Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc", "Zlín", "Kladno")
PROPERTIES = ("first_name", "last_name", "email", "city", "plan", "score", "newsletter", "last_order_total")
SEEDED_PROPERTIES = 5  # of PROPERTIES, per customer; updates pick from all of them, so some are new
PROPERTIES_PER_UPDATE = 3
_FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_CLEARED_AWS_ENVIRONMENT = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")
_READS = ("GetItem", "BatchGetItem")
_WRITES = ("PutItem", "TransactWriteItems")

Command = tuple[dict[str, str], dict[str, Any], float]
"""One update as the service takes it: customer ids, properties, timestamp."""


@dataclass(frozen=True)
class Workload:
    customers: int = 10_000
    updates_per_customer: int = 4
    stale_every: int = 8  # every 8th update is older than everything stored for its customer
    dynamodb_customers: int = 50  # customers per case on moto
    dynamodb_rounds: int = 4  # common-case updates per customer on moto

    @staticmethod
    def for_options(options: Options) -> Workload:
        if options.quick:
            return Workload(customers=3_000, dynamodb_customers=10, dynamodb_rounds=2)
        return Workload()


@dataclass
class Expected:
    """What the merge rule must make of the updates, worked out plainly before any clock runs."""

    properties: dict[str, dict[str, tuple[Any, float]]]
    """home id -> property -> (value, last_update) after all updates."""
    writes: int
    """Updates that change at least one property (the others write nothing)."""
    unchanged: int
    partial: int
    new_properties: int
    properties_won: int


@dataclass
class Prepared:
    """Inputs made before any clock runs."""

    seed: list[Command]
    updates: list[Command]
    expected: Expected
    notes: list[str] = field(default_factory=list)


def _value(rng: random.Random, name: str, number: int) -> Any:
    if name == "score":
        return rng.randrange(1000)
    if name == "newsletter":
        return rng.random() < 0.5
    if name == "last_order_total":
        return round(rng.uniform(5, 500), 2)
    if name == "city":
        return rng.choice(CITIES)
    if name == "plan":
        return rng.choice(("free", "pro", "team"))
    if name == "email":
        return f"customer{number}+{rng.randrange(100)}@example.com"
    return f"{name.split('_')[0].title()} {rng.randrange(10_000)}"


def make_commands(workload: Workload, seed: int = 6) -> tuple[list[Command], list[Command]]:
    """(seed, updates): each customer's first update (5 properties), then its updates, all shuffled."""
    rng = random.Random(seed)
    seeds: list[Command] = []
    updates: list[Command] = []
    count = 0
    for number in range(workload.customers):
        ids = {"registered": f"customer-{number:07d}"}
        seeded_at = T0 + rng.uniform(0, 600)
        names = rng.sample(PROPERTIES, SEEDED_PROPERTIES)
        seeds.append((ids, {name: _value(rng, name, number) for name in names}, seeded_at))
        for _ in range(workload.updates_per_customer):
            count += 1
            late = count % workload.stale_every == 0  # a late arrival: older than the seed
            at = T0 - rng.uniform(1, 3600) if late else T0 + 3600 + rng.uniform(0, 7200)
            names = rng.sample(PROPERTIES, PROPERTIES_PER_UPDATE)
            updates.append((ids, {name: _value(rng, name, number) for name in names}, at))
    rng.shuffle(updates)
    return seeds, updates


def expect(seed: Sequence[Command], updates: Sequence[Command]) -> Expected:
    """The newest value of each property, taking the updates in arrival order, and what each update did.
    Timestamps are random floats, so no two updates of a customer share one (no tie-break needed)."""
    state: dict[str, dict[str, tuple[Any, float]]] = {}
    for ids, properties, at in seed:
        state[ids["registered"]] = {name: (value, at) for name, value in properties.items()}
    writes = unchanged = partial = new = won = 0
    for ids, properties, at in updates:
        stored = state[ids["registered"]]
        changed = 0
        for name, value in properties.items():
            if name not in stored:
                new += 1
            if name not in stored or stored[name][1] < at:
                stored[name] = (value, at)
                changed += 1
        won += changed
        writes += changed > 0
        unchanged += changed == 0
        partial += 0 < changed < len(properties)
    return Expected(state, writes, unchanged, partial, new, won)


def prepare(workload: Workload) -> Prepared:
    seed, updates = make_commands(workload)
    expected = expect(seed, updates)
    sent = len(updates) * PROPERTIES_PER_UPDATE
    note = (
        f"{workload.customers:,} customers seeded with {SEEDED_PROPERTIES} of {len(PROPERTIES)} properties "
        f"(before the clock), then {len(updates):,} updates of {PROPERTIES_PER_UPDATE} properties in shuffled "
        f"order: {expected.properties_won / sent:.0%} of the properties sent win ({expected.new_properties:,} "
        f"new to their customer); {expected.unchanged / len(updates):.0%} of the updates change nothing, "
        f"{expected.partial / len(updates):.0%} change some of their properties"
    )
    return Prepared(seed, updates, expected, [note])


# Throughput -----------------------------------------------------------------------------------------------


def seeded_service(prepared: Prepared) -> tuple[CustomerService, InMemoryCustomerStore]:
    store = InMemoryCustomerStore()
    service = CustomerService(store, clock=lambda: NOW)
    for ids, properties, at in prepared.seed:
        service.update(ACCOUNT, ids, properties, at)
    store.calls.clear()
    return service, store


def run_ours(prepared: Prepared) -> tuple[float, InMemoryCustomerStore]:
    service, store = seeded_service(prepared)
    update = service.update
    started = time.perf_counter()
    for ids, properties, at in prepared.updates:
        update(ACCOUNT, ids, properties, at)
    return time.perf_counter() - started, store


def run_baseline(prepared: Prepared) -> tuple[float, dict[str, dict[str, Any]]]:
    table = {ids["registered"]: dict(properties) for ids, properties, _ in prepared.seed}
    started = time.perf_counter()
    for ids, properties, _at in prepared.updates:
        table[ids["registered"]].update(properties)
    return time.perf_counter() - started, table


def check_ours(prepared: Prepared, store: InMemoryCustomerStore) -> None:
    """Fail loudly unless ours ended where the merge rule says, having written only the updates that
    change something: else its rate is not the rate of the work claimed."""
    expected = prepared.expected
    updates = len(prepared.updates)
    calls = store.calls
    if calls["GetItem"] != updates or calls["PutItem"] != expected.writes or len(calls) != 2:
        raise BenchmarkError(
            f"ours made {dict(calls)} for {updates:,} updates; {updates:,} GetItem and {expected.writes:,} "
            "PutItem expected"
        )
    for home, properties in expected.properties.items():
        record = store.read(ACCOUNT, [f"registered:{home}"]).get(f"registered:{home}")
        if not isinstance(record, CustomerRecord):
            raise BenchmarkError(f"ours lost customer {home}")
        got = {name: (stamped.value, stamped.last_update) for name, stamped in record.properties.items()}
        if got != properties:
            raise BenchmarkError(f"customer {home}: ours ended with {got}, the newest values are {properties}")


def check_baseline(prepared: Prepared, table: Mapping[str, Mapping[str, Any]]) -> None:
    """The baseline did the same amount of work: every customer ends with the same property names."""
    for home, properties in prepared.expected.properties.items():
        if set(table[home]) != set(properties):
            raise BenchmarkError(f"customer {home}: the dict loop ended with {sorted(table[home])}")


def throughput_row(options: Options, workload: Workload) -> Row:
    prepared = prepare(workload)
    count = len(prepared.updates)
    ours_rates: list[float] = []
    baseline_rates: list[float] = []
    for _ in range(options.runs(5)):
        ours_seconds, store = run_ours(prepared)
        check_ours(prepared, store)
        baseline_seconds, table = run_baseline(prepared)
        check_baseline(prepared, table)
        ours_rates.append(count / ours_seconds)
        baseline_rates.append(count / baseline_seconds)
    ours = pick(ours_rates, options.statistic, higher_is_better=True)
    baseline = pick(baseline_rates, options.statistic, higher_is_better=True)
    notes = [
        *prepared.notes,
        f"{1e6 / ours:.2f} us per update ours, {1e6 / baseline:.3f} us the dict loop; in-memory store calls per "
        f"update: 1.00 GetItem + {prepared.expected.writes / count:.2f} PutItem (no write when nothing wins)",
        f"runs: {len(ours_rates)}, ours {_spread(ours_rates)}, dict loop {_spread(baseline_rates)} updates/s",
    ]
    return Row(
        name="customer updates, in-memory store",
        ours=ours,
        baseline=baseline,
        unit="updates/s",
        baseline_name="dict-of-dicts .update() loop",
        target=Target("ratio>=", TARGET_RATIO),
        notes=notes,
    )


# DynamoDB calls -------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One kind of update, run on one store: the calls it made."""

    name: str
    updates: int
    calls: Counter[str]
    unconditional_writes: int = 0

    def per_update(self) -> str:
        known = (*_READS, *_WRITES)
        order = [*known, *sorted(set(self.calls) - set(known))]
        return " + ".join(f"{self.calls[op] / self.updates:.2f} {op}" for op in order if self.calls[op]) or "none"


CASES = {
    "new": "first update of a new customer",
    "existing": "existing customer by its home id (the common case)",
    "stale": "existing customer, every property older than stored",
    "new id": "existing customer, naming a new second id (cookie)",
    "both ids": "existing customer, naming both of its ids",
    "by alias": "existing customer, by its second id alone",
}


class CallLog:
    """Every DynamoDB API call a client makes (botocore's before-call event), by operation; and the writes
    sent without a condition (a PutItem, or a Put of a transaction, with no ConditionExpression)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.unconditional_writes = 0

    def __call__(self, model: OperationModel, params: Mapping[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name not in _WRITES:
            return
        body = json.loads(params.get("body") or b"{}")
        puts = [body] if model.name == "PutItem" else [item.get("Put", {}) for item in body["TransactItems"]]
        self.unconditional_writes += sum("ConditionExpression" not in put for put in puts)


def run_cases(
    service: CustomerService, calls: Callable[[], Counter[str]], unconditional: Callable[[], int], workload: Workload
) -> dict[str, Case]:
    """Each case over `dynamodb_customers` customers, the calls counted case by case. Fails loudly when the
    service did not do what the case is about (a workload that misses its case would count the wrong thing)."""
    homes = [f"bench-{number:05d}" for number in range(workload.dynamodb_customers)]
    cases: dict[str, Case] = {}
    clock = iter(range(1, 1_000_000))

    def at() -> float:
        return T0 + next(clock)

    def case(
        name: str,
        ids: Callable[[str], dict[str, str]],
        properties: Callable[[str], dict[str, Any]],
        check: Callable[[Update, str], bool],
        rounds: int = 1,
        stamp: Callable[[], float] = at,
    ) -> None:
        before, before_unconditional = calls(), unconditional()
        for _ in range(rounds):
            for home in homes:
                result = service.update(ACCOUNT, ids(home), properties(home), stamp())
                if not check(result, home):
                    raise BenchmarkError(f"case {name!r}, customer {home}: the update did not do that: {result}")
        cases[name] = Case(name, rounds * len(homes), calls() - before, unconditional() - before_unconditional)

    def home_id(home: str) -> dict[str, str]:
        return {"registered": home}

    def both_ids(home: str) -> dict[str, str]:
        return {"registered": home, "cookie": f"cookie-{home}"}

    def alias_id(home: str) -> dict[str, str]:
        return {"cookie": f"cookie-{home}"}

    def wrote(update: Update, home: str) -> bool:
        return update.key == f"registered:{home}" and bool(update.changed) and not update.attached

    def newer(_home: str) -> dict[str, Any]:
        round_ = next(clock)
        return {"score": round_, "plan": "pro" if round_ % 2 else "team", f"extra_{round_ % 3}": round_}

    case("new", home_id, lambda _: {"first_name": "Ada", "city": "Praha", "score": 1}, lambda u, _: u.created)
    case("existing", home_id, newer, wrote, rounds=workload.dynamodb_rounds)
    case(
        "stale",
        home_id,
        lambda _: {"first_name": "Old", "score": -1},
        lambda u, _: not u.changed and not u.attached,
        stamp=lambda: T0 - 1,
    )
    case(
        "new id",
        both_ids,
        lambda _: {"city": "Brno"},
        lambda u, home: bool(u.changed) and u.attached == (f"cookie:cookie-{home}",),
    )
    case("both ids", both_ids, newer, wrote)
    case("by alias", alias_id, newer, wrote)
    return cases


@contextmanager
def fake_aws() -> Iterator[None]:
    """moto, with a region and fake credentials set only meanwhile (the environment restored after), and
    nothing that would send boto3 elsewhere."""
    from moto import mock_aws

    with mock.patch.dict(os.environ, _FAKE_AWS_ENVIRONMENT):
        for name in _CLEARED_AWS_ENVIRONMENT:
            os.environ.pop(name, None)
        with mock_aws():
            yield


def create_table(store: DynamoDBCustomerStore) -> None:
    store.client.create_table(
        TableName=store.table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


def dynamodb_cases(workload: Workload) -> dict[str, Case]:
    from sqlsync.store.dynamodb import DynamoDBCustomerStore

    with fake_aws():
        store = DynamoDBCustomerStore(TABLE)
        create_table(store)
        log = CallLog()
        store.client.meta.events.register("before-call.dynamodb.*", log)
        return run_cases(
            CustomerService(store, clock=lambda: NOW),
            lambda: Counter(log.calls),
            lambda: log.unconditional_writes,
            workload,
        )


def memory_cases(workload: Workload) -> dict[str, Case]:
    store = InMemoryCustomerStore()
    return run_cases(CustomerService(store, clock=lambda: NOW), lambda: Counter(store.calls), lambda: 0, workload)


def check_common_case(case: Case) -> None:
    """The issue's target, enforced: exactly one GetItem and one conditional PutItem per update."""
    expected = Counter({"GetItem": case.updates, "PutItem": case.updates})
    if case.calls != expected or case.unconditional_writes:
        raise BenchmarkError(
            f"an update of an existing customer by its home id made {case.per_update()} per update "
            f"({case.unconditional_writes} writes without a condition); the target is exactly 1 GetItem + "
            "1 conditional PutItem"
        )


def calls_row(workload: Workload) -> Row:
    real = dynamodb_cases(workload)
    fake = memory_cases(workload)
    check_common_case(real["existing"])
    unconditional = sum(case.unconditional_writes for case in real.values())
    disagree = [name for name in CASES if real[name].calls != fake[name].calls]
    common = real["existing"]
    notes = [
        f"API calls per update on moto (botocore before-call events), {workload.dynamodb_customers} customers "
        f"per case ({common.updates} updates in the common case):",
        *(f"{description}: {real[name].per_update()}" for name, description in CASES.items()),
        f"writes without a condition: {unconditional}; InMemoryCustomerStore.calls "
        + ("agrees in every case" if not disagree else "DISAGREES: " + "; ".join(_disagreement(real, fake, disagree))),
    ]
    return Row(
        name="customer update, DynamoDB calls",
        ours=sum(common.calls.values()) / common.updates,
        baseline=sum(fake["existing"].calls.values()) / fake["existing"].updates,
        unit="calls/update",
        baseline_name="InMemoryCustomerStore.calls",
        target=Target("ours<=", TARGET_CALLS, " calls"),
        notes=notes,
        extra_ok=not disagree and not unconditional,
    )


def _disagreement(real: Mapping[str, Case], fake: Mapping[str, Case], names: Sequence[str]) -> Iterator[str]:
    for name in names:
        yield f"{name}: moto {real[name].per_update()}, in memory {fake[name].per_update()}"


def _spread(rates: Sequence[float]) -> str:
    return "/".join(f"{rate:,.0f}" for rate in rates)


def run(options: Options, workload: Workload | None = None) -> list[Row]:
    workload = workload or Workload.for_options(options)
    return [throughput_row(options, workload), calls_row(workload)]
