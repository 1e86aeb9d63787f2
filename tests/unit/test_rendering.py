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


# ---------------------------------------------------------------- limits (send time) and save-time checks

import time  # noqa: E402

from portal.workflow.rendering import MAX_OUTPUT_CHARS, TemplateLimitError, check_template  # noqa: E402

SPEC = {"record": {"name": None, "title": None, "lines": None}, "entry": {"amount", "sender"}, "message": None}
SAMPLE = {"record": {"name": "Bon app", "title": "C1", "lines": [{"qty": 1}]}, "entry": {"amount": 5, "sender": "X"}, "message": "hi"}


@pytest.mark.parametrize("source, words", [
    ("{{ record.__class__ }}", "names starting with _"),
    ("{{ entry.password }}", "outside the offered data"),
    ("{{ config }}", "not a placeholder"),
    ("{{ record.name.upper() }}", "can't call methods"),
    ("{% for i in range(10**9) %}x{% endfor %}", "without a fixed bound"),
    ("{% for i in range(5000) %}x{% endfor %}", "at most 1,000"),
    ("{% for x in record.lines recursive %}{{ loop(x.children) }}{% endfor %}", "recursive loop"),
    ("{{ 'x' * 10**8 }}", "longer than 100,000 characters"),
    ("{{ record.name|center(10**8) }}", "filter “center”"),
    ("{% include 'other.html' %}", "can't load other templates"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "longer than 2 seconds"),
])
def test_save_time_checks_refuse_with_a_clear_message(source, words):
    problems = check_template(source, SPEC, SAMPLE)
    assert problems and any(words in p for p in problems), problems


def test_a_good_template_passes_the_save_time_checks():
    ok = "{{ record.name|upper }} {% for l in record.lines %}{{ l.qty }}{% endfor %} {{ entry.amount|money }} {{ message }}"
    assert check_template(ok, SPEC, SAMPLE) == []


def test_send_time_limits_stop_a_render():
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match="longer than"):
        render("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
               {}, time_limit=0.5)
    assert time.monotonic() - started < 2
    with pytest.raises(TemplateLimitError, match="output is longer"):
        render("{% for a in range(1000) %}{% for b in range(1000) %}{{ 'x' * 99 }}{% endfor %}{% endfor %}", {})
    with pytest.raises(TemplateLimitError, match="100,000"):
        render("{{ 'x' * 10**8 }}", {})
    with pytest.raises(TemplateRenderError, match="can't call methods"):
        render("{{ 'abc'.upper() }}", {})
    assert len(render("{{ 'x' * 1000 }}", {})) == 1000 < MAX_OUTPUT_CHARS


# ---------------------------------------------------------------- never an unexpected exception

from hypothesis import given, settings, strategies as st  # noqa: E402

PIECES = st.sampled_from([
    "{{ ", " }}", "{% ", " %}", "for x in ", "range(", ")", "record", ".name", ".__class__", "|upper", "|center(",
    " * ", "10**8", "'x'", "endfor", "if ", "endif", "macro f()", "endmacro", "f()", "(", "[", "]", "<p>", "{#", "#}",
    "entry.amount", "|money", " ~ ", "loop.index", "set y = ", "namespace()", "lipsum()", "include 'a'", "\n", "é€",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_any_template_text_gets_a_list_of_sentences_never_an_exception(source):
    problems = check_template(source, SPEC, SAMPLE)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if not problems:
        try:
            render(source, SAMPLE)
        except TemplateRenderError:
            pass  # a value the sample has but the render lacks is reported, never raised as something else
