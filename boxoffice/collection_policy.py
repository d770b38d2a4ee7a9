"""How a serving process runs Python's cyclic garbage collector.

Start-up builds what lives as long as the process (schema, caches, modules): frozen, out of the
collector's sight, so a full collection walks only what requests made (tens of ms less each).
Requests free what they make by reference counting (schema/acyclic_execution.py), so a young
collection finds little garbage but walks every request in flight: it runs every
YOUNG_COLLECTION_EVERY net allocations instead of CPython's 700. At 700, a worker under the
hold/release bench ran ~1,200 young collections in 15 s and spent a tenth of its CPU in the
collector (docs/PERFORMANCE.md, "4 Dec, 04:30").
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG_COLLECTION_EVERY = 20_000


@contextlib.contextmanager
def serving_collections() -> Iterator[None]:
    """For the lifespan of a serving process, once start-up is done; the thresholds are restored after."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
