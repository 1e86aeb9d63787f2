"""The Content-Security-Policy allows script from the portal's own files only: no
template may carry an inline <script> or an inline event handler (a page the browser
tests never open would otherwise break silently)."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I)
HTMX_EVAL = re.compile(r"\shx-on[:-]|\shx-vals\s*=\s*['\"]js:|\shx-vars\s*=")


def test_no_template_has_inline_script_or_event_handlers():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (HANDLER, INLINE_SCRIPT, HTMX_EVAL):
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(TEMPLATES)}:{line}: {m.group(0)[:80]!r}")
    assert found == []
