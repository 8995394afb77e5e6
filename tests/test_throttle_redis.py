"""Rate-limit counters shared through Redis, as several servers behind one balancer use them.

Runs when OMNICX_TEST_REDIS_URL is set (`.ci/run` sets it); under CI=true a missing Redis
fails instead of skipping.
"""

import logging
import os
import uuid

import pytest
import redis

from omnicx.access.model import RateLimited
from omnicx.access.throttle import Throttle

REDIS_URL = os.environ.get("OMNICX_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _redis_reason() -> str | None:
    if not REDIS_URL:
        return "OMNICX_TEST_REDIS_URL is not set"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"Redis at OMNICX_TEST_REDIS_URL does not answer: {error}"
    return None


@pytest.fixture
def redis_url() -> str:
    reason = _redis_reason()
    if reason and IN_CI:
        pytest.fail(f"CI=true needs Redis: {reason}")
    if reason:
        pytest.skip(reason)
    assert REDIS_URL is not None
    return REDIS_URL


def test_two_servers_share_one_count_through_redis(redis_url: str) -> None:
    first = Throttle(redis_url, {"api": "3/minute"})
    second = Throttle(redis_url, {"api": "3/minute"})
    assert first.blocking is True
    key = f"key-{uuid.uuid4()}"
    first.hit("api", key)
    second.hit("api", key)
    first.hit("api", key)
    with pytest.raises(RateLimited) as refused:
        second.hit("api", key)
    assert refused.value.code == "rate_limited"
    assert 1 <= refused.value.retry_after <= 60
    # Another caller has its own count.
    second.hit("api", f"key-{uuid.uuid4()}")


def test_an_unreachable_store_lets_requests_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = Throttle("redis://127.0.0.1:1/0", {"api": "1/minute"})
    with caplog.at_level(logging.WARNING, logger="omnicx.access"):
        for _ in range(3):
            throttle.hit("api", "anyone")
    warnings = [r.getMessage() for r in caplog.records if r.name == "omnicx.access"]
    assert len(warnings) == 1
    assert warnings[0].startswith("rate-limit store does not answer; requests pass unlimited:")
