"""`flask db upgrade` on an empty database, then `flask db check`: models and
migrations agree."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_upgrade_then_check_reports_no_drift(tmp_path):
    env = dict(os.environ, FLASK_APP="app", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}", PORTAL_INSTANCE=str(tmp_path))
    for args in (["db", "upgrade"], ["db", "check"]):
        result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr
