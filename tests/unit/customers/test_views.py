"""A customer as the API shows it, plain and with timestamps."""

from __future__ import annotations

import json

from sqlsync.customers.merge import UNKNOWN, Stamped
from sqlsync.customers.views import customer_view
from sqlsync.store.base import CustomerRecord

RECORD = CustomerRecord(
    "registered:mgalik",
    ("registered:mgalik", "cookie:c-1", "cookie:c-2"),
    {
        "first_name": Stamped("Marian", 1570001049.0),
        "score": Stamped(7.5, 1570001049.25),
        "legacy": Stamped({"a": [1, 2]}, UNKNOWN),  # written before timestamps existed
    },
    3,
)


def test_the_plain_view_has_values_only() -> None:
    assert customer_view(RECORD) == {
        "ids": {"registered": ["mgalik"], "cookie": ["c-1", "c-2"]},
        "properties": {"first_name": "Marian", "score": 7.5, "legacy": {"a": [1, 2]}},
    }


def test_with_timestamps_whole_seconds_are_integers_fractions_are_kept_and_unknown_is_minus_one() -> None:
    text = json.dumps(customer_view(RECORD, include_timestamps=True)["properties"])
    assert json.loads(text) == {
        "first_name": {"value": "Marian", "last_update": 1570001049},
        "score": {"value": 7.5, "last_update": 1570001049.25},
        "legacy": {"value": {"a": [1, 2]}, "last_update": -1},
    }
    assert '"last_update": 1570001049}' in text and '"last_update": -1}' in text
