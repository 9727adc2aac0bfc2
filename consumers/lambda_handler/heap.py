"""The process heap after a cold start: out of the cyclic garbage collector's way.

By the end of its first invocation an execution environment holds what it keeps for its
whole life: the imported modules, the boto3 clients with their service models (tens of
thousands of dicts), powertools, the consumer. Python's cyclic collector would traverse all
of them on every full collection, and an invocation of thousands of events triggers several:
measured, that was about a fifth of the handler's CPU time per event. :func:`freeze_once`
collects once, then moves everything alive to the collector's permanent generation
(:func:`gc.freeze`), so later collections look only at what invocations allocate. Objects are
still freed by reference counting; only reference cycles among those frozen objects would
outlive their use, and those objects live as long as the process anyway.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_once() -> bool:
    """Collect and freeze the heap, once per process; True when this call did it.

    Does nothing while the collector is disabled (the embedding program manages it).
    """
    global _frozen  # noqa: PLW0603 - once per process
    with _lock:
        if _frozen or not gc.isenabled():
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
