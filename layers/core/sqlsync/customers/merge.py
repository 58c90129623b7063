"""The one rule of customer properties: for each property, the value with the greatest timestamp wins.

An update carries one timestamp for all of its properties (`update_timestamp`, or the server's time). It
replaces a stored property only when it is newer. Timestamps are compared as they are (seconds, fractions
kept); a property whose time is unknown (written before timestamps existed, shown as -1) loses to any
timestamped update. On equal timestamps the value whose canonical JSON (keys sorted) sorts higher wins:
arbitrary, but the same whatever the order updates arrive in, so that every replica, retry and
interleaving ends in the same state (docs/customers.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

UNKNOWN = -1.0
"""The last_update of a property whose time is not known (what the API shows for it)."""


class Stamped(NamedTuple):
    """A property's value and the time of its last update (unix seconds; UNKNOWN when not known). A tuple:
    one is made per property of every customer read, and a frozen dataclass takes twice as long to make."""

    value: Any
    last_update: float = UNKNOWN


def canonical(value: Any) -> str:
    """The tie-break key of a value: its JSON with sorted keys, so equal values compare equal."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def wins(candidate: Stamped, stored: Stamped | None) -> bool:
    """Whether `candidate` replaces `stored` (an equal value at an equal time changes nothing)."""
    if stored is None:
        return True
    if candidate.last_update != stored.last_update:
        return candidate.last_update > stored.last_update
    return canonical(candidate.value) > canonical(stored.value)


def merge(stored: Mapping[str, Stamped], update: Mapping[str, Any], at: float) -> dict[str, Stamped]:
    """The properties of `update` (all stamped `at`) that win over what is stored: what to write."""
    changed: dict[str, Stamped] = {}
    for name, value in update.items():
        candidate = Stamped(value, at)
        if wins(candidate, stored.get(name)):
            changed[name] = candidate
    return changed
