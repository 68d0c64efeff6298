"""Templates: the grammar (variables and fallbacks, nothing else), escaping in the HTML part
only, missing values refused and counted, never rendered blank."""

from __future__ import annotations

import pytest

from gateway.compose.templates import (
    Variable,
    check_contacts,
    compile_template,
    count_missing,
    parse,
)
from gateway.core.exceptions import InvalidInputError, MissingVariables

HTML = '<h1>Hi {{name | default("there")}}</h1><p>From <b>{{ company }}</b></p>'


@pytest.mark.parametrize(
    ("source", "pieces"),
    [
        ("{{name}}", (Variable("name", None),)),
        ("Hi {{ first_name }}!", ("Hi ", Variable("first_name", None), "!")),
        ('{{name|default("there")}}', (Variable("name", "there"),)),
        ("{{ name | default( 'you, dear' ) }}", (Variable("name", "you, dear"),)),
        ('{{name | default("")}}', (Variable("name", ""),)),
        ("{{company-name}}", (Variable("company-name", None),)),
        ("no variables { at all }", ("no variables { at all }",)),
    ],
)
def test_the_grammar_reads_variables_and_fallbacks(source: str, pieces: tuple[object, ...]) -> None:
    assert parse(source, "text").pieces == pieces


@pytest.mark.parametrize(
    "source",
    [
        "{{ user.name }}",
        "{{ name.__class__ }}",
        "{{ name['x'] }}",
        "{{ range(10) }}",
        "{{ name | upper }}",
        "{{ name | default(other) }}",
        '{{ name | default("x") | default("y") }}',
        "{{ 7 * 7 }}",
        "{{ }}",
        "{{ lipsum.__globals__ }}",
        "{{ name }} and {{ unclosed",
    ],
)
def test_anything_but_a_variable_is_refused_with_its_line(source: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse("first line\n" + source, "text")
    assert "text, line 2" in str(refused.value)
    assert refused.value.field == "text"


def test_jinja_statements_are_plain_text_not_code() -> None:
    text = "{% for x in range(3) %}{# no #}"
    assert compile_template("s", "<p>x</p>", text).render({}).text == text


def test_values_are_escaped_in_the_html_only() -> None:
    template = compile_template("Hello {{name}}", HTML + '<a href="https://x.test/?n={{name}}">')
    rendered = template.render({"name": '<Bo> & "Al"\r\nBcc: x@evil.test', "company": "A&B"})
    assert rendered.subject == 'Hello <Bo> & "Al" Bcc: x@evil.test'
    assert "<h1>Hi &lt;Bo&gt; &amp; &quot;Al&quot;" in rendered.html
    assert "<b>A&amp;B</b>" in rendered.html
    assert 'href="https://x.test/?n=&lt;Bo&gt; &amp; &quot;Al&quot;' in rendered.html
    assert rendered.text.startswith('Hi <Bo> & "Al"')
    assert "From A&B" in rendered.text


def test_a_fallback_is_escaped_too_and_read_through_entities_in_html() -> None:
    html = '<p title="{{name | default(&quot;a<b&quot;)}}">{{name | default("x&y")}}</p>'
    rendered = compile_template("s", html).render({"name": "  "})
    assert rendered.html == '<p title="a&lt;b">x&amp;y</p>'


def test_a_missing_variable_without_fallback_is_an_error_naming_it() -> None:
    template = compile_template("Hi {{name}}", HTML)
    assert template.required == ("name", "company")
    assert template.variables == ("name", "company")
    with pytest.raises(MissingVariables) as refused:
        template.render({"name": "Bo", "company": " "})
    assert refused.value.missing == {"company": 1}
    assert "company" in str(refused.value)
    assert refused.value.field == "variables"


def test_the_text_part_is_made_from_the_html_unless_written() -> None:
    made = compile_template("s", HTML).render({"company": "Acme"})
    assert made.text == "Hi there\n\nFrom Acme\n"
    written = compile_template("s", HTML, "Dear {{name}}").render({"name": "Al", "company": "A"})
    assert written.text == "Dear Al"


def test_missing_values_are_counted_per_variable_over_a_stream_of_contacts() -> None:
    template = compile_template("{{name}}", HTML)
    contacts = iter(
        [{"name": "a", "company": "x"}, {"company": "y"}, {"name": ""}, {"email": "e@x.test"}]
    )
    assert count_missing(template, contacts) == ({"name": 3, "company": 2}, 4)
    with pytest.raises(MissingVariables) as refused:
        check_contacts(template, iter([{"name": "a"}, {"name": "b", "company": "c"}]))
    assert refused.value.missing == {"company": 1}
    assert "company (1 of 2 contacts)" in str(refused.value)
    assert check_contacts(template, iter([{"name": "a", "company": "c"}])) == 1


@pytest.mark.parametrize(
    ("subject", "html", "field"), [("", "<p>x</p>", "subject"), ("s", " ", "html")]
)
def test_a_template_needs_a_subject_and_html(subject: str, html: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        compile_template(subject, html)
    assert refused.value.field == field
