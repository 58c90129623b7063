"""Customer ids: a customer is known by several (registered, cookie, email_id, ...), each a (type, value) pair.

An id is kept as its key, "type:value" (a type never holds ':', so the key splits back unambiguously). A
customer is stored under the key of the first id it was known by (its home key); its other ids point at
that home. Commands list ids in any order; `id_keys` puts them in one order (hard ids first) so that a new
customer's home key does not depend on how the sender ordered its JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlsync.customers.exceptions import CustomerError

HARD_ID_TYPES = frozenset({"registered"})
"""Id types a customer has at most one value of (Bloomreach's hard id). Others (cookie, ...) may repeat."""
MAX_IDS = 10
MAX_ID_CHARS = 256
ID_TYPE_PATTERN = r"[a-z][a-z0-9_]{0,63}"
"""What an id type is (models that take customer ids check it too)."""
_ID_TYPE = re.compile(ID_TYPE_PATTERN)


def id_key(id_type: str, value: str) -> str:
    return f"{id_type}:{value}"


def id_type_of(key: str) -> str:
    return key.partition(":")[0]


def split_key(key: str) -> tuple[str, str]:
    id_type, _, value = key.partition(":")
    return id_type, value


def id_keys(customer_ids: Mapping[str, object], field: str = "customer_ids") -> list[str]:
    """The checked keys of a command's ids, hard ids first, then by type. Raises CustomerError naming the id."""
    if not isinstance(customer_ids, Mapping) or not customer_ids:
        raise CustomerError(field, 'at least one customer id is required, e.g. {"registered": "mgalik"}')
    if len(customer_ids) > MAX_IDS:
        raise CustomerError(field, f"at most {MAX_IDS} ids per customer")
    keys: list[tuple[bool, str, str]] = []
    for id_type, value in customer_ids.items():
        if not isinstance(id_type, str) or not _ID_TYPE.fullmatch(id_type):
            raise CustomerError(f"{field}.{id_type}", "an id type: lower-case letters, digits, _ (registered)")
        if not isinstance(value, str) or not value:
            raise CustomerError(f"{field}.{id_type}", "a non-empty string")
        if len(value) > MAX_ID_CHARS:
            raise CustomerError(f"{field}.{id_type}", f"at most {MAX_ID_CHARS} characters")
        keys.append((id_type not in HARD_ID_TYPES, id_type, value))
    return [id_key(id_type, value) for _, id_type, value in sorted(keys)]


def ids_view(keys: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """{"registered": ["mgalik"], "cookie": ["c-1", "c-2"]}: a customer's ids as the API shows them."""
    view: dict[str, list[str]] = {}
    for key in keys:
        id_type, value = split_key(key)
        view.setdefault(id_type, []).append(value)
    return view
