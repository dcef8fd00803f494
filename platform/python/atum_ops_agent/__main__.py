"""``python -m atum_ops_agent``: an agent process configured from the environment.

It runs what a platform process would run beside its app, with optional
simulated tenant lookups, until SIGTERM or SIGINT (then a last heartbeat).
The console's end-to-end test starts it; it also shows the contract at work
against any console database.

Environment: ``DATABASE_URL`` (required), ``FLY_MACHINE_ID``,
``FLY_PROCESS_GROUP``, ``ENVIRONMENT``, ``SUSPEND_REDIS``, ``ATUM_INSTANCE_ID``,
and for tests and demos ``ATUM_AGENT_INTERVAL`` and
``ATUM_AGENT_POLL_INTERVAL`` (seconds, default 15), ``ATUM_AGENT_LISTEN=0``
(poll only), ``ATUM_AGENT_TRAFFIC`` (simulated lookups per second, default 0)
and ``ATUM_AGENT_TENANTS`` (how many tenants they spread over, default 20).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time

from . import check_startup, memory_hit, miss, redis_command, redis_hit, start, stop, suspend_redis
from .config import StartupRefused

#: How long the simulated memory and Redis caches keep a tenant, in seconds.
MEMORY_TTL, REDIS_TTL = 1.0, 5.0


def simulate(rate: float, tenants: int, done: threading.Event) -> None:
    """Look tenants up at *rate* per second as the platform does (memory, Redis unless suspended, Postgres)."""
    slugs = [f"tenant-{i:02d}" for i in range(max(1, tenants))]
    weights = [1 / (i + 1) for i in range(len(slugs))]  # a few hot tenants, a long tail
    rnd = random.Random()
    memory: dict[str, float] = {}
    redis: dict[str, float] = {}
    period = 1 / rate
    while not done.wait(period):
        slug = rnd.choices(slugs, weights)[0]
        now = time.monotonic()
        if memory.get(slug, 0) > now:
            memory_hit()
            continue
        if not suspend_redis():
            redis_command()  # GET tenant:<slug>
            if redis.get(slug, 0) > now:
                redis_hit()
                memory[slug] = now + MEMORY_TTL
                continue
        miss(slug)
        memory[slug] = now + MEMORY_TTL
        if not suspend_redis():
            redis_command()  # SET tenant:<slug> EX
            redis[slug] = now + REDIS_TTL


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    env = os.environ
    try:
        check_startup(env)
    except StartupRefused as e:
        print(f"atum_ops_agent: {e}", file=sys.stderr)
        return 2
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        print("atum_ops_agent: DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        interval = float(env.get("ATUM_AGENT_INTERVAL") or 15)
        poll = float(env.get("ATUM_AGENT_POLL_INTERVAL") or 15)
        rate = float(env.get("ATUM_AGENT_TRAFFIC") or 0)
        tenants = int(env.get("ATUM_AGENT_TENANTS") or 20)
    except ValueError as e:
        print(f"atum_ops_agent: bad number: {e}", file=sys.stderr)
        return 2
    listen = env.get("ATUM_AGENT_LISTEN", "1").strip().lower() not in ("0", "false", "no", "off")

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    a = start(url, interval=interval, poll_interval=poll, listen=listen)
    print(f"atum_ops_agent: instance {a.instance_id} boot {a.boot_id} listen={listen}", flush=True)
    if rate > 0:
        simulate(rate, tenants, done)
    else:
        while not done.wait(3600):
            pass
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
