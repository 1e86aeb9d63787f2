"""Sandboxed rendering of user-editable templates (notification templates, flow
options such as a webhook body or a field value): Jinja2 ``SandboxedEnvironment``
with autoescape; a template can read the values it is given but can't reach code,
config or secrets. Compiled templates are cached by source."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

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
    try:
        return _compiled(source, html).render(**context)
    except TemplateError as exc:
        raise TemplateRenderError(f"Template error: {exc}") from exc


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    """The compiled template for ``source`` (cached: a flow's templates compile once per
    worker). Raises jinja2's ``TemplateSyntaxError``."""
    return (_html_env if html else _text_env).from_string(source)


def record_context(session, record_type: str | None, record: Any, needs: str | None = None) -> dict:
    """Plain values for templates: ``{"record": {field: value, ..., "title": ...}}``
    plus what the record type's context provider adds (e.g. a customer's
    ``open_orders``; see :data:`portal.workflow.catalog.CONTEXT_PROVIDERS`) — only
    when ``needs`` (the template source about to be rendered) names one of the
    provider's values, or when ``needs`` is None. A missing record gives
    ``{"record": {"title": ""}}``."""
    from portal.workflow.catalog import CONTEXT_PROVIDERS, RECORD_TYPES

    if record is None or record_type not in RECORD_TYPES:
        return {"record": {"title": ""}}
    rt = RECORD_TYPES[record_type]
    values = dict(rt.values(record))
    values["title"] = rt.title(record)
    ctx: dict = {"record": values}
    provider = CONTEXT_PROVIDERS.get(record_type)
    if provider is not None and (needs is None or any(name in needs for name in provider.names)):
        ctx.update(provider(session, record))
    return ctx
