"""check_template: variables found, placeholder failures tolerated, template faults refused."""

from __future__ import annotations

import pytest

from governance.domain.errors import InvalidInput, InvalidTemplate
from governance.llm.templates import check_template, render


@pytest.mark.parametrize(
    ("template", "used"),
    [
        # Each fails when rendered with the placeholder "x", but is fine with real values.
        ("Hi {{ user.name }}", {"user"}),
        ("{{ n + 1 }} left", {"n"}),
        ("{{ total / count }}", {"total", "count"}),
        ("{{ 10 / (n | int) }}", {"n"}),
        ("{% for u in users %}{{ u.email }}{% endfor %}", {"users"}),
        ("{{ range(n) | list }}", {"n"}),
        ("{{ items | dictsort }}", {"items"}),
        ("{{ text | wordwrap(width | int) }}", {"text", "width"}),
    ],
)
def test_a_template_that_fails_only_on_placeholder_values_is_accepted(template, used) -> None:
    assert check_template(template) == used


@pytest.mark.parametrize(
    ("template", "words"),
    [
        (
            "Hello {{ name | shout }}",
            "template does not compile: line 1: No filter named 'shout'",
        ),
        (
            "{% if name is shouty %}!{% endif %}",
            "template uses unknown test(s) shouty",
        ),
        (
            "{% include 'header.txt' %}{{ name }}",
            "template includes, imports or extends another template (include)",
        ),
        (
            "{% extends name %}",
            "template includes, imports or extends another template (extends)",
        ),
        (
            "{% import 'macros' as m %}{{ m.hello(name) }}",
            "template includes, imports or extends another template (import)",
        ),
        (
            "{% from 'macros' import hello %}{{ hello(name) }}",
            "template includes, imports or extends another template (import)",
        ),
    ],
)
def test_a_template_that_can_never_render_is_refused(template, words) -> None:
    with pytest.raises(InvalidTemplate) as caught:
        check_template(template)
    assert str(caught.value).startswith(words)


def test_a_sandbox_escape_found_only_at_render_time_is_still_refused() -> None:
    # The attribute name is built at render time, so only the trial render sees it.
    with pytest.raises(InvalidTemplate) as caught:
        check_template("{{ name | attr('_' ~ '_class__') }}")
    assert str(caught.value).startswith("template escapes the sandbox:")


def test_a_value_unsuited_to_a_filter_is_invalid_input_at_render_time() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("{{ items | dictsort }}", {"items": "abc"})
    assert str(caught.value) == (
        "cannot render: AttributeError: 'str' object has no attribute 'items'"
    )
