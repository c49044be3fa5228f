"""Pool bookkeeping: most-recently-used reuse, expiry, closing."""

from __future__ import annotations

from pathlib import Path

from cloudlet.engine.environment import BUSY, IDLE, Environment
from cloudlet.engine.pool import Pool, pool_key, unqualified_arn
from cloudlet.engine.types import FunctionSpec, InvokeResult

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
SPEC = FunctionSpec("f", ARN, "$LATEST", "r1", "app.handler", "python3.12", Path("/code"))


def make_env() -> Environment:
    return Environment(pool_key(SPEC), SPEC, "/tmp/unused")


def test_unqualified_arn_strips_version_or_alias() -> None:
    assert unqualified_arn(ARN + ":3") == ARN
    assert unqualified_arn(ARN + ":live") == ARN
    assert unqualified_arn(ARN) == ARN


def test_idle_environments_are_reused_most_recent_first() -> None:
    pool = Pool(pool_key(SPEC))
    first, second = make_env(), make_env()
    for env in (first, second):
        pool.add_starting(env)
        pool.mark_busy(env)
    assert pool.in_flight == 2
    assert pool.release(first) and pool.release(second)
    assert first.state == second.state == IDLE
    assert pool.take_idle() is second
    assert second.state == BUSY
    assert pool.statistics().idle == 1 and pool.statistics().busy == 1


def test_expired_removes_environments_idle_too_long() -> None:
    pool = Pool(pool_key(SPEC))
    old, fresh = make_env(), make_env()
    for env in (old, fresh):
        pool.add_starting(env)
        pool.release(env)
    old.last_used -= 100
    assert pool.expired(fresh.last_used + 1, keep_warm_s=10) == [old]
    assert pool.idle == [fresh]


def test_closed_pool_does_not_take_environments_back() -> None:
    pool = Pool(pool_key(SPEC))
    idle, busy = make_env(), make_env()
    for env in (idle, busy):
        pool.add_starting(env)
    pool.release(idle)
    assert pool.close() == [idle]
    assert not pool.release(busy)
    assert pool.size == 0


def test_log_tail_is_the_last_4_kb() -> None:
    events = [(0, "START RequestId: x Version: $LATEST")] + [(0, "y" * 99)] * 100 + [(0, "END RequestId: x")]
    result = InvokeResult(b"null", None, events, "s", 1.0, 1, None, 40)
    tail = result.log_tail()
    assert len(tail.encode()) == 4096
    assert tail.endswith("END RequestId: x\n")
