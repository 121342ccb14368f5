"""Tests for sms_marketing.core.template (pure Python, no Odoo)."""

import dataclasses
from collections import UserDict
from pathlib import Path

import pytest

from sms_marketing.core import template
from sms_marketing.core.template import (
    Placeholder,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UnknownPlaceholderError,
    render,
)

VALUES = {"name": "Ada", "code": "X1", "city": "北京", "empty": "", "none": None}


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # plain text and literal single braces
        ("Hello", {}, "Hello"),
        ("", {}, ""),
        ("a { b } c", {}, "a { b } c"),
        ("{name}", {}, "{name}"),
        ("set {x} and }", {}, "set {x} and }"),
        ("{ {{name}} }", VALUES, "{ Ada }"),
        ("{{name}}}", VALUES, "Ada}"),
        # whitespace variations
        ("Hi {{name}}!", VALUES, "Hi Ada!"),
        ("Hi {{ name }}!", VALUES, "Hi Ada!"),
        ("Hi {{   name\t}}!", VALUES, "Hi Ada!"),
        ("Hi {{\nname\n}}!", VALUES, "Hi Ada!"),
        ("Hi {{\u3000name\u3000}}!", VALUES, "Hi Ada!"),
        ("{{name}}{{code}}", VALUES, "AdaX1"),
        ("{{ name }} in {{ city }}", VALUES, "Ada in 北京"),
        # case-insensitive names, lowercase keys
        ("{{ Name }} {{ NAME }}", VALUES, "Ada Ada"),
        ("{{ _private1 }}", {"_private1": 7}, "7"),
        # defaults
        ('{{ empty | default("n/a") }}', VALUES, "n/a"),
        ("{{ empty | default('n/a') }}", VALUES, "n/a"),
        ('{{empty|default("x")}}', VALUES, "x"),
        ('{{ empty |default ( "x" ) }}', VALUES, "x"),
        ('{{ empty | DEFAULT("x") }}', VALUES, "x"),
        ('{{ none | default("friend") }}', VALUES, "friend"),
        ('{{ name | default("friend") }}', VALUES, "Ada"),
        ('{{ empty | default("a, b, c") }}', VALUES, "a, b, c"),
        ('{{ empty | default("亲爱的用户，您好") }}', VALUES, "亲爱的用户，您好"),
        ('{{ empty | default("it\'s") }}', VALUES, "it's"),
        ("{{ empty | default('say \"hi\"') }}", VALUES, 'say "hi"'),
        ('{{ empty | default("say \\"hi\\"") }}', VALUES, 'say "hi"'),
        ("{{ empty | default('it\\'s') }}", VALUES, "it's"),
        ('{{ empty | default("back\\\\slash") }}', VALUES, "back\\slash"),
        ('{{ empty | default("C:\\temp") }}', VALUES, "C:\\temp"),
        ('{{ empty | default("}} and {{ x }}") }}', VALUES, "}} and {{ x }}"),
        ('{{ empty | default("a|b(c)") }}', VALUES, "a|b(c)"),
        ('{{ empty | default("") }}', VALUES, ""),
        # falsy values
        ("[{{ x }}]", {"x": None}, "[]"),
        ("[{{ x }}]", {"x": False}, "[]"),
        ("[{{ x }}]", {"x": ""}, "[]"),
        ("[{{ x }}]", {"x": 0}, "[0]"),
        ("[{{ x }}]", {"x": 0.0}, "[0.0]"),
        ("[{{ x }}]", {"x": True}, "[True]"),
        ('[{{ x | default("d") }}]', {"x": False}, "[d]"),
        ('[{{ x | default("d") }}]', {"x": 0}, "[0]"),
        ('[{{ x | default("d") }}]', {"x": []}, "[[]]"),
        # values are inserted literally, never re-parsed or escaped
        ("{{ x }}", {"x": "{{ name }}"}, "{{ name }}"),
        ("{{ x }}", {"x": "}}{{"}, "}}{{"),
        ("{{ x }}", {"x": "<b>&amp;</b>"}, "<b>&amp;</b>"),
        ("{{ x }}", {"x": "{0} %s {name}"}, "{0} %s {name}"),
        ('{{ e | default("{x}") }}', {"e": None}, "{x}"),
    ],
)
def test_render(source, values, expected):
    assert Template(source).render(values) == expected
    assert render(source, values) == expected


class _Strange:
    def __str__(self):
        return ""


def test_object_with_empty_str_uses_default():
    assert render('{{ x | default("d") }}', {"x": _Strange()}) == "d"


def test_extra_values_are_ignored():
    assert render("{{ name }}", {"name": "A", "other": "B"}) == "A"


def test_works_with_any_mapping():
    assert render("{{ name }}", UserDict(name="A")) == "A"


@pytest.mark.parametrize(
    ("source", "reason", "position"),
    [
        ("{{}}", "empty", 0),
        ("Hi {{ }}", "empty", 3),
        ("Hi {{ a.b }}", "invalid_name", 3),
        ("{{ a[0] }}", "invalid_name", 0),
        ("{{ a() }}", "invalid_name", 0),
        ("{{ a + b }}", "invalid_name", 0),
        ("{{ 1a }}", "invalid_name", 0),
        ("{{ a b }}", "invalid_name", 0),
        ("{{ __class__ }}", "invalid_name", 0),
        ("{{__class__}}", "invalid_name", 0),
        ("{{ __x }}", "invalid_name", 0),
        ("{{ café }}", "invalid_name", 0),
        ("{{ \u212aelvin }}", "invalid_name", 0),  # Kelvin sign folds to "k"
        ("{{{ name }}}", "invalid_name", 0),
        ("{{ a | upper }}", "unknown_filter", 0),
        ("{{ a | }}", "unknown_filter", 0),
        ("{{ a | defaults('x') }}", "unknown_filter", 0),
        ('{{ a | default("x") | upper }}', "unknown_filter", 0),
        ("{{ a | default(x) }}", "invalid_default", 0),
        ("{{ a | default() }}", "invalid_default", 0),
        ("{{ a | default }}", "invalid_default", 0),
        ('{{ a | default("x", "y") }}', "invalid_default", 0),
        ('{{ a | default("x" }}', "invalid_default", 0),
        ('{{ a | default("x|y" }}', "invalid_default", 0),
        ("{{ a | default('x\") }}", "invalid_default", 0),
        ("Hello {{ a", "unclosed", 6),
        ("{{", "unclosed", 0),
        ("{{ a } and {{ b }}", "unclosed", 0),
        ("ok {{ a }} then {{ b", "unclosed", 16),
        ("Hello }}", "stray_close", 6),
        ("{name}}", "stray_close", 5),
        ("{{ a }} }}", "stray_close", 8),
    ],
)
def test_syntax_errors(source, reason, position):
    with pytest.raises(TemplateSyntaxError) as info:
        Template(source)
    error = info.value
    assert error.code == "syntax"
    assert error.reason == reason
    assert error.position == position
    assert error.detail  # an excerpt to show next to the message
    assert isinstance(error, TemplateError)
    assert isinstance(error, ValueError)


def test_syntax_error_detail_is_the_placeholder_text():
    with pytest.raises(TemplateSyntaxError) as info:
        Template("Dear {{ a.b }}, hi")
    assert info.value.detail == "{{ a.b }}"
    assert info.value.position == 5


def test_first_syntax_error_is_reported():
    with pytest.raises(TemplateSyntaxError) as info:
        Template("{{ ok }} {{ a.b }} {{ c[0] }}")
    assert info.value.position == 9


def test_placeholders_and_fields():
    source = 'Hi {{ Name }}, {{ code | default("none") }} {{name}}'
    tpl = Template(source)
    assert tpl.placeholders == (
        Placeholder("name", None, 3, 13),
        Placeholder("code", "none", 15, 43),
        Placeholder("name", None, 44, 52),
    )
    for placeholder in tpl.placeholders:
        assert source[placeholder.start : placeholder.end].startswith("{{")
        assert source[placeholder.start : placeholder.end].endswith("}}")
    assert tpl.fields == frozenset({"name", "code"})
    assert Template("no placeholders").fields == frozenset()


def test_placeholder_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Placeholder("a", None, 0, 1).name = "b"


@pytest.mark.parametrize(
    ("source", "allowed", "unknown", "position"),
    [
        ("{{ a }} {{ b }}", {"a", "b"}, None, None),
        ("{{ a }} {{ b }}", ["a", "b", "c"], None, None),
        ("{{ a }} {{ b }}", {"a"}, ("b",), 8),
        ("{{ x }} {{ a }} {{ y }} {{ x }}", ("a",), ("x", "y"), 0),
        ("{{ x }} {{ y }}", (), ("x", "y"), 0),
        ("{{ x }} {{ y }}", {"x": 1}.keys(), ("y",), 8),
        ("plain", (), None, None),
    ],
)
def test_check(source, allowed, unknown, position):
    tpl = Template(source)
    if unknown is None:
        assert tpl.check(allowed) is None
        return
    with pytest.raises(UnknownPlaceholderError) as info:
        tpl.check(allowed)
    assert info.value.code == "unknown"
    assert info.value.names == unknown
    assert info.value.position == position
    assert info.value.detail == ", ".join(unknown)


def test_render_missing_values_reports_all_names():
    tpl = Template("{{ a }} {{ b }} {{ c }} {{ b }}")
    with pytest.raises(UnknownPlaceholderError) as info:
        tpl.render({"a": 1})
    assert info.value.names == ("b", "c")
    assert info.value.position == 8


def test_render_missing_value_even_with_default():
    # A default covers empty values, not a field the caller never provided.
    with pytest.raises(UnknownPlaceholderError) as info:
        render('{{ a | default("x") }}', {})
    assert info.value.names == ("a",)


def test_key_error_inside_mapping_is_not_masked():
    class Broken(dict):
        def __getitem__(self, key):
            raise KeyError("internal")

    with pytest.raises(KeyError, match="internal"):
        Template("{{ a }}").render(Broken(a=1))


def test_uppercase_keys_are_not_looked_up():
    with pytest.raises(UnknownPlaceholderError):
        render("{{ Name }}", {"Name": "A"})


def test_source_must_be_str():
    with pytest.raises(TypeError):
        Template(None)


def test_template_is_reusable_and_has_repr():
    tpl = Template("{{ n }}")
    assert [tpl.render({"n": i}) for i in range(3)] == ["0", "1", "2"]
    assert repr(tpl) == "Template('{{ n }}')"
    assert tpl.source == "{{ n }}"


def test_module_never_evaluates():
    source = Path(template.__file__).read_text(encoding="utf-8")
    for forbidden in ("eval(", "exec(", ".format(", "format_map(", "import odoo"):
        assert forbidden not in source
