"""``ray_cluster.connected`` in several threads of one process (two erasures by photo in the
server at once): Ray's connection is the process's, so the first block out used to shut it
down under the second, whose tasks then failed. A fake ``ray`` module records the calls (the
real cluster is in tests/integration/test_ray_scan.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from facesearch.errors import ConfigError
from facesearch.gallery.ray_cluster import connected
from facesearch.settings import Settings


class FakeRay:
    def __init__(self, *, fail: bool = False) -> None:
        self.up = False
        self.calls: list[str] = []
        self.fail = fail

    def is_initialized(self) -> bool:
        return self.up

    def init(self, **_: Any) -> None:
        self.calls.append("init")
        if self.fail:
            raise RuntimeError("no cluster\nmore lines")
        self.up = True

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.up = False

    def cluster_resources(self) -> dict[str, float]:
        assert self.up, "a block ran on a connection that was shut down"
        return {"CPU": 2.0}


def test_two_threads_share_one_connection_and_the_last_out_shuts_it_down() -> None:
    ray, settings = FakeRay(), Settings.from_env(env={})
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with connected(ray, "auto", 2, settings):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with connected(ray, "auto", 2, settings):
            second_in.set()
            first_out.wait(5)
            seen.append(ray.is_initialized())  # still connected after the first block ended

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [True]
    assert ray.calls == ["init", "shutdown"] and not ray.up


def test_a_process_connected_before_stays_connected() -> None:
    ray = FakeRay()
    ray.up = True
    with connected(ray, "auto", 2, Settings.from_env(env={})) as cpus:
        assert cpus == 2
    assert ray.calls == [] and ray.up


def test_a_failed_start_leaves_the_next_block_free_to_start_again() -> None:
    broken, settings = FakeRay(fail=True), Settings.from_env(env={})
    refused = pytest.raises(ConfigError, match="cannot start or reach Ray at a local cluster")
    with refused, connected(broken, "auto", 2, settings):
        pass
    broken.fail = False
    with connected(broken, "auto", 2, settings):
        assert broken.up
    assert broken.calls == ["init", "init", "shutdown"]
