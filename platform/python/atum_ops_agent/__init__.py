"""The ATUM platform's side of the ops console's contracts.

README "Contracts with the platform" (2, 4 and 5) in one small package::

    import atum_ops_agent as ops

    ops.check_startup()                      # production: a TLS postgres DATABASE_URL or no start
    engine = create_engine(url, connect_args=ops.connect_args())   # application_name
    ops.start(url, engine=engine)            # in the lifespan: switch read, heartbeats every 15 s
    if not ops.suspend_redis(): ...          # before every Redis use: from memory, never blocks
    ops.memory_hit(); ops.redis_hit(); ops.miss(slug); ops.redis_command()
    ops.stop()                               # at shutdown: a last heartbeat

Only psycopg is needed; SQLAlchemy is used if given, never imported; nothing
talks to Redis. No function here raises into the app, except
:func:`check_startup`, whose job it is.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .agent import Agent, SwitchState
from .config import StartupRefused, application_name, check_startup, connect_args, env_flag
from .counters import Counters, memory_hit, miss, pool_timeout, redis_command, redis_hit

__all__ = [
    "Agent",
    "Counters",
    "StartupRefused",
    "SwitchState",
    "agent",
    "application_name",
    "check_startup",
    "connect_args",
    "memory_hit",
    "miss",
    "pool_timeout",
    "redis_command",
    "redis_hit",
    "start",
    "stop",
    "suspend_redis",
]

_agent: Agent | None = None
_lock = threading.Lock()


def start(
    database_url: str,
    *,
    service: str = "atum",
    engine: Any = None,
    environment: str | None = None,
    interval: float = 15.0,
    **options: Any,
) -> Agent:
    """Start the process's agent (a running one is stopped first: a new boot).

    ``database_url`` is the database with schema ``ops``; ``engine`` the app's
    SQLAlchemy engine, for pool figures; ``environment`` defaults to
    ``ENVIRONMENT``. ``options`` go to :class:`Agent` (``poll_interval``,
    ``listen``, ``listen_url``, ``instance_id``, ``environ`` …). Returns once
    SUSPEND_REDIS was read, or could not be within the connect timeout;
    never raises for an unreachable database.
    """
    global _agent
    with _lock:
        if _agent is not None:
            _agent.stop()
        _agent = Agent(database_url, service=service, engine=engine, environment=environment, interval=interval, **options)
        return _agent.start()


def stop(timeout: float = 5.0) -> None:
    """Stop the process's agent after a last heartbeat; a no-op when none runs."""
    global _agent
    with _lock:
        a, _agent = _agent, None
    if a is not None:
        a.stop(timeout)


def agent() -> Agent | None:
    """The running agent, if any."""
    return _agent


def suspend_redis() -> bool:
    """Whether to send Redis nothing now. From memory: call it before every Redis use.

    Before :func:`start` it is ``SUSPEND_REDIS`` from the environment.
    """
    a = _agent
    if a is None:
        return env_flag(os.environ.get("SUSPEND_REDIS"))
    return a.suspend_redis()
