"""The agent against a real Postgres with the console's schema (contracts 4 and 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from conftest import Proxy, eventually, heartbeat, set_switch

import atum_ops_agent as ops
from atum_ops_agent import Agent, Counters

FLY = {"FLY_MACHINE_ID": "e784079b", "FLY_PROCESS_GROUP": "api", "ENVIRONMENT": "staging"}


def agent(url: str, instance: str, **kw: Any) -> Agent:
    kw.setdefault("environ", FLY)
    kw.setdefault("counters", Counters())
    kw.setdefault("interval", 15.0)
    return Agent(url, instance_id=instance, **kw)


class FakePool:
    """What the agent reads of SQLAlchemy's QueuePool (pool_size 15, 3 checked out)."""

    def checkedout(self) -> int:
        return 3

    def overflow(self) -> int:
        return -12  # SQLAlchemy's overflow starts at -pool_size


class FakeEngine:
    pool = FakePool()


def test_heartbeat_has_every_contract_field(database_url: str, db: psycopg.Connection[Any]) -> None:
    counters = Counters()
    a = agent(database_url, "api-1", engine=FakeEngine(), counters=counters).start()
    try:
        eventually(lambda: heartbeat(db, "api-1"), 5, "first heartbeat")
        row = heartbeat(db, "api-1")
        assert row is not None
        version = db.execute("SELECT version FROM ops.kill_switch_state WHERE name = 'SUSPEND_REDIS'").fetchone()
        sysid = db.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        dbname = db.execute("SELECT current_database()").fetchone()
        assert version and sysid and dbname
        assert row["machine_id"] == "e784079b" and row["process_group"] == "api" and row["environment"] == "staging"
        assert row["boot_id"] == a.boot_id and len(a.boot_id) == 36
        assert abs(row["started_at"] - datetime.now(timezone.utc)) < timedelta(seconds=10)
        assert row["database_identity"] == f"127.0.0.1/{dbname[0]}#{sysid[0]}"
        assert (row["suspend_redis"], row["suspend_redis_source"], row["switch_version"]) == (False, "database", version[0])
        assert row["switch_applied_at"] is not None
        assert (row["pool_checked_out"], row["pool_overflow"], row["pool_timeouts"]) == (3, 0, 0)
        assert row["top_miss_tenants"] == []

        for _ in range(5):
            counters.memory_hit()
        counters.redis_hit()
        counters.redis_command(2)
        counters.pool_timeout()
        for i in range(12):
            for _ in range(i + 1):
                counters.miss(f"tenant-{i:02d}")
        assert a.heartbeat_now()
        row = heartbeat(db, "api-1")
        assert row is not None
        assert (row["cache_memory_hits"], row["cache_redis_hits"], row["cache_misses"], row["redis_commands"]) == (5, 1, 78, 2)
        assert row["pool_timeouts"] == 1
        assert row["top_miss_tenants"][0] == {"tenant": "tenant-11", "misses": 12}
        assert len(row["top_miss_tenants"]) == 10
        # Each upsert is a history point the console folds (its trigger).
        n = db.execute("SELECT count(*) FROM ops.heartbeat_history WHERE instance_id = 'api-1'").fetchone()
        assert n and n[0] >= 2
        # The agent's own connections are attributed to the process.
        names = {r[0] for r in db.execute("SELECT application_name FROM pg_stat_activity").fetchall()}
        assert f"atum-agent:api:e784079b:{os.getpid()}" in names
    finally:
        a.stop()


def test_one_statement_per_heartbeat(database_url: str, db: psycopg.Connection[Any]) -> None:
    a = agent(database_url, "api-q", listen=False, interval=3600, poll_interval=3600).start()
    try:
        eventually(lambda: a.stats()["heartbeats"] == 1, 5, "first heartbeat")
        before = a.stats()
        for _ in range(10):
            assert a.heartbeat_now()
        after = a.stats()
        assert after["queries"] - before["queries"] == 10
        assert after["heartbeats"] - before["heartbeats"] == 10
    finally:
        a.stop()


def test_pool_timeouts_from_the_pool_when_it_counts_them(database_url: str, db: psycopg.Connection[Any]) -> None:
    class Pool(FakePool):
        def overflow(self) -> int:
            return 2

        def timeouts(self) -> int:
            return 7

    class AsyncEngine:  # no .pool of its own, a sync_engine with one
        class sync_engine:  # noqa: N801
            pool = Pool()

    for name, engine, want in (("api-pool", AsyncEngine(), (3, 2, 7)), ("no-engine", None, (None, None, None))):
        a = agent(database_url, name, engine=engine, listen=False).start()
        try:
            assert a.heartbeat_now()
            row = heartbeat(db, name)
            assert row is not None and (row["pool_checked_out"], row["pool_overflow"], row["pool_timeouts"]) == want
        finally:
            a.stop()


def test_listen_applies_a_change_within_two_seconds(database_url: str, db: psycopg.Connection[Any]) -> None:
    a = agent(database_url, "api-listen", poll_interval=60).start()
    try:
        assert a.suspend_redis() is False
        eventually(lambda: heartbeat(db, "api-listen"), 5, "first heartbeat")
        time.sleep(0.2)  # let the listener subscribe
        version = set_switch(db, True)
        took = eventually(a.suspend_redis, 2, "SUSPEND_REDIS ON through LISTEN")
        assert a.switch.source == "database" and a.switch.version == version and a.switch.applied_at is not None
        # The change is reported at once, not a heartbeat interval later.
        eventually(lambda: (heartbeat(db, "api-listen") or {}).get("switch_version") == version, 2, "heartbeat after the change")
        row = heartbeat(db, "api-listen")
        assert row is not None and row["suspend_redis"] is True and row["suspend_redis_source"] == "database"
        set_switch(db, False)
        eventually(lambda: not a.suspend_redis(), 2, "SUSPEND_REDIS OFF through LISTEN")
        print(f"LISTEN applied in {took * 1000:.0f} ms")
    finally:
        a.stop()


def test_polling_alone_applies_a_change(database_url: str, db: psycopg.Connection[Any]) -> None:
    a = agent(database_url, "api-poll", poll_interval=0.5, listen=False).start()
    try:
        version = set_switch(db, True, notify=False)
        eventually(a.suspend_redis, 2, "SUSPEND_REDIS ON by polling")
        assert a.switch.version == version
        assert not any(t.name.endswith("listen") for t in a._threads)
    finally:
        a.stop()


def test_the_view_applies_automatic_reverts(database_url: str, db: psycopg.Connection[Any]) -> None:
    set_switch(db, True, revert_at=(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
    a = agent(database_url, "api-revert", listen=False).start()
    try:
        assert a.suspend_redis() is False  # ON, but past its revert time
        assert a.switch.source == "database"
    finally:
        a.stop()


def test_environment_override_wins(database_url: str, db: psycopg.Connection[Any]) -> None:
    a = agent(database_url, "api-env", environ={**FLY, "SUSPEND_REDIS": "true"}).start()
    try:
        assert a.suspend_redis() is True and a.switch.source == "env"
        version = set_switch(db, False)
        eventually(lambda: a.switch.version == version, 2, "the version read despite the override")
        assert a.suspend_redis() is True and a.switch.source == "env"
        eventually(lambda: (heartbeat(db, "api-env") or {}).get("switch_version") == version, 2, "heartbeat")
        row = heartbeat(db, "api-env")
        assert row is not None and row["suspend_redis"] is True and row["suspend_redis_source"] == "env"
    finally:
        a.stop()


def test_unreachable_postgres_keeps_the_last_value(proxy: tuple[Proxy, str], db: psycopg.Connection[Any]) -> None:
    p, url = proxy
    set_switch(db, True)
    a = agent(url, "api-cut", interval=0.3, poll_interval=0.3).start()
    try:
        assert a.suspend_redis() is True and a.switch.source == "database"
        eventually(lambda: heartbeat(db, "api-cut"), 5, "first heartbeat")
        p.cut()
        set_switch(db, False)  # the agent cannot see it
        eventually(lambda: a.switch.source == "cached", 5, "source cached")
        assert a.suspend_redis() is True  # the last value read
        assert a.heartbeat_now() is False and a.last_error  # logged, not raised
        seen = heartbeat(db, "api-cut")
        p.resume()
        eventually(lambda: a.switch.source == "database" and not a.suspend_redis(), 10, "back to the database's value")
        eventually(lambda: (heartbeat(db, "api-cut") or {}).get("reported_at") != (seen or {}).get("reported_at"), 10, "heartbeats resume")
        row = heartbeat(db, "api-cut")
        assert row is not None and row["suspend_redis_source"] == "database" and row["suspend_redis"] is False
    finally:
        a.stop()


def test_listener_reconnects_after_losing_its_connection(database_url: str, db: psycopg.Connection[Any]) -> None:
    a = agent(database_url, "api-relisten", poll_interval=60).start()
    try:
        name = f"atum-agent:api:e784079b:{os.getpid()}"
        agents = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"

        def pids() -> set[int]:
            return {r[0] for r in db.execute(agents, (name,)).fetchall()}

        eventually(lambda: len(pids()) == 2, 5, "the worker's and the listener's connections")
        old = pids()
        db.execute(f"SELECT pg_terminate_backend(pid) FROM ({agents}) a", (name,))
        # Only the listener comes back by itself (the worker's next use is in 15 s),
        # and it re-reads the switch once subscribed.
        eventually(lambda: pids() - old, 10, "the listener back")
        time.sleep(0.2)
        version = set_switch(db, True)
        eventually(a.suspend_redis, 2, "SUSPEND_REDIS ON through the new LISTEN")
        assert a.switch.version == version
    finally:
        a.stop()


def test_never_raises_without_a_database() -> None:
    for url in ("postgresql://nobody@127.0.0.1:1/atum", "not a url at all"):
        a = Agent(url, instance_id="offline", environ=FLY, interval=0.1, poll_interval=0.1, connect_timeout=1)
        begin = time.monotonic()
        a.start()
        assert time.monotonic() - begin < 3
        assert a.suspend_redis() is False and a.switch.source == "cached"
        assert a.heartbeat_now() is False and a.last_error
        time.sleep(0.3)
        a.stop()
        assert "redis" not in sys.modules


def test_module_start_is_a_new_boot_each_time(database_url: str, db: psycopg.Connection[Any]) -> None:
    try:
        first = ops.start(database_url, environ=FLY, instance_id="api-mod", listen=False)
        assert ops.agent() is first
        for _ in range(3):
            ops.memory_hit()
        ops.miss("acme")
        assert first.heartbeat_now()
        row = heartbeat(db, "api-mod")
        assert row is not None and (row["cache_memory_hits"], row["cache_misses"]) == (3, 1)
        second = ops.start(database_url, environ=FLY, instance_id="api-mod", listen=False)
        assert second.heartbeat_now()
        row = heartbeat(db, "api-mod")
        assert row is not None and row["boot_id"] == second.boot_id != first.boot_id
        assert (row["cache_memory_hits"], row["cache_misses"], row["top_miss_tenants"]) == (0, 0, [])
        assert row["started_at"] >= first.started_at
    finally:
        ops.stop()
    assert ops.agent() is None


def test_stop_sends_a_last_heartbeat(database_url: str, db: psycopg.Connection[Any]) -> None:
    counters = Counters()
    a = agent(database_url, "api-last", counters=counters).start()
    eventually(lambda: heartbeat(db, "api-last"), 5, "first heartbeat")
    counters.memory_hit()
    a.stop()
    row = heartbeat(db, "api-last")
    assert row is not None and row["cache_memory_hits"] == 1
    assert not any(t.is_alive() for t in threading_enumerate_agent())


def threading_enumerate_agent() -> list[Any]:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("atum-ops-agent")]


def test_entry_point_refuses_unsafe_production() -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "DATABASE_URL": "postgresql://app:secret@db.example.com/atum"}
    r = subprocess.run([sys.executable, "-m", "atum_ops_agent"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "DATABASE_URL does not require TLS" in r.stderr and "secret" not in r.stderr
