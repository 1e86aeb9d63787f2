"""What a person reads on a page: its text without tags (attribute values such as
``title=`` tooltips, where technical codes may stay, are dropped)."""
from __future__ import annotations

import html as html_lib
import re


def visible_text(page: str) -> str:
    """``page``'s text content: scripts, styles and tags removed, entities decoded,
    white space collapsed."""
    page = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html_lib.unescape(page)).strip()
