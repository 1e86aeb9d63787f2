"""Migration d3_flow_inputs on a database that has instant flows with the old single
"Message" input: after `flask db upgrade` each is one long text input with a caption
(typed shape), and a downgrade gives the old shape back. SQLite scratch database."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def flask(tmp_path, db_file, *args) -> None:
    env = dict(os.environ, FLASK_APP="app", DATABASE_URL=f"sqlite:///{db_file}", PORTAL_INSTANCE=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_old_message_inputs_become_one_typed_text_input(tmp_path):
    db_file = tmp_path / "m.db"
    flask(tmp_path, db_file, "db", "upgrade", "c8_no_series")
    old = [{"name": "message", "label": "Message", "type": "textarea", "required": False, "help": "A note."}]
    with sqlite3.connect(db_file) as conn:
        conn.execute("INSERT INTO workflow (code, description, trigger_kind, enabled, template, input_fields, created_at, modified_at)"
                     " VALUES ('OLD-FLOW', 'Old flow', 'instant', 1, 0, ?, '2026-01-01', '2026-01-01')", (json.dumps(old),))
    flask(tmp_path, db_file, "db", "upgrade")
    with sqlite3.connect(db_file) as conn:
        [fields] = conn.execute("SELECT input_fields FROM workflow WHERE code = 'OLD-FLOW'").fetchone()
        assert conn.execute("SELECT count(*) FROM flow_setup").fetchone() == (0,)
    assert json.loads(fields) == [{"name": "message", "caption": "Message", "type": "long_text", "required": False,
                                   "default": "", "help": "A note.", "choices": [], "record_type": ""}]
    flask(tmp_path, db_file, "db", "downgrade", "c8_no_series")
    with sqlite3.connect(db_file) as conn:
        [fields] = conn.execute("SELECT input_fields FROM workflow WHERE code = 'OLD-FLOW'").fetchone()
    assert json.loads(fields) == old
