"""Connecting to Ray, for what facesearch runs on a cluster: the ingest's analysis
(``ray_ingest``, ``facesearch ingest --ray``) and the exact scan of an erasure like a photo
(``ray_scan``, ``facesearch forget --like PHOTO --ray``). Both take ``auto`` (start a local
cluster on this machine) or an existing cluster's address, and connect through ``connected``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from facesearch.errors import ConfigError
from facesearch.settings import Settings

__all__ = ["AUTO", "INSTALL", "connected", "first_line", "import_ray"]

AUTO = "auto"  # start a local cluster on this machine
INSTALL = "pip install 'facesearch[distributed]'"


def import_ray() -> Any:
    """The ``ray`` module, or ConfigError saying what to install."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs Ray, which is not installed: {INSTALL}") from exc
    return ray


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's run to many lines)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


REACH_TIMEOUT_S = 10.0  # Ray itself waits minutes for a head that does not answer


def reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """ConfigError at once when ``address`` (``HOST:PORT``, ``ray://HOST:PORT``) names a port
    that takes no connection within ``timeout_s``: ``ray.init`` waits minutes for its GCS
    before it gives up. An address of another form is left to Ray."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot start or reach Ray at {address}: nothing answers there ({exc})"
        ) from exc


_lock = threading.Lock()  # the connection is the process's: threads share it (the server's)
_users = 0  # blocks inside ``connected`` now, in every thread
_ours = False  # whether ``connected`` initialised Ray (then the last block out shuts it down)


@contextmanager
def connected(ray: Any, address: str, cpus: int | None, settings: Settings) -> Iterator[int]:
    """Ray initialised for this process for the block, which gets the cluster's CPU count:
    ``address`` "auto" starts a local cluster of ``cpus`` CPUs (default:
    ``settings.models.threads``, else every core), any other is an existing cluster's
    (``ray.init(address=...)``). A process already connected stays so after, and is used as
    it is (whatever ``address`` says). Ray's connection is one per process: blocks in several
    threads at once (two erasures in the server) share it, and the last one out shuts down
    what the first one started."""
    global _users, _ours
    with _lock:
        if _users == 0:
            _ours = not ray.is_initialized()
            if _ours:
                _init(ray, address, cpus, settings)
        _users += 1
    try:
        yield int(ray.cluster_resources().get("CPU", 0))
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _ours:
                _ours = False
                ray.shutdown()


def _init(ray: Any, address: str, cpus: int | None, settings: Settings) -> None:
    """``ray.init`` for ``connected``; ConfigError when Ray cannot start or be reached."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report sent anywhere
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address != AUTO:
        reachable(address)
    try:
        if address == AUTO:
            count = cpus or settings.models.threads or os.cpu_count() or 1
            ray.init(num_cpus=count, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # Ray's own kinds vary (ConnectionError, RuntimeError, ...)
        where = "a local cluster" if address == AUTO else address
        raise ConfigError(f"cannot start or reach Ray at {where}: {first_line(exc)}") from exc
