"""Fixtures: a real Postgres with the console's schema, and a cuttable TCP proxy to it.

``ATUM_TEST_DATABASE_URL`` names a database migrated by ``atum-console migrate``
(the Go test ``internal/platformagent`` starts one and runs this suite). Without
it the database tests are skipped, unless ``ATUM_TEST_REQUIRE_DB=1``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("ATUM_TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("ATUM_TEST_REQUIRE_DB") == "1":
            pytest.fail("ATUM_TEST_DATABASE_URL is not set")
        pytest.skip("ATUM_TEST_DATABASE_URL is not set")
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection; the switch is OFF and no heartbeat exists when a test starts."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM ops.instance_heartbeats")
        set_switch(conn, False)
        yield conn
        set_switch(conn, False)


def set_switch(conn: psycopg.Connection[Any], enabled: bool, *, notify: bool = True, revert_at: str | None = None) -> int:
    """Change SUSPEND_REDIS as the console does: a new version, then NOTIFY in the same transaction."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE ops.kill_switches SET enabled = %s, revert_at = %s::timestamptz, version = version + 1, changed_at = now()"
            " WHERE name = 'SUSPEND_REDIS' RETURNING version",
            (enabled, revert_at),
        ).fetchone()
        assert row is not None
        if notify:
            conn.execute(f"NOTIFY ops_kill_switches, 'SUSPEND_REDIS:{row[0]}'")
    return int(row[0])


def heartbeat(conn: psycopg.Connection[Any], instance_id: str) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM ops.instance_heartbeats WHERE instance_id = %s", (instance_id,))
    row = cur.fetchone()
    if row is None:
        return None
    assert cur.description is not None
    return {d.name: v for d, v in zip(cur.description, row)}


def eventually(cond: Callable[[], Any], timeout: float, what: str) -> float:
    """Wait until *cond* is true; return how long it took, fail after *timeout* seconds."""
    begin = time.monotonic()
    while not cond():
        if time.monotonic() - begin > timeout:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - begin


class Proxy:
    """A TCP proxy to Postgres that can be cut (connections closed, new ones refused) and resumed."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.resume()

    def resume(self) -> None:
        ln = socket.socket()
        ln.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ln.bind(("127.0.0.1", self.port))
        ln.listen(16)
        self.port = ln.getsockname()[1]
        self._listener = ln
        threading.Thread(target=self._accept, args=(ln,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                try:
                    self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close alone does not
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._socks.clear()

    def _accept(self, ln: socket.socket) -> None:
        while True:
            try:
                client, _ = ln.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxy(database_url: str) -> Iterator[tuple[Proxy, str]]:
    """A proxy to the test database and the URL through it."""
    params = conninfo_to_dict(database_url)
    p = Proxy(params.get("host") or "127.0.0.1", int(params.get("port") or 5432))
    params.update(host="127.0.0.1", port=str(p.port))
    yield p, make_conninfo(**params)
    p.cut()
