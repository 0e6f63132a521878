"""pytest's log capture made safe against threads that create loggers.

At every test phase pytest's ``catching_logs.__enter__`` walks ``logging``'s logger registry
(``manager.loggerDict.values()``, to attach its handler to non-propagating loggers) without
the lock ``logging.getLogger`` takes to add to it. The suite runs real servers, Ray and job
threads in the test process; one of them importing a module that makes its logger while a
phase begins failed an unrelated test with "RuntimeError: dictionary changed size during
iteration" (stop 26's CI, ``test_two_agencies_end_to_end``, in pytest 9.2). ``install``
makes that walk hold the same lock, so a logger made meanwhile waits for it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any


def install() -> bool:
    """Wrap pytest's ``catching_logs.__enter__`` in ``logging``'s module lock; once. False
    when this pytest has no such class (then there is nothing to wrap)."""
    try:
        from _pytest.logging import catching_logs
    except ImportError:
        return False
    enter: Any = catching_logs.__enter__
    if getattr(enter, "_under_logging_lock", False):
        return True

    @functools.wraps(enter)
    def locked_enter(self: Any) -> Any:
        with logging._lock:  # type: ignore[attr-defined]  # the lock getLogger holds
            return enter(self)

    locked_enter._under_logging_lock = True  # type: ignore[attr-defined]
    catching_logs.__enter__ = locked_enter  # type: ignore[method-assign]
    return True
