"""Composition of campaign messages: links, signature, footer, first names."""

import pytest

from sms_marketing.core import compose, encoding
from sms_marketing.core.template import TemplateError

SHORT = {"https://shop.example/sale": "https://s.example/r/Ab3"}
FOOTERS = {"en_US": "Reply STOP to opt out", "zh_CN": "回复TD退订"}


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("See https://shop.example/sale now", ["https://shop.example/sale"]),
        ("See https://shop.example/sale.", ["https://shop.example/sale"]),
        ("(https://a.example/x?y=1&z=2)", ["https://a.example/x?y=1&z=2"]),
        ("优惠：https://shop.example/sale，快来", ["https://shop.example/sale"]),
        ("HTTP://A.EXAMPLE/B and http://a.example/b", ["HTTP://A.EXAMPLE/B", "http://a.example/b"]),
        ("twice https://a.example https://a.example", ["https://a.example"]),
        ("no link www.example.com", []),
        ("https:// alone", []),
        ("", []),
    ],
)
def test_find_urls(text, urls):
    assert compose.find_urls(text) == urls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sale! Reply STOP to end", True),
        ("Text stop to unsubscribe", True),
        ("回T退订", True),
        ("拒收请回复R", True),
        ("回复N", True),
        ("Don't stop", True),  # conservative: the word STOP is there, no second footer
        ("Sale today", False),
        ("Stopover in Paris", False),
        ("周末特惠", False),
    ],
)
def test_has_optout_notice(text, expected):
    assert compose.has_optout_notice(text) is expected


def test_optout_notice_matches_the_footer_itself():
    assert compose.has_optout_notice("Sale. Txt QUIT to leave", "txt quit to leave")


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Jane Doe", "Jane"),
        ("  Jean-Luc  Picard ", "Jean-Luc"),
        ("王伟", "王伟"),
        ("欧阳 娜娜", "欧阳 娜娜"),
        ("김 민준", "김 민준"),
        ("Madonna", "Madonna"),
        ("", ""),
        (None, ""),
    ],
)
def test_first_name(name, first):
    assert compose.first_name(name) == first


def test_compose_footer_per_language_signature_and_links():
    composer = compose.Composer(
        "{{ first_name }}: sale https://shop.example/sale",
        short_links=SHORT,
        signature="【Brand】",
        footers=FOOTERS,
    )
    assert composer.has_links
    assert composer.fields == {"first_name"}
    token = "k2P9xQ_7mZc"
    assert composer.compose({"first_name": "王伟"}, "zh_CN", token) == (
        "【Brand】王伟: sale https://s.example/r/Ab3/t/k2P9xQ_7mZc 回复TD退订"
    )
    assert composer.compose({"first_name": "Jane"}, "en_GB", token).endswith(
        "/t/k2P9xQ_7mZc Reply STOP to opt out"
    )
    # an unknown language gets the default (English) footer
    hugo = composer.compose({"first_name": "Hugo"}, "fr_FR", token)
    assert hugo.endswith("Reply STOP to opt out")
    assert composer.compose({"first_name": "X"}, None, token).endswith("Reply STOP to opt out")


def test_compose_keeps_existing_signature_and_notice():
    composer = compose.Composer("【Brand】Sale! 回复TD退订", signature="【Brand】", footers=FOOTERS)
    assert composer.compose({}, "zh_CN") == "【Brand】Sale! 回复TD退订"


def test_untracked_links_stay_as_written():
    composer = compose.Composer("Sale https://shop.example/sale", footers=None)
    assert not composer.has_links
    assert composer.compose({}) == "Sale https://shop.example/sale"


def test_link_prefix_of_another_link_is_not_broken():
    short = {"https://a.example/x": "https://s/r/1", "https://a.example/x/y": "https://s/r/2"}
    composer = compose.Composer("https://a.example/x/y and https://a.example/x", short_links=short)
    assert composer.compose({}, token="T") == "https://s/r/2/t/T and https://s/r/1/t/T"


def test_values_are_never_reinterpreted():
    composer = compose.Composer("Hi {{ name }}", footers=None)
    assert composer.compose({"name": "{{ name }} \x00"}) == "Hi {{ name }} \x00"


def test_token_length_matches_the_preview_and_counts():
    body = compose.Composer("https://shop.example/sale", short_links=SHORT).compose(
        {}, token="x" * compose.TOKEN_LENGTH
    )
    assert encoding.analyze(body).length == len("https://s.example/r/Ab3/t/") + compose.TOKEN_LENGTH


def test_malformed_template_raises():
    with pytest.raises(TemplateError):
        compose.Composer("Hi {{ name }")
