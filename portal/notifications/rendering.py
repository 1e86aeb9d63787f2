"""Sandboxed rendering of user-editable notification templates (Jinja2
``SandboxedEnvironment`` with autoescape): a template can read the values it is
given but can't reach code, config or secrets."""
from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
for _env in (_html_env, _text_env):
    _env.filters["money"] = lambda v: f"{float(v or 0):,.2f}"


class TemplateRenderError(ValueError):
    """The template has a syntax error or uses an unknown placeholder."""


def render(source: str, context: dict, html: bool = True) -> str:
    """Render ``source`` with ``context`` (plain dicts, lists and scalars); ``html``
    escapes values (bodies), ``html=False`` doesn't (subjects). Returns the text;
    raises :class:`TemplateRenderError` with the reason."""
    env = _html_env if html else _text_env
    try:
        return env.from_string(source).render(**context)
    except TemplateError as exc:
        raise TemplateRenderError(f"Template error: {exc}") from exc
