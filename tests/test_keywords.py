"""Tests for sms_marketing.core.keywords (pure Python, no Odoo)."""

import pytest

from sms_marketing.core.keywords import (
    DEFAULT_KEYWORDS,
    HELP,
    OTHER,
    START,
    STOP,
    classify,
    normalize,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ""),
        ("", ""),
        ("   ", ""),
        ("STOP", "stop"),
        ("  Stop  ", "stop"),
        ("ＳＴＯＰ", "stop"),
        ("ｓｔｏｐ\u3000ａｌｌ", "stop all"),
        ("stop \t\n  all", "stop all"),
        ("STOP!!!", "stop"),
        ("¡STOP!", "stop"),
        ("退订。", "退订"),
        ("【退订】", "退订"),
        ("「取消」", "取消"),
        ("“STOP”", "stop"),
        ("'stop'", "stop"),
        ('"stop"', "stop"),
        ("(stop)", "stop"),
        ("退订~", "退订"),
        ("退订～～", "退订"),
        ("退订、", "退订"),
        ("TD.", "td"),
        ("\ufeff\u200bstop\u200b", "stop"),
        ("... stop ...", "stop"),
        ("s.t.o.p", "s.t.o.p"),
        ("Don't  Stop", "don't stop"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
        ("!!!", ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # every default STOP keyword
        ("STOP", STOP),
        ("STOPALL", STOP),
        ("STOP ALL", STOP),
        ("UNSUBSCRIBE", STOP),
        ("CANCEL", STOP),
        ("END", STOP),
        ("QUIT", STOP),
        ("TD", STOP),
        ("T", STOP),
        ("N", STOP),
        ("R", STOP),
        ("退订", STOP),
        ("取消", STOP),
        ("拒收", STOP),
        # every default START keyword
        ("START", START),
        ("YES", START),
        ("Y", START),
        ("UNSTOP", START),
        ("订阅", START),
        # every default HELP keyword
        ("HELP", HELP),
        ("INFO", HELP),
        ("帮助", HELP),
        # case
        ("stop", STOP),
        ("Stop", STOP),
        ("sToP", STOP),
        ("td", STOP),
        ("Td", STOP),
        ("n", STOP),
        ("unsubscribe", STOP),
        ("Yes", START),
        ("help", HELP),
        # full-width
        ("ＳＴＯＰ", STOP),
        ("ｔｄ", STOP),
        ("ＴＤ", STOP),
        ("Ｎ", STOP),
        ("ＳＴＡＲＴ", START),
        ("ＨＥＬＰ！", HELP),
        ("ｓｔｏｐ\u3000ａｌｌ", STOP),
        # whitespace
        ("  STOP  ", STOP),
        ("\nstop\n", STOP),
        ("stop   all", STOP),
        ("\u3000退订\u3000", STOP),
        ("stopall", STOP),
        # punctuation
        ("STOP!", STOP),
        ("STOP.", STOP),
        ("stop?!", STOP),
        ("TD.", STOP),
        ("T。", STOP),
        ("退订。", STOP),
        ("退订！", STOP),
        ("退订!!", STOP),
        ("【退订】", STOP),
        ("取消；", STOP),
        ("拒收，", STOP),
        ("退订~", STOP),
        ("“STOP”", STOP),
        ("(help)", HELP),
        ("yes!", START),
        ("订阅。", START),
        ("帮助？", HELP),
        # a keyword inside a sentence is not a keyword
        ("please stop", OTHER),
        ("don't stop sending", OTHER),
        ("stop it now", OTHER),
        ("STOP STOP", OTHER),
        ("I want to unsubscribe", OTHER),
        ("no", OTHER),
        ("yes please", OTHER),
        ("help me", OTHER),
        ("退订短信", OTHER),
        ("请帮我退订", OTHER),
        ("不要退订", OTHER),
        ("stopped", OTHER),
        ("nonstop", OTHER),
        ("s.t.o.p", OTHER),
        ("S T O P", OTHER),
        ("stop-all", OTHER),
        ("tdd", OTHER),
        ("Thanks", OTHER),
        ("😀", OTHER),
        # empty
        ("", OTHER),
        ("   ", OTHER),
        ("!!!", OTHER),
        (None, OTHER),
    ],
)
def test_classify(text, expected):
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        ("退订短信", {STOP: ["退订短信"]}, STOP),
        ("退订 短信", {STOP: ["退订  短信。"]}, STOP),
        ("ＡＲＲＥＴ", {STOP: ["arret"]}, STOP),
        ("Arrêt", {STOP: ["ARRÊT"]}, STOP),
        ("subscribe", {START: {"SUBSCRIBE"}}, START),
        ("aide", {HELP: ("AIDE",)}, HELP),
        ("aide", {STOP: ["arret"]}, OTHER),
        # defaults stay active alongside extras
        ("STOP", {STOP: ["arret"]}, STOP),
        ("HELP", {START: ["go"]}, HELP),
        # STOP wins when a company maps a default word to another category
        ("stop", {START: ["stop"]}, STOP),
        ("yes", {STOP: ["yes"]}, STOP),
        ("info", {START: ["info"]}, START),
        # empty extras are harmless and never make blank replies match
        ("", {STOP: ["!!!", ""]}, OTHER),
        ("STOP", {}, STOP),
        ("STOP", None, STOP),
        ("hello", {STOP: []}, OTHER),
    ],
)
def test_classify_extra(text, extra, expected):
    assert classify(text, extra) == expected


def test_extra_with_unknown_category_is_rejected():
    with pytest.raises(ValueError, match="category"):
        classify("stop", {"unsubscribe": ["x"]})
    with pytest.raises(ValueError):
        classify("stop", {OTHER: ["x"]})


def test_extra_plain_string_is_rejected():
    # A str would otherwise register each character ("t", "d") as a keyword.
    with pytest.raises(TypeError):
        classify("x", {STOP: "td"})


def test_extra_does_not_leak_between_calls():
    assert classify("arret", {STOP: ["arret"]}) == STOP
    assert classify("arret") == OTHER


def test_default_keywords_public_and_read_only():
    assert set(DEFAULT_KEYWORDS) == {STOP, START, HELP}
    assert "STOP" in DEFAULT_KEYWORDS[STOP]
    assert "退订" in DEFAULT_KEYWORDS[STOP]
    assert "Y" in DEFAULT_KEYWORDS[START]
    assert "帮助" in DEFAULT_KEYWORDS[HELP]
    with pytest.raises(TypeError):
        DEFAULT_KEYWORDS[STOP] = frozenset()
    assert isinstance(DEFAULT_KEYWORDS[STOP], frozenset)


def test_default_keywords_are_disjoint_and_all_classify():
    seen = set()
    for category, words in DEFAULT_KEYWORDS.items():
        for word in words:
            key = normalize(word)
            assert key not in seen
            seen.add(key)
            assert classify(word) == category
            assert classify(f" {word.lower()}! ") == category


def test_constants():
    assert (STOP, START, HELP, OTHER) == ("stop", "start", "help", "other")
