"""The ledger's encoding of profile fields: any JSON an event can carry comes back as it went in."""

from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sqlsync.store._codec import dump_fields, load_fields

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_fields_round_trip_and_read_as_json(fields: dict[str, Any]) -> None:
    text = dump_fields(fields)

    assert load_fields(text) == fields
    assert json.loads(text) == fields  # items written before the encoder changed read the same way


def test_non_ascii_stays_unescaped_and_non_finite_floats_survive() -> None:
    text = dump_fields({"name": "Zoë ✓", "big": 10**30, "inf": math.inf})

    assert "Zoë ✓" in text
    assert load_fields(text) == {"name": "Zoë ✓", "big": 10**30, "inf": math.inf}


def test_any_mapping_is_accepted() -> None:
    assert load_fields(dump_fields(MappingProxyType({"a": 1}))) == {"a": 1}


def test_a_lone_surrogate_is_left_for_the_store_to_refuse() -> None:
    # pydantic-core cannot encode it; the json fallback writes it as it is, as before
    assert dump_fields({"v": "\ud800"}) == '{"v":"\ud800"}'
