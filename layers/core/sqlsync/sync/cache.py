"""A read-through cache whose entries expire: configuration a warm Lambda reads rarely, yet sees change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V]) -> V:
        """The cached value of `key`, or `load(key)` (cached) when there is none younger than `ttl`."""
        now = self.clock()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        value = load(key)
        with self._lock:
            self._entries[key] = (now, value)
        return value
