"""The layer contracts: import-linter's contracts in pyproject.toml (areas → engine →
models/extensions; the engine imports no area), and no area uses another area's
private names (``_name``), neither imported nor as ``module._name``."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AREAS = ("records", "approvals", "notifications", "flows", "jobqueue", "importers", "workflow", "auth", "audit")


def test_import_linter_contracts_are_kept(capsys):
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 kept, 0 broken" in out


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "portal" and parts[1] in AREAS else None


def private_name_uses(path: Path, own_area: str) -> list[str]:
    """``module:line name`` for each private name of another area that ``path`` uses."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name → other area's module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            area = _area(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if area and area != own_area:
                    if alias.name.startswith("_"):
                        found.append(f"{path.name}:{node.lineno} {full}")
                    aliases[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                area = _area(alias.name)
                if area and area != own_area and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                found.append(f"{path.name}:{node.lineno} {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_area_uses_another_areas_private_names():
    problems = []
    for area in AREAS:
        for path in sorted((ROOT / "portal" / area).rglob("*.py")):
            problems += private_name_uses(path, area)
    assert problems == []


def test_private_name_check_finds_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from portal.approvals import service as approvals\nfrom portal.records.service import _partner\n"
                   "approvals._close_all(None)\n")
    assert len(private_name_uses(bad, "notifications")) == 2
    assert private_name_uses(bad, "approvals") == [f"bad.py:2 portal.records.service._partner"]
