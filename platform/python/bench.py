"""What the agent costs the app: one counter increment, and one heartbeat.

    python bench.py                      # counters only
    ATUM_BENCH_DATABASE_URL=postgresql://… python bench.py   # and heartbeats

The database must have the console's schema (``atum-console migrate``);
``make bench`` runs this against a local Postgres. Counters: each function
called in a loop of one million, minus the empty loop. Heartbeats: 500 of
them with 10,000 tenants in the miss table (the most it tracks), wall and
CPU time and the statements each one sent.
"""

from __future__ import annotations

import os
import statistics
import time
import timeit

import atum_ops_agent as ops
from atum_ops_agent import Agent, Counters

LOOP = 1_000_000
BEATS = 500


def counters() -> None:
    print(f"counter increment, loop of {LOOP:,} (best of 5, minus the empty loop):")
    empty = min(timeit.repeat("pass", number=LOOP, repeat=5)) / LOOP
    for stmt in ("ops.memory_hit()", "ops.redis_hit()", "ops.redis_command()", "ops.miss('tenant-42')", "ops.suspend_redis()"):
        t = min(timeit.repeat(stmt, globals={"ops": ops}, number=LOOP, repeat=5)) / LOOP
        print(f"  {stmt:26s} {(t - empty) * 1e9:6.1f} ns  ({t * 1e9:.1f} ns with the loop)")


def heartbeats(url: str) -> None:
    c = Counters()
    for i in range(10_000):
        c.miss(f"tenant-{i}")
    a = Agent(url, instance_id="bench-1", counters=c, listen=False, interval=3600, poll_interval=3600,
              environ={"FLY_MACHINE_ID": "bench", "FLY_PROCESS_GROUP": "api", "ENVIRONMENT": "bench"}).start()
    try:
        while a.stats()["heartbeats"] < 1:  # the first one, with the identity query, is not measured
            time.sleep(0.01)
        before = a.stats()
        walls = []
        cpu0 = time.process_time()
        for _ in range(BEATS):
            c.memory_hit()
            c.miss("tenant-7")
            t0 = time.perf_counter()
            if not a.heartbeat_now():
                raise SystemExit(f"heartbeat failed: {a.last_error}")
            walls.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / BEATS
        after = a.stats()
    finally:
        a.stop()
    walls.sort()
    q = (after["queries"] - before["queries"]) / BEATS
    print(f"heartbeat, {BEATS} upserts on a local Postgres 15, 10,000 tenants tracked:")
    print(f"  wall p50 {statistics.median(walls) * 1e3:.2f} ms, p99 {walls[int(BEATS * 0.99)] * 1e3:.2f} ms;"
          f" CPU in the app {cpu * 1e3:.2f} ms; {q:g} statement(s) per heartbeat")
    print(f"  steady state: {60 / 15 * (q + 1):g} statements a minute (a heartbeat and a switch poll every 15 s),"
          " 2 connections (1 with LISTEN off)")


if __name__ == "__main__":
    url = os.environ.get("ATUM_BENCH_DATABASE_URL", "")
    if url:  # suspend_redis() answers from the running agent, as in the app
        ops.start(url, instance_id="bench-0", listen=False, interval=3600, poll_interval=3600,
                  environ={"FLY_MACHINE_ID": "bench", "FLY_PROCESS_GROUP": "api", "ENVIRONMENT": "bench"})
    counters()
    ops.stop()
    if url:
        heartbeats(url)
    else:
        print("heartbeat: skipped (set ATUM_BENCH_DATABASE_URL; suspend_redis() above read the environment)")
