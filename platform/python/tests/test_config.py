"""Start-up checks and connection attribution: no database needed."""

from __future__ import annotations

import os

import pytest

import atum_ops_agent as ops
from atum_ops_agent.config import libpq_url

TLS = "postgresql://app:pw@ep-x.eu-central-1.aws.neon.tech/atum?sslmode=require"


@pytest.mark.parametrize(
    "url, why",
    [
        (None, "is not set"),
        ("", "is not set"),
        ("sqlite:///./atom_dev.db", "not a postgres://"),
        ("postgresql:///atum?sslmode=require", "not a postgres://"),  # no host: a local socket
        ("mysql://db.example.com/atum?sslmode=require", "not a postgres://"),
        ("postgresql://app:pw@db.example.com/atum", "does not require TLS"),
        ("postgresql://app:pw@db.example.com/atum?sslmode=prefer", "does not require TLS"),
        ("postgresql+psycopg://app:pw@db.example.com/atum?sslmode=disable", "does not require TLS"),
    ],
)
def test_production_refuses_unsafe_database_url(url: str | None, why: str) -> None:
    env = {"ENVIRONMENT": "production"}
    if url is not None:
        env["DATABASE_URL"] = url
    with pytest.raises(ops.StartupRefused) as e:
        ops.check_startup(env)
    assert "DATABASE_URL" in str(e.value) and why in str(e.value)
    assert "pw" not in str(e.value)


@pytest.mark.parametrize(
    "env",
    [
        {"ENVIRONMENT": "production", "DATABASE_URL": TLS},
        {"ENVIRONMENT": "production", "DATABASE_URL": TLS.replace("require", "verify-full")},
        {"ENVIRONMENT": "production", "DATABASE_URL": "postgresql+asyncpg://a:b@db.example.com/atum?ssl=verify-ca"},
        {"ENVIRONMENT": "production", "DATABASE_URL": "postgres://a@db.example.com:5432/atum?sslmode=verify-ca"},
        {"ENVIRONMENT": "staging", "DATABASE_URL": "postgresql://localhost/atum"},
        {"ENVIRONMENT": "development"},
        {},
    ],
)
def test_safe_or_not_production_starts(env: dict[str, str]) -> None:
    ops.check_startup(env)


def test_application_name() -> None:
    assert ops.application_name("atum", "api", "e784079b", 1234) == "atum:api:e784079b:1234"
    # The console splits on ':': no part may carry one, or spaces.
    assert ops.application_name("atum", "api:x", "m 1", 7) == "atum:api_x:m_1:7"
    assert len(ops.application_name("atum", "g" * 40, "m" * 40, 1)) == 63


def test_application_name_from_fly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLY_MACHINE_ID", "3d8d9e5b7e1e89")
    monkeypatch.setenv("FLY_PROCESS_GROUP", "worker")
    assert ops.application_name() == f"atum:worker:3d8d9e5b7e1e89:{os.getpid()}"
    assert ops.connect_args() == {"application_name": f"atum:worker:3d8d9e5b7e1e89:{os.getpid()}"}
    assert ops.connect_args(driver="asyncpg") == {
        "server_settings": {"application_name": f"atum:worker:3d8d9e5b7e1e89:{os.getpid()}"}
    }
    monkeypatch.delenv("FLY_PROCESS_GROUP")
    assert ops.application_name().split(":")[1] == "app"


def test_libpq_url() -> None:
    assert libpq_url("postgresql+psycopg://u:p@h/db?sslmode=require") == "postgresql://u:p@h/db?sslmode=require"
    assert libpq_url("postgresql+asyncpg://u:p@h/db?ssl=require") == "postgresql://u:p@h/db?sslmode=require"
    assert libpq_url("postgres://u@h/db") == "postgres://u@h/db"
    assert libpq_url("host=h dbname=db") == "host=h dbname=db"


def test_suspend_redis_before_start(monkeypatch: pytest.MonkeyPatch) -> None:
    ops.stop()
    monkeypatch.setenv("SUSPEND_REDIS", "true")
    assert ops.suspend_redis() is True
    monkeypatch.setenv("SUSPEND_REDIS", "false")
    assert ops.suspend_redis() is False
