"""Rate limits shared across replicas (two limiters = two replicas on one PostgreSQL)."""

from __future__ import annotations

from facesearch.sqlstore.rate_limits import SharedRateLimiter


def test_two_replicas_share_one_budget(pg_url: str) -> None:
    a = SharedRateLimiter(pg_url, "search", per_minute=6)
    b = SharedRateLimiter(pg_url, "search", per_minute=6)
    waits = [(a if i % 2 else b).take("alice") for i in range(8)]
    # a burst of 6 across both replicas, then both refuse (one budget, not one each)
    assert waits[:6] == [0.0] * 6
    assert all(w > 0 for w in waits[6:])
    assert 0 < waits[7] <= 10.0  # one token comes back every 10 s at 6 a minute
    # other keys and other scopes have their own buckets
    assert a.take("bob") == 0.0
    login = SharedRateLimiter(pg_url, "login", per_minute=6)
    assert login.take("alice") == 0.0
    for limiter in (a, b, login):
        limiter.close()


def test_zero_means_no_limit(pg_url: str) -> None:
    limiter = SharedRateLimiter(pg_url, "reads", per_minute=0)
    assert all(limiter.take("x") == 0.0 for _ in range(20))
    limiter.close()
