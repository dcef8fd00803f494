"""Start-up checks and connection attribution (README, "Contracts with the platform", 2).

Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: sslmode values that make libpq refuse a connection without TLS.
TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})

#: Fly's process group when a machine runs a single one.
DEFAULT_GROUP = "app"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class StartupRefused(RuntimeError):
    """The configuration is unsafe to start with; the message names the variable."""


def check_startup(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to start in production without a TLS Postgres ``DATABASE_URL``.

    With ``ENVIRONMENT=production``, raises :class:`StartupRefused` when
    ``DATABASE_URL`` is missing, is not a ``postgres://``/``postgresql://``
    URL with a host (``postgresql+psycopg://`` and other SQLAlchemy driver
    forms count), or does not require TLS (``sslmode=require``, ``verify-ca``
    or ``verify-full``; asyncpg's ``ssl=`` with the same values counts). This
    is the guard against the April 2026 silent fallback to a local SQLite
    file. Other environments are not checked. The URL is never in the message.
    """
    env = os.environ if environ is None else environ
    if env.get("ENVIRONMENT", "").strip() != "production":
        return
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        raise StartupRefused("DATABASE_URL is not set (ENVIRONMENT=production): refusing to start")
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.split("+", 1)[0] not in ("postgres", "postgresql") or not host:
        raise StartupRefused(
            "DATABASE_URL is not a postgres:// URL with a host (ENVIRONMENT=production): refusing to start"
        )
    query = dict(parse_qsl(parts.query))
    if query.get("sslmode", query.get("ssl", "")) not in TLS_MODES:
        raise StartupRefused(
            "DATABASE_URL does not require TLS (sslmode=require, verify-ca or verify-full; "
            "ENVIRONMENT=production): refusing to start"
        )


def libpq_url(url: str) -> str:
    """Return *url* as libpq understands it.

    A SQLAlchemy URL (``postgresql+psycopg://``, ``postgresql+asyncpg://``)
    loses its driver, and asyncpg's ``ssl=MODE`` becomes ``sslmode=MODE``.
    Anything else (a key=value DSN included) is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "+" not in parts.scheme and "ssl=" not in parts.query:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "sslmode" for k, _ in query):
        query = [("sslmode" if k == "ssl" else k, v) for k, v in query]
    else:
        query = [(k, v) for k, v in query if k != "ssl"]
    scheme = parts.scheme.split("+", 1)[0]
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _part(value: str) -> str:
    """One part of an application_name: no ``:``, spaces or non-ASCII."""
    return _UNSAFE.sub("_", value) or "_"


def machine_id(environ: Mapping[str, str] | None = None) -> str:
    """``FLY_MACHINE_ID``, or the host name off Fly."""
    env = os.environ if environ is None else environ
    return env.get("FLY_MACHINE_ID", "").strip() or socket.gethostname()


def process_group(environ: Mapping[str, str] | None = None) -> str:
    """``FLY_PROCESS_GROUP``, or Fly's default group ``app``."""
    env = os.environ if environ is None else environ
    return env.get("FLY_PROCESS_GROUP", "").strip() or DEFAULT_GROUP


def application_name(
    service: str = "atum",
    group: str | None = None,
    machine: str | None = None,
    pid: int | None = None,
) -> str:
    """``service:group:machine:pid``, as every platform connection must say.

    Missing parts come from ``FLY_PROCESS_GROUP``, ``FLY_MACHINE_ID`` and
    :func:`os.getpid`; characters other than letters, digits, ``.``, ``_``
    and ``-`` become ``_`` so the console can split the name. Postgres keeps
    the first 63 bytes.
    """
    parts = (
        service,
        process_group() if group is None else group,
        machine_id() if machine is None else machine,
        str(os.getpid() if pid is None else pid),
    )
    return ":".join(_part(p) for p in parts)[:63]


def connect_args(service: str = "atum", *, driver: str = "psycopg") -> dict[str, Any]:
    """SQLAlchemy ``connect_args`` that set this process's application_name.

    ``driver`` is ``"psycopg"`` (also psycopg2) or ``"asyncpg"``, which
    takes it as a server setting. Call it in the process that opens the
    connections (after a fork), since the pid is part of the name.
    """
    name = application_name(service)
    if driver == "asyncpg":
        return {"server_settings": {"application_name": name}}
    return {"application_name": name}


def env_flag(value: str | None) -> bool:
    """Whether an environment value means true (``1``, ``true``, ``yes``, ``on``)."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
