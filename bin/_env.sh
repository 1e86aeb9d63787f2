# Shared by bin/up and bin/test: create .venv and install the project (idempotent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
STAMP=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$1
if [ ! -f "$STAMP" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ "$1" = test ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$STAMP"
fi
export FLASK_APP=app
