"""The Content-Security-Policy allows styles from the portal's stylesheet only
(``style-src 'self'``): no template may carry a ``style=`` attribute or a ``<style>``
element (a page the browser tests never open would otherwise lose its styling
silently). E-mail bodies with inline CSS are served as documents of their own."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.I)


def inline_styles(text: str) -> list[tuple[int, str]]:
    """(line, excerpt) of every style attribute and <style> element in ``text``
    (Jinja comments ignored)."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return [(text.count("\n", 0, m.start()) + 1, m.group(0)[:80])
            for pattern in (STYLE_ATTRIBUTE, STYLE_ELEMENT) for m in pattern.finditer(text)]


def test_the_check_finds_inline_styles():
    assert inline_styles('<td class="x"\n  style="padding:0">') == [(1, '<td class="x"\n  style=')]
    assert [line for line, _ in inline_styles("<p>\n<style>p{}</style>")] == [2]
    assert inline_styles('{# no <style> here #}<p class="styled" data-style="x">') == []


def test_no_template_has_a_style_attribute_or_element():
    found = [f"{path.relative_to(TEMPLATES)}:{line}: {excerpt!r}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for line, excerpt in inline_styles(path.read_text(encoding="utf-8"))]
    assert found == []
