"""``--ray HOST:PORT`` with nothing listening there: ``ray.init`` waited minutes for its GCS
("Timed out while waiting for GCS", more than 5 minutes for 127.0.0.1:1) before failing.
The port is tried first, for a few seconds at most."""

from __future__ import annotations

import socket

import pytest

from facesearch.errors import ConfigError
from facesearch.gallery.ray_cluster import reachable


def test_an_address_nothing_answers_at_is_refused_at_once() -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ConfigError, match="nothing answers there"):
            reachable(address, timeout_s=3)


def test_a_listening_port_and_other_forms_pass() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        reachable(f"127.0.0.1:{s.getsockname()[1]}", timeout_s=3)
    for left_to_ray in ("auto", "not-an-address", "host:port"):
        reachable(left_to_ray, timeout_s=3)
