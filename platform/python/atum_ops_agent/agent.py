"""The agent: heartbeats and the SUSPEND_REDIS kill switch (contracts 4 and 5).

It mirrors the console's Go implementation of the contract (``internal/sim``):
the switch is read before the app builds a Redis client, re-read on every
``NOTIFY ops_kill_switches`` and at least every ``poll_interval``, and kept
with source ``cached`` while Postgres does not answer; the heartbeat row is
upserted every ``interval`` and at once after the switch changed.

Two daemon threads, each with its own autocommit psycopg connection named
``<service>-agent:group:machine:pid``: one for heartbeats and polls, one
that LISTENs (it waits on the socket with a timeout: psycopg 3.1's
``notifies()`` has none). No method raises into the app; errors are logged
(one line per kind a minute) and retried with backoff.
"""

from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from . import config
from .counters import DEFAULT, Counters, TenantMisses, Values

SWITCH = "SUSPEND_REDIS"
CHANNEL = "ops_kill_switches"
SWITCH_SQL = "SELECT enabled, version FROM ops.kill_switch_state WHERE name = 'SUSPEND_REDIS'"

#: The upsert of README "Contracts with the platform", 5, field for field.
HEARTBEAT_SQL = """\
INSERT INTO ops.instance_heartbeats (
    instance_id, machine_id, process_group, boot_id, started_at, environment, database_identity,
    suspend_redis, suspend_redis_source, switch_version, switch_applied_at,
    cache_memory_hits, cache_redis_hits, cache_misses, redis_commands, top_miss_tenants,
    pool_checked_out, pool_overflow, pool_timeouts, reported_at)
VALUES (%(instance_id)s, %(FLY_MACHINE_ID)s, %(FLY_PROCESS_GROUP)s, %(boot_id)s, %(started_at)s,
    %(ENVIRONMENT)s, %(database_identity)s,
    %(suspend_redis)s, %(source)s,
    %(switch_version)s, %(switch_applied_at)s,
    %(memory_hits)s, %(redis_hits)s, %(misses)s, %(redis_commands)s,
    %(top_miss_tenants)s,
    %(pool_checked_out)s, %(pool_overflow)s, %(pool_timeouts)s, now())
ON CONFLICT (instance_id) DO UPDATE SET
    machine_id = EXCLUDED.machine_id, process_group = EXCLUDED.process_group, boot_id = EXCLUDED.boot_id,
    started_at = EXCLUDED.started_at, environment = EXCLUDED.environment,
    database_identity = EXCLUDED.database_identity, suspend_redis = EXCLUDED.suspend_redis,
    suspend_redis_source = EXCLUDED.suspend_redis_source, switch_version = EXCLUDED.switch_version,
    switch_applied_at = EXCLUDED.switch_applied_at, cache_memory_hits = EXCLUDED.cache_memory_hits,
    cache_redis_hits = EXCLUDED.cache_redis_hits, cache_misses = EXCLUDED.cache_misses,
    redis_commands = EXCLUDED.redis_commands, top_miss_tenants = EXCLUDED.top_miss_tenants,
    pool_checked_out = EXCLUDED.pool_checked_out, pool_overflow = EXCLUDED.pool_overflow,
    pool_timeouts = EXCLUDED.pool_timeouts, reported_at = now()"""

#: Pause after errors: doubling from BACKOFF_MIN to BACKOFF_MAX seconds, with jitter.
BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0
#: At most one log line per kind of error in this many seconds.
LOG_EVERY = 60.0
#: How long the listener waits on its socket before looking again.
LISTEN_WAIT = 30.0

log = logging.getLogger("atum_ops_agent")


@dataclass(frozen=True)
class SwitchState:
    """SUSPEND_REDIS as this process applies it and reports it."""

    suspended: bool = False
    #: ``env`` (SUSPEND_REDIS=true in the environment), ``database`` or
    #: ``cached`` (Postgres unreachable: the last value read).
    source: str = "cached"
    #: The version last read from ops.kill_switch_state.
    version: int | None = None
    #: When this state and version were first applied.
    applied_at: datetime | None = None


class _Backoff:
    def __init__(self) -> None:
        self._d = 0.0

    def next(self) -> float:
        self._d = min(max(2 * self._d, BACKOFF_MIN), BACKOFF_MAX)
        return self._d / 2 + random.uniform(0, self._d / 2)

    def reset(self) -> None:
        self._d = 0.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Agent:
    """One boot of a platform process's agent. Use :meth:`start` and :meth:`stop`.

    ``database_url`` is the database holding schema ``ops`` (a SQLAlchemy URL
    works). LISTEN needs a session: give ``listen_url`` (Neon's direct host)
    when ``database_url`` goes through a transaction pooler, or
    ``listen=False`` to rely on polling. ``engine`` is the app's SQLAlchemy
    engine (or AsyncEngine, or its pool): its ``checkedout()`` and
    ``overflow()`` are reported, and ``timeouts()`` if the pool has one, else
    the :func:`pool_timeout` count. ``environ`` supplies ``FLY_MACHINE_ID``,
    ``FLY_PROCESS_GROUP``, ``ENVIRONMENT``, ``SUSPEND_REDIS`` and
    ``ATUM_INSTANCE_ID`` (the instance id, default ``<machine>-<pid>``).
    """

    def __init__(
        self,
        database_url: str,
        *,
        service: str = "atum",
        engine: Any = None,
        environment: str | None = None,
        interval: float = 15.0,
        poll_interval: float = 15.0,
        listen: bool = True,
        listen_url: str | None = None,
        instance_id: str | None = None,
        database_identity: str | None = None,
        connect_timeout: float = 5.0,
        counters: Counters | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self.machine = config.machine_id(env)
        self.group = config.process_group(env)
        self.instance_id = instance_id or env.get("ATUM_INSTANCE_ID", "").strip() or f"{self.machine}-{os.getpid()}"
        self.environment = environment or env.get("ENVIRONMENT", "").strip() or "(unset)"
        self.boot_id = ""
        self.started_at: datetime | None = None
        self._url = config.libpq_url(database_url)
        self._listen_url = config.libpq_url(listen_url) if listen_url else self._url
        self._service = service
        self._engine = engine
        self._interval = max(0.05, interval)
        self._poll_interval = max(0.05, poll_interval)
        self._listen = listen
        self._identity = database_identity
        self._connect_timeout = max(1, round(connect_timeout))
        self._counters = counters or DEFAULT
        self._env_suspend = config.env_flag(env.get(SWITCH))
        self._secrets = [s for s in (database_url, listen_url, _password(database_url), _password(listen_url)) if s]

        self._switch = SwitchState(suspended=True, source="env") if self._env_suspend else SwitchState()
        self._state_lock = threading.Lock()  # guards _switch changes and _queries
        self._read_lock = threading.Lock()  # one switch read and apply at a time
        self._worker_lock = threading.RLock()  # the worker connection, one user at a time
        self._baseline = Values()
        self._tenants = TenantMisses()
        self._conn: psycopg.Connection[Any] | None = None  # the worker's
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._beat_soon = False
        self._wake_r, self._wake_w = -1, -1
        self._threads: list[threading.Thread] = []
        self._last_log: dict[str, float] = {}
        self._queries = 0
        self._beats = 0
        self.last_error: str | None = None

    # --- the app's side -------------------------------------------------

    def suspend_redis(self) -> bool:
        """Whether to bypass Redis now: answered from memory, never blocks."""
        return self._switch.suspended

    @property
    def switch(self) -> SwitchState:
        """The SUSPEND_REDIS state applied now."""
        return self._switch

    def stats(self) -> dict[str, int]:
        """Statements sent and heartbeats written by this agent so far."""
        with self._state_lock:
            return {"queries": self._queries, "heartbeats": self._beats}

    def start(self) -> Agent:
        """Start a boot: a new boot id, counters from zero, the switch read now.

        Returns once the switch was read (or could not be, within the
        connect timeout), so that the app knows whether to build a Redis
        client; the first heartbeat follows at once in the background. An
        Agent runs one boot: :func:`atum_ops_agent.start` makes a new one each time.
        """
        if self._threads:
            return self
        self.boot_id = str(uuid.uuid4())
        self.started_at = _now()
        self._baseline = self._counters.read()
        self._counters.drain_misses()
        self._stopping.clear()
        self._wake_r, self._wake_w = os.pipe()
        self._beat_soon = True
        self._poll()
        self._spawn(self._work, "heartbeat")
        if self._listen:
            self._spawn(self._listen_loop, "listen")
        log.info(
            "agent started: instance %s, boot %s, SUSPEND_REDIS %s (%s)",
            self.instance_id, self.boot_id, _on_off(self._switch.suspended), self._switch.source,
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads after a last heartbeat and close the connections (bounded by *timeout*)."""
        if not self._threads:
            return
        self._stopping.set()
        self._wake.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            log.warning("agent stop: a thread is still busy (database hanging?); leaving it behind")
        else:
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
        self._threads = []

    def heartbeat_now(self) -> bool:
        """Write the heartbeat now, on the caller's thread (tests, benchmarks). Never raises."""
        with self._worker_lock:
            try:
                self._heartbeat(self._worker_conn())
                return True
            except Exception as e:  # noqa: BLE001
                self._drop_worker_conn()
                self._fail("heartbeat", e)
                return False

    # --- threads --------------------------------------------------------

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=f"atum-ops-agent-{name}", daemon=True)
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        """Heartbeats every interval (and soon after a change), polls every poll_interval."""
        beat_backoff, poll_backoff = _Backoff(), _Backoff()
        next_beat = next_poll = time.monotonic()
        next_poll += self._poll_interval
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_poll:
                ok = self._poll()
                next_poll = time.monotonic() + (self._poll_interval if ok else min(self._poll_interval, poll_backoff.next()))
                if ok:
                    poll_backoff.reset()
            if self._beat_soon or time.monotonic() >= next_beat:
                self._beat_soon = False
                if self.heartbeat_now():
                    beat_backoff.reset()
                    next_beat = time.monotonic() + self._interval
                else:
                    next_beat = time.monotonic() + beat_backoff.next()
            self._wake.wait(max(0.0, min(next_beat, next_poll) - time.monotonic()))
            self._wake.clear()
        with self._worker_lock:
            if self._conn is not None:  # the last heartbeat, as the Go side's Stop sends
                self.heartbeat_now()
            self._drop_worker_conn()

    def _poll(self) -> bool:
        """Read the switch on the worker connection; on failure keep it as ``cached``."""
        with self._worker_lock:
            try:
                self._read_switch(self._worker_conn())
                return True
            except Exception as e:  # noqa: BLE001 - never raise into the app
                self._drop_worker_conn()
                self._fail("switch", e)
                self._apply(None)
                return False

    def _listen_loop(self) -> None:
        """LISTEN ops_kill_switches; re-read the switch on each notification about it."""
        backoff = _Backoff()
        conn: psycopg.Connection[Any] | None = None
        heard: list[str] = []
        while not self._stopping.is_set():
            try:
                if conn is None:
                    conn = self._connect(self._listen_url)
                    conn.add_notify_handler(lambda n: heard.append(n.payload))
                    self._execute(conn, "LISTEN " + CHANNEL)
                    heard.append(SWITCH)  # changes may have been missed meanwhile
                if any(p.split(":", 1)[0] == SWITCH for p in heard):
                    heard.clear()
                    self._read_switch(conn)
                    backoff.reset()
                    continue  # notifications may have come during the read
                heard.clear()
                self._wait_notifies(conn, heard)
            except Exception as e:  # noqa: BLE001
                _close(conn)
                conn = None
                self._fail("listen", e)
                self._sleep(backoff.next())
        _close(conn)

    def _wait_notifies(self, conn: psycopg.Connection[Any], heard: list[str]) -> None:
        """Wait up to LISTEN_WAIT for notifications (or stop), adding their payloads to *heard*."""
        ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], LISTEN_WAIT)
        if conn.fileno() not in ready:
            return
        pg = conn.pgconn
        pg.consume_input()  # raises OperationalError when the connection is gone
        if pg.status != pq.ConnStatus.OK:
            raise psycopg.OperationalError("the listening connection was closed")
        while (n := pg.notifies()) is not None:
            heard.append(n.extra.decode("utf-8", "replace"))

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # --- the database ---------------------------------------------------

    def _connect(self, url: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=None,  # safe through PgBouncer's transaction pooling
            application_name=config.application_name(self._service + "-agent", self.group, self.machine),
            connect_timeout=self._connect_timeout,
            # A silently dropped connection (the listener sends nothing) fails within about 90 s.
            keepalives=1, keepalives_idle=60, keepalives_interval=10, keepalives_count=3,
        )

    def _worker_conn(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            _close(conn)
            conn = self._conn = self._connect(self._url)
        if self._identity is None:
            self._identity = self._read_identity(conn)
        return conn

    def _drop_worker_conn(self) -> None:
        conn, self._conn = self._conn, None
        _close(conn)

    def _execute(self, conn: psycopg.Connection[Any], sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        with self._state_lock:
            self._queries += 1
        return conn.execute(sql, params)

    def _read_identity(self, conn: psycopg.Connection[Any]) -> str:
        """``host/dbname#system id``, as the console identifies its own database.

        The host is the one configured (Neon's server address is internal);
        the system id is Neon's timeline (``neon:…``), else
        pg_control_system()'s, else left out when the role may read neither.
        """
        host = conninfo_to_dict(self._url).get("host") or conn.info.host
        row = self._execute(conn, "SELECT current_database(), current_setting('neon.timeline_id', true)").fetchone()
        db, timeline = (row[0], row[1]) if row else ("", None)
        ident = f"{host}/{db}"
        if timeline:
            return f"{ident}#neon:{timeline}"
        try:
            row = self._execute(conn, "SELECT system_identifier FROM pg_control_system()").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return ident
        return f"{ident}#{row[0]}" if row else ident

    def _read_switch(self, conn: psycopg.Connection[Any]) -> None:
        with self._read_lock:
            row = self._execute(conn, SWITCH_SQL).fetchone()
            self._apply((bool(row[0]), int(row[1])) if row else (False, None))

    def _apply(self, read: tuple[bool, int | None] | None) -> None:
        """Apply a read of the switch (``None``: the read failed; keep the state as ``cached``)."""
        with self._state_lock:
            old = self._switch
            if read is not None:
                enabled, version = read
                new = SwitchState(enabled, "database", version, old.applied_at)
                if self._env_suspend:
                    new = replace(new, suspended=True, source="env")
                if old.applied_at is None or new.suspended != old.suspended or new.version != old.version:
                    new = replace(new, applied_at=_now())
            elif not self._env_suspend:
                new = replace(old, source="cached")
            else:
                new = old
            self._switch = new
        if (new.suspended, new.source, new.version) != (old.suspended, old.source, old.version):
            log.info(
                "SUSPEND_REDIS %s (source %s, version %s)",
                _on_off(new.suspended), new.source, "none" if new.version is None else new.version,
            )
            self._beat_soon = True  # report the change now, not in up to `interval`
            self._wake.set()

    def _heartbeat(self, conn: psycopg.Connection[Any]) -> None:
        c = self._counters.read() - self._baseline
        self._tenants.add(self._counters.drain_misses())
        sw = self._switch
        checked_out, overflow, timeouts = self._pool_stats(c.pool_timeouts)
        self._execute(conn, HEARTBEAT_SQL, {
            "instance_id": self.instance_id,
            "FLY_MACHINE_ID": self.machine,
            "FLY_PROCESS_GROUP": self.group,
            "boot_id": self.boot_id,
            "started_at": self.started_at,
            "ENVIRONMENT": self.environment,
            "database_identity": self._identity or "",
            "suspend_redis": sw.suspended,
            "source": sw.source,
            "switch_version": sw.version,
            "switch_applied_at": sw.applied_at,
            "memory_hits": c.memory_hits,
            "redis_hits": c.redis_hits,
            "misses": c.misses,
            "redis_commands": c.redis_commands,
            "top_miss_tenants": Jsonb(self._tenants.top()),
            "pool_checked_out": checked_out,
            "pool_overflow": overflow,
            "pool_timeouts": timeouts,
        })
        with self._state_lock:
            self._beats += 1

    def _pool_stats(self, counted_timeouts: int) -> tuple[int | None, int | None, int | None]:
        """checked out, overflow (never negative: SQLAlchemy's starts at -pool_size), timeouts."""
        e = self._engine
        if e is None:
            return None, None, None
        pool = e if hasattr(e, "checkedout") else getattr(e, "pool", None) or getattr(getattr(e, "sync_engine", None), "pool", None)
        checked_out, overflow = _int_of(pool, "checkedout"), _int_of(pool, "overflow")
        timeouts = _int_of(pool, "timeouts")
        return checked_out, None if overflow is None else max(0, overflow), counted_timeouts if timeouts is None else timeouts

    # --- errors ---------------------------------------------------------

    def _fail(self, kind: str, err: BaseException) -> None:
        """Log *err* (without secrets) at most once per LOG_EVERY for its kind."""
        msg = f"{type(err).__name__}: {err}".strip()
        for s in self._secrets:
            msg = msg.replace(s, "[hidden]")
        self.last_error = f"{kind}: {msg}"
        if self._stopping.is_set():
            return
        now = time.monotonic()
        last = self._last_log.get(kind)
        if last is None or now - last >= LOG_EVERY:
            self._last_log[kind] = now
            log.warning("%s failed (retrying with backoff): %s", kind, msg)


def _password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return conninfo_to_dict(config.libpq_url(url)).get("password") or None
    except Exception:  # noqa: BLE001
        return None


def _int_of(obj: Any, name: str) -> int | None:
    """``obj.name()`` (or ``obj.name``) as an int, None if missing or failing."""
    v = getattr(obj, name, None)
    try:
        v = v() if callable(v) else v
        return None if v is None else int(v)
    except Exception:  # noqa: BLE001
        return None


def _close(conn: psycopg.Connection[Any] | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def _on_off(b: bool) -> str:
    return "ON" if b else "OFF"
