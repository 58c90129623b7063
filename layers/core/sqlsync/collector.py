"""Holding Python's cyclic garbage collector for the length of one batch of queue messages."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector for one batch, then collect what the batch left.

    A batch makes hundreds of thousands of short-lived, acyclic objects (parsed events, changes, bodies)
    that reference counting frees; left on, the collector walks them again and again, for a third of the
    sync worker's time and a fifth of the hook dispatcher's (`make bench`). Cycles made meanwhile
    (exceptions with their tracebacks) wait until the end of the batch, whose size the event-source
    mapping bounds."""
    if not gc.isenabled():  # somebody up the stack holds it already: theirs to restore
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)  # everything the batch made is still in the youngest generation
