"""Reading a record page's action bar (templates/records/_action_bar.html) in tests:
which actions it shows, enabled or disabled, and the reason a disabled one gives."""
from __future__ import annotations

import html as _html
import re
from typing import NamedTuple


class Shown(NamedTuple):
    """One action of the bar: ``enabled``, and the ``reason`` of a disabled one (its
    title, unescaped)."""

    enabled: bool
    reason: str | None


_ELEMENT = re.compile(r'<(button|a|span)\b([^>]*\bdata-action="([a-z_]+)"[^>]*)>', re.S)


def action_bar(page: str) -> str:
    """The action bar's HTML in ``page`` (empty when the page has none)."""
    m = re.search(r'<div id="action-bar".*?\n</div>', page, re.S)
    return m.group(0) if m else ""


def actions_shown(page: str) -> dict[str, Shown]:
    """``{action key: Shown}`` for each action of the page's bar (Automate excluded)."""
    out: dict[str, Shown] = {}
    for _tag, attrs, key in _ELEMENT.findall(action_bar(page)):
        disabled = re.search(r'\bdisabled\b(?!")', attrs) is not None or 'aria-disabled="true"' in attrs
        title = re.search(r'title="([^"]*)"', attrs)
        out[key] = Shown(not disabled, _html.unescape(title.group(1)) if (disabled and title) else None)
    return out
