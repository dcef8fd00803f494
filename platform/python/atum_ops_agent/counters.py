"""Tenant-cache counters, cheap enough for every lookup.

An increment takes no lock: it is one ``next()`` of an :class:`itertools.count`
(and, for a miss, one ``deque.append``), both single C calls that CPython's
GIL makes atomic, so threads never lose a count. Only the reader (the
heartbeat, a few times a minute) takes a lock. Nothing here talks to Redis.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from dataclasses import dataclass

#: How many tenants a heartbeat lists by misses.
TOP_TENANTS = 10
#: Misses remembered by tenant between two reads; past this the oldest
#: tenants are dropped (the totals stay exact, the per-tenant ones approximate).
MISS_LOG = 100_000
#: Tenants whose misses are tracked; past this the least missed half is forgotten.
MAX_TENANTS = 10_000


@dataclass(frozen=True)
class Values:
    """Counter values at one moment."""

    memory_hits: int = 0
    redis_hits: int = 0
    misses: int = 0
    redis_commands: int = 0
    pool_timeouts: int = 0

    def __sub__(self, other: Values) -> Values:
        return Values(
            self.memory_hits - other.memory_hits,
            self.redis_hits - other.redis_hits,
            self.misses - other.misses,
            self.redis_commands - other.redis_commands,
            self.pool_timeouts - other.pool_timeouts,
        )


class Counters:
    """Cumulative counters of one process: increments from any thread."""

    def __init__(self, miss_log: int = MISS_LOG) -> None:
        self._memory = itertools.count()
        self._redis = itertools.count()
        self._misses = itertools.count()
        self._commands = itertools.count()
        self._timeouts = itertools.count()
        self._miss_log: deque[str] = deque(maxlen=miss_log)
        self._lock = threading.Lock()  # readers only
        self._reads = 0  # every read advanced each count once
        self._extra_commands = 0  # redis_command(n) with n != 1, under _lock

    def memory_hit(self) -> None:
        """A tenant lookup answered from the process's memory."""
        next(self._memory)

    def redis_hit(self) -> None:
        """A tenant lookup answered from Redis."""
        next(self._redis)

    def miss(self, tenant: str) -> None:
        """A tenant lookup that went to Postgres (both caches missed)."""
        next(self._misses)
        self._miss_log.append(tenant)

    def redis_command(self, n: int = 1) -> None:
        """*n* commands sent to Redis (a pipeline counts each command)."""
        if n == 1:
            next(self._commands)
        elif n > 0:
            with self._lock:
                self._extra_commands += n

    def pool_timeout(self) -> None:
        """The app waited too long for a pooled connection (SQLAlchemy's TimeoutError)."""
        next(self._timeouts)

    def read(self) -> Values:
        """The counts so far. Each read advances every count by one, which it subtracts."""
        with self._lock:
            r = self._reads
            self._reads += 1
            return Values(
                next(self._memory) - r,
                next(self._redis) - r,
                next(self._misses) - r,
                next(self._commands) - r + self._extra_commands,
                next(self._timeouts) - r,
            )

    def drain_misses(self) -> list[str]:
        """The tenants of the misses since the last drain (one reader at a time)."""
        out: list[str] = []
        pop = self._miss_log.popleft
        with self._lock:
            try:
                while True:
                    out.append(pop())
            except IndexError:
                return out


class TenantMisses:
    """Misses by tenant, bounded to :data:`MAX_TENANTS` tenants. Not thread-safe."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, int] = {}

    def add(self, tenants: list[str]) -> None:
        by = self._by_tenant
        for t in tenants:
            by[t] = by.get(t, 0) + 1
        if len(by) > MAX_TENANTS:
            keep = heapq.nlargest(MAX_TENANTS // 2, by.items(), key=lambda kv: kv[1])
            self._by_tenant = dict(keep)

    def top(self, n: int = TOP_TENANTS) -> list[dict[str, object]]:
        """The *n* most missed tenants, most first (ties by name), as the heartbeat's JSON."""
        best = heapq.nsmallest(n, self._by_tenant.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"tenant": t, "misses": m} for t, m in best]


#: The process's counters, fed by the module-level functions below.
DEFAULT = Counters()

_memory = DEFAULT._memory.__next__
_redis = DEFAULT._redis.__next__
_commands = DEFAULT._commands.__next__
_timeouts = DEFAULT._timeouts.__next__
_misses = DEFAULT._misses.__next__
_miss_log = DEFAULT._miss_log.append


def memory_hit() -> None:
    """Count a tenant lookup answered from the process's memory."""
    _memory()


def redis_hit() -> None:
    """Count a tenant lookup answered from Redis."""
    _redis()


def miss(tenant: str) -> None:
    """Count a tenant lookup that went to Postgres; *tenant* is its slug."""
    _misses()
    _miss_log(tenant)


def redis_command(n: int = 1) -> None:
    """Count *n* commands sent to Redis."""
    if n == 1:
        _commands()
    else:
        DEFAULT.redis_command(n)


def pool_timeout() -> None:
    """Count a wait for a pooled connection that timed out (reported with an engine)."""
    _timeouts()
