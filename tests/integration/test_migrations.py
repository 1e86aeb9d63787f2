"""`flask db upgrade` on an empty database, then `flask db check`: models and
migrations agree. Runs on SQLite, and on PostgreSQL too when ``DATABASE_URL`` names one
(in a scratch database created and dropped by the test)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def upgrade_then_check(database_url: str, tmp_path) -> None:
    env = dict(os.environ, FLASK_APP="app", DATABASE_URL=database_url, PORTAL_INSTANCE=str(tmp_path))
    for args in (["db", "upgrade"], ["db", "check"]):
        result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_sqlite_upgrade_then_check_reports_no_drift(tmp_path):
    upgrade_then_check(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)


@pytest.mark.skipif("postgres" not in os.environ.get("DATABASE_URL", ""), reason="DATABASE_URL is not PostgreSQL")
def test_postgresql_upgrade_then_check_reports_no_drift(tmp_path):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
                   if os.environ["DATABASE_URL"].startswith("postgresql://") else os.environ["DATABASE_URL"])
    scratch = f"portal_check_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    try:
        upgrade_then_check(url.set(database=scratch).render_as_string(hide_password=False), tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()
