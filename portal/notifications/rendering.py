"""Sandboxed rendering of notification templates: the engine's renderer
(:mod:`portal.workflow.rendering`), which flows and notifications share."""
from portal.workflow.rendering import TemplateRenderError, record_context, render  # noqa: F401
