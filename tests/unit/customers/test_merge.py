"""The merge rule: whatever the order and the duplicates, each property ends with its newest value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sqlsync.customers.merge import UNKNOWN, Stamped, canonical, merge, wins

NAMES = st.sampled_from(["first_name", "email", "city", "score"])
VALUES = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3) | st.lists(st.integers(0, 2), max_size=2)
TIMES = st.sampled_from([1570001049.0, 1570001049.5, 1570001050.0, 1570009999.0])
UPDATES = st.lists(st.tuples(st.dictionaries(NAMES, VALUES, min_size=1, max_size=3), TIMES), min_size=1, max_size=12)


def apply_all(
    updates: list[tuple[dict[str, Any], float]], state: dict[str, Stamped] | None = None
) -> dict[str, Stamped]:
    state = dict(state or {})
    for properties, at in updates:
        state.update(merge(state, properties, at))
    return state


def newest(updates: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """The specification: for each property, the value with the greatest (time, canonical value)."""
    best: dict[str, tuple[float, str, Any]] = {}
    for properties, at in updates:
        for name, value in properties.items():
            key = (at, canonical(value), value)
            if name not in best or key[:2] > best[name][:2]:
                best[name] = key
    return {name: value for name, (_, _, value) in best.items()}


@given(UPDATES, st.randoms(use_true_random=False))
def test_any_order_with_duplicates_ends_with_the_newest_value_of_each_property(
    updates: list[tuple[dict[str, Any], float]], rng: Any
) -> None:
    delivered = updates + rng.sample(updates, len(updates) // 2)
    rng.shuffle(delivered)

    state = apply_all(delivered)

    assert {name: stamped.value for name, stamped in state.items()} == newest(updates)
    assert all(stamped.last_update == max(at for p, at in updates if name in p) for name, stamped in state.items())


def test_an_older_update_never_overwrites_a_newer_one() -> None:
    state = apply_all([({"first_name": "Marian"}, 1570001049.0)])
    assert merge(state, {"first_name": "Old"}, 1570000000.0) == {}
    assert merge(state, {"first_name": "New"}, 1570001050.0) == {"first_name": Stamped("New", 1570001050.0)}


def test_a_value_of_unknown_time_loses_to_any_timestamped_update() -> None:
    state = {"last_name": Stamped("Galik", UNKNOWN)}
    assert merge(state, {"last_name": "Galík"}, 0.0) == {"last_name": Stamped("Galík", 0.0)}


def test_equal_times_are_broken_by_the_canonical_value_in_either_order() -> None:
    first, second = Stamped({"b": 1, "a": 2}, 5.0), Stamped("zz", 5.0)
    assert wins(second, first) != wins(first, second)
    assert not wins(Stamped({"a": 2, "b": 1}, 5.0), first)  # the same value: nothing to write
