"""Notification templates render in a sandbox with autoescaping."""
import pytest

from portal.notifications.rendering import TemplateRenderError, render


def test_values_are_escaped_in_bodies_but_not_subjects():
    ctx = {"record": {"name": "Bon <app'>"}}
    assert render("<p>{{ record.name }}</p>", ctx) == "<p>Bon &lt;app&#39;&gt;</p>"
    assert render("Statement — {{ record.name }}", ctx, html=False) == "Statement — Bon <app'>"


def test_templates_cannot_reach_code():
    with pytest.raises(TemplateRenderError):
        render("{{ record.__class__.__mro__[1].__subclasses__() }}", {"record": {}})
    with pytest.raises(TemplateRenderError):
        render("{{ ''.__class__ }}", {})


def test_unknown_placeholders_are_reported():
    with pytest.raises(TemplateRenderError, match="not a placeholder"):
        render("{{ nothing.here }}", {})
