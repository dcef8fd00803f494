"""Counters: exact under threads, top tenants, no database needed."""

from __future__ import annotations

import threading

from atum_ops_agent import counters
from atum_ops_agent.counters import Counters, TenantMisses, Values


def test_counts_are_exact_under_threads() -> None:
    c = Counters()
    per_thread, threads = 50_000, 8
    reads: list[Values] = []

    def work(i: int) -> None:
        for _ in range(per_thread):
            c.memory_hit()
            c.redis_command()
        for _ in range(per_thread // 10):
            c.miss(f"t{i}")
            c.redis_hit()
        c.redis_command(3)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for _ in range(20):  # reading meanwhile does not disturb the counts
        reads.append(c.read())
    for t in ts:
        t.join()
    v = c.read()
    assert v == Values(
        memory_hits=threads * per_thread,
        redis_hits=threads * per_thread // 10,
        misses=threads * per_thread // 10,
        redis_commands=threads * (per_thread + 3),
        pool_timeouts=0,
    )
    assert all(r.memory_hits <= v.memory_hits for r in reads)
    tenants = c.drain_misses()
    assert len(tenants) == threads * per_thread // 10
    assert c.drain_misses() == []
    assert c.read() == v  # reads are idempotent


def test_module_functions_feed_the_default_counters() -> None:
    before = counters.DEFAULT.read()
    counters.memory_hit()
    counters.redis_hit()
    counters.miss("acme")
    counters.redis_command()
    counters.redis_command(2)
    counters.redis_command(0)
    counters.pool_timeout()
    assert counters.DEFAULT.read() - before == Values(1, 1, 1, 3, 1)
    assert counters.DEFAULT.drain_misses()[-1] == "acme"


def test_top_tenants() -> None:
    t = TenantMisses()
    t.add([f"t{i:02d}" for i in range(12) for _ in range(i)])  # t11 missed 11 times … t01 once
    t.add(["t10"])  # t10 and t11 tie at 11: by name
    top = t.top()
    assert len(top) == 10
    assert top[:3] == [{"tenant": "t10", "misses": 11}, {"tenant": "t11", "misses": 11}, {"tenant": "t09", "misses": 9}]
    assert top[-1] == {"tenant": "t02", "misses": 2}


def test_tenants_stay_bounded() -> None:
    t = TenantMisses()
    t.add(["hot"] * 50)
    t.add([f"cold-{i}" for i in range(counters.MAX_TENANTS + 1)])
    assert len(t._by_tenant) <= counters.MAX_TENANTS
    assert t.top(1) == [{"tenant": "hot", "misses": 50}]
