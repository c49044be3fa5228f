"""Warm pools: the execution environments of one function version at one revision.

A pool only keeps books; the engine decides.  Idle environments are reused
most-recently-used first (the hottest caches, and the rest age out and get
reaped after ``keep_warm_s``).  ``starting`` and ``busy`` environments are
the function's in-flight invocations, which reserved concurrency limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cloudlet.engine.environment import BUSY, DEAD, IDLE, STARTING, Environment
from cloudlet.engine.types import FunctionSpec

PoolKey = tuple[str, str, str]  # (function ARN, version, revision)


def pool_key(spec: FunctionSpec) -> PoolKey:
    return (spec.function_arn, spec.version, spec.revision)


def unqualified_arn(arn: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` → without the qualifier."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 and parts[5] == "function" else arn


@dataclass(frozen=True)
class PoolStatistics:
    function_arn: str
    version: str
    revision: str
    idle: int
    busy: int
    starting: int
    #: Invocations waiting for an environment (asynchronous events wait; sync calls are throttled).
    queued: int
    #: Provisioned concurrency requested / environments initialized for it.
    provisioned: int
    provisioned_ready: int
    #: SnapStart snapshot worker state: ``None`` (not SnapStart), ``"creating"``, ``"ready"``.
    snapshot: str | None


class Pool:
    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.function = unqualified_arn(key[0])
        self.idle: list[Environment] = []  # least recently used first
        self.busy: set[Environment] = set()
        self.starting: set[Environment] = set()
        self.closed = False
        self.queued = 0
        #: Provisioned concurrency requested for this version.
        self.provisioned = 0
        #: Why provisioning failed (the init error), ``None`` while it is fine.
        self.provision_error: str | None = None
        #: SnapStart snapshot of this version (owned by the engine).
        self.snapshot: Any = None

    @property
    def in_flight(self) -> int:
        return len(self.busy) + len(self.starting)

    @property
    def size(self) -> int:
        return len(self.idle) + self.in_flight

    def take_idle(self) -> Environment | None:
        while self.idle:
            env = self.idle.pop()
            if env.alive:
                env.state = BUSY
                self.busy.add(env)
                return env
        return None

    def add_starting(self, env: Environment) -> None:
        env.state = STARTING
        self.starting.add(env)

    def mark_busy(self, env: Environment) -> None:
        self.starting.discard(env)
        env.state = BUSY
        self.busy.add(env)

    def release(self, env: Environment) -> bool:
        """Back to idle; ``False`` if the environment must be disposed of instead."""
        self.busy.discard(env)
        self.starting.discard(env)
        if self.closed or not env.alive:
            return False
        env.state = IDLE
        env.last_used = time.monotonic()
        self.idle.append(env)
        return True

    def remove(self, env: Environment) -> None:
        self.busy.discard(env)
        self.starting.discard(env)
        if env in self.idle:
            self.idle.remove(env)

    def expired(self, now: float, keep_warm_s: float) -> list[Environment]:
        """Remove and return idle environments unused for ``keep_warm_s`` (or dead); provisioned ones stay."""
        keep = [e for e in self.idle if e.alive and (e.provisioned or now - e.last_used < keep_warm_s)]
        gone = [e for e in self.idle if e not in keep]
        self.idle = keep
        return gone

    def pop_oldest_idle(self) -> Environment | None:
        return self.idle.pop(0) if self.idle else None

    def close(self) -> list[Environment]:
        """Stop reuse; returns the idle environments (busy ones are disposed of on release)."""
        self.closed = True
        idle, self.idle = self.idle, []
        return idle

    def statistics(self) -> PoolStatistics:
        arn, version, revision = self.key
        ready = sum(1 for e in (*self.idle, *self.busy) if e.provisioned and e.alive)
        snapshot = None if self.snapshot is None else ("ready" if self.snapshot.ready else "creating")
        return PoolStatistics(
            arn, version, revision, len(self.idle), len(self.busy), len(self.starting), self.queued,
            self.provisioned, ready, snapshot,
        )  # fmt: skip


__all__ = ["DEAD", "Pool", "PoolKey", "PoolStatistics", "pool_key", "unqualified_arn"]
