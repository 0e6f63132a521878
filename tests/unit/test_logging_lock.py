"""pytest's log capture beside a thread that makes loggers (tests/logging_lock.py)."""

from __future__ import annotations

import logging
import sys
import threading

from _pytest.logging import LogCaptureHandler, catching_logs


def _churn(stop: threading.Event) -> None:
    """Make loggers, as modules imported in a thread add their own, then take them out again
    (a batch at a time: the registry's size changes for a while, not for an instant)."""
    registry = logging.root.manager.loggerDict
    names = [f"tests.logging_lock.churn.{n}" for n in range(50)]
    while not stop.is_set():
        for name in names:
            logging.getLogger(name)
        with logging._lock:  # type: ignore[attr-defined]
            for name in names:
                registry.pop(name, None)


def test_a_test_phase_beginning_while_a_thread_makes_a_logger_does_not_fail() -> None:
    for n in range(200):  # a registry the size of the suite's, so its walk takes a while
        logging.getLogger(f"tests.logging_lock.standing.{n}")
    stop = threading.Event()
    thread = threading.Thread(target=_churn, args=(stop,), daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    thread.start()
    failures: list[str] = []
    try:
        for _ in range(500):  # without the lock nearly every one fails: 2,940 of 3,000
            try:
                with catching_logs(LogCaptureHandler()):
                    pass
            except RuntimeError as e:
                failures.append(str(e))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert failures == [], f"{len(failures)} of 500 phases failed: {failures[0]}"
