"""Tests for sms_marketing.core.encoding (GSM-7 / UCS-2 detection, segment counting)."""

import random

import pytest

from sms_marketing.core import encoding
from sms_marketing.core.encoding import GSM7, UCS2, analyze, is_gsm7, split_segments

EXTENSION_CHARS = "^{}\\[~]|€\f"
GSM_BASIC_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EMOJI = "😀"  # U+1F600, outside the BMP: one surrogate pair
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 4 emoji (2 units each) joined by 3 ZWJ (1 unit each)

# (id, text, encoding, length, segments)
CASES = [
    ("empty", "", GSM7, 0, 0),
    ("plain-ascii", "Hello world", GSM7, 11, 1),
    ("gsm-specials", "@£$¥¤§¡¿_", GSM7, 9, 1),
    ("ext-caret", "^", GSM7, 2, 1),
    ("ext-lbrace", "{", GSM7, 2, 1),
    ("ext-rbrace", "}", GSM7, 2, 1),
    ("ext-backslash", "\\", GSM7, 2, 1),
    ("ext-lbracket", "[", GSM7, 2, 1),
    ("ext-tilde", "~", GSM7, 2, 1),
    ("ext-rbracket", "]", GSM7, 2, 1),
    ("ext-pipe", "|", GSM7, 2, 1),
    ("ext-euro", "€", GSM7, 2, 1),
    ("ext-formfeed", "\f", GSM7, 2, 1),
    ("ext-all-combined", EXTENSION_CHARS, GSM7, 20, 1),
    ("ext-in-text", "Use code {SAVE} [now]", GSM7, 25, 1),
    ("euro-price", "Price: 5€", GSM7, 10, 1),
    ("backtick-not-gsm", "`", UCS2, 1, 1),
    ("chinese-unsubscribe", "回复TD退订", UCS2, 6, 1),
    ("emoji-alone", EMOJI, UCS2, 2, 1),
    ("emoji-in-text", "Hi " + EMOJI, UCS2, 5, 1),
    ("emoji-zwj-family", FAMILY, UCS2, 11, 1),
    ("mixed-latin-chinese", "Hello 世界", UCS2, 8, 1),
    ("chinese-brackets", "【商城】优惠", UCS2, 6, 1),
    ("greek-caps-gsm", "ΔΦ", GSM7, 2, 1),
    ("greek-all-gsm-caps", "ΔΦΓΛΩΠΨΣΘΞ", GSM7, 10, 1),
    ("greek-lower-alpha", "α", UCS2, 1, 1),
    ("ohm-sign-not-omega", "\u2126", UCS2, 1, 1),
    ("accent-e-acute", "é", GSM7, 1, 1),
    ("accent-n-tilde", "ñ", GSM7, 1, 1),
    ("accent-word-gsm", "Café señor", GSM7, 10, 1),
    ("accent-a-acute", "á", UCS2, 1, 1),
    ("c-cedilla-lower", "ç", UCS2, 1, 1),
    ("c-cedilla-upper", "Ç", GSM7, 1, 1),
    ("curly-apostrophe", "It\u2019s", UCS2, 4, 1),
    ("nbsp", "a\u00a0b", UCS2, 3, 1),
    ("lf", "a\nb", GSM7, 3, 1),
    ("crlf", "a\r\nb", GSM7, 3, 1),
    ("lone-cr", "a\rb", GSM7, 3, 1),
    ("crlf-80", "\r\n" * 80, GSM7, 80, 1),
    ("crlf-161", "\r\n" * 161, GSM7, 161, 2),
    ("crlf-ucs2", "回\r\n复", UCS2, 3, 1),
    ("tab", "\t", UCS2, 1, 1),
    ("tab-in-text", "a\tb", UCS2, 3, 1),
    ("ucs2-70", "回" * 70, UCS2, 70, 1),
    ("ucs2-71", "回" * 71, UCS2, 71, 2),
    ("ucs2-134", "回" * 134, UCS2, 134, 2),
    ("ucs2-135", "回" * 135, UCS2, 135, 3),
    ("ucs2-emoji-35", EMOJI * 35, UCS2, 70, 1),
    ("ucs2-emoji-36", EMOJI * 36, UCS2, 72, 2),
    ("gsm-160", "a" * 160, GSM7, 160, 1),
    ("gsm-161", "a" * 161, GSM7, 161, 2),
    ("gsm-306", "a" * 306, GSM7, 306, 2),
    ("gsm-307", "a" * 307, GSM7, 307, 3),
    ("gsm-459", "a" * 459, GSM7, 459, 3),
    ("gsm-460", "a" * 460, GSM7, 460, 4),
    ("gsm-ext-fills-160", "€" * 80, GSM7, 160, 1),
    ("gsm-ext-overflows-160", "€" * 81, GSM7, 162, 2),
    ("gsm-ext-is-161st-septet", "a" * 159 + "[", GSM7, 161, 2),
    # 151 + 2 = 153: the escape sequence fits exactly at the end of part 1.
    ("ext-ends-exactly-at-153", "a" * 151 + "€" + "a" * 153, GSM7, 306, 2),
    # 152 + 2 > 153: the € moves to part 2, which costs a third part.
    ("ext-straddles-153", "a" * 152 + "€" + "a" * 152, GSM7, 306, 3),
    ("ext-straddles-153-short", "a" * 152 + "€" + "a" * 10, GSM7, 164, 2),
    ("surrogate-ends-exactly-at-67", "回" * 65 + EMOJI + "回" * 67, UCS2, 134, 2),
    ("surrogate-straddles-67", "回" * 66 + EMOJI + "回" * 66, UCS2, 134, 3),
    ("gsm-1000", "a" * 1000, GSM7, 1000, 7),
    ("ucs2-1000", "回" * 1000, UCS2, 1000, 15),
    ("one-emoji-turns-long-text-ucs2", "a" * 100 + EMOJI, UCS2, 102, 2),
]

IDS = [case[0] for case in CASES]
TEXTS = [case[1] for case in CASES]


def units(text, encoding_):
    """Units ``text`` costs when sent in ``encoding_``."""
    if encoding_ == GSM7:
        return sum(2 if ch in EXTENSION_CHARS else 1 for ch in text)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def reference_segments(text):
    """Slow, obviously-correct splitter: one character at a time."""
    text = text.replace("\r\n", "\n")
    if all(ch in GSM_BASIC_CHARS or ch in EXTENSION_CHARS for ch in text):
        encoding_, single, multi = GSM7, 160, 153
    else:
        encoding_, single, multi = UCS2, 70, 67

    def cost(ch):
        return units(ch, encoding_)

    total = sum(cost(ch) for ch in text)
    limit = single if total <= single else multi
    parts, current, used = [], "", 0
    for ch in text:
        if used + cost(ch) > limit:
            parts.append(current)
            current, used = "", 0
        current += ch
        used += cost(ch)
    if current:
        parts.append(current)
    return encoding_, total, parts, limit, [units(p, encoding_) for p in parts]


@pytest.mark.parametrize(
    ("case_id", "text", "expected_encoding", "length", "segments"), CASES, ids=IDS
)
def test_analyze(case_id, text, expected_encoding, length, segments):
    info = analyze(text)
    assert info.encoding == expected_encoding
    assert info.length == length
    assert info.segments == segments
    assert len(split_segments(text)) == segments


def test_case_table_is_large_enough():
    assert len(CASES) >= 45
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("text", TEXTS, ids=IDS)
def test_split_joins_back_and_respects_limits(text):
    info = analyze(text)
    parts = split_segments(text)
    assert "".join(parts) == text.replace("\r\n", "\n")
    assert all(parts)
    assert sum(units(part, info.encoding) for part in parts) == info.length
    assert all(units(part, info.encoding) <= info.per_segment for part in parts)


@pytest.mark.parametrize("text", TEXTS, ids=IDS)
def test_matches_reference_splitter(text):
    encoding_, total, parts, limit, part_units = reference_segments(text)
    info = analyze(text)
    assert split_segments(text) == parts
    assert (info.encoding, info.length, info.segments, info.per_segment) == (
        encoding_,
        total,
        len(parts),
        limit,
    )
    assert info.remaining == (limit - part_units[-1] if parts else limit)


def test_random_texts_match_reference_splitter():
    # Heavy on characters whose cost is 2 so that boundaries get straddled often.
    alphabet = "aé€[{" + "\f\r\n" + "回" + EMOJI + "\u200d"
    rng = random.Random(23038)
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 500)))
        if rng.random() < 0.5:
            text = text.replace("回", "b").replace(EMOJI, "c").replace("\u200d", "d")
        encoding_, total, parts, limit, part_units = reference_segments(text)
        info = analyze(text)
        assert split_segments(text) == parts, text
        assert info.encoding == encoding_
        assert info.length == total
        assert info.segments == len(parts)
        assert info.per_segment == limit
        assert info.remaining == (limit - part_units[-1] if parts else limit)
        assert is_gsm7(text) == (encoding_ == GSM7)


def test_escape_sequence_moves_to_next_segment():
    parts = split_segments("a" * 152 + "€" + "a" * 152)
    assert parts == ["a" * 152, "€" + "a" * 151, "a"]


def test_escape_sequence_fits_exactly():
    parts = split_segments("a" * 151 + "€" + "a" * 153)
    assert parts == ["a" * 151 + "€", "a" * 153]


def test_surrogate_pair_moves_to_next_segment():
    parts = split_segments("回" * 66 + EMOJI + "回" * 66)
    assert parts == ["回" * 66, EMOJI + "回" * 65, "回"]
    assert all(not ("\ud800" <= ch <= "\udfff") for part in parts for ch in part)


def test_surrogate_pair_fits_exactly():
    parts = split_segments("回" * 65 + EMOJI + "回" * 67)
    assert parts == ["回" * 65 + EMOJI, "回" * 67]


def test_zwj_sequence_only_keeps_surrogate_pairs_together():
    # Grapheme clusters are not kept whole (phones do not either); pairs are.
    text = "回" * 60 + FAMILY * 2
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == analyze(text).segments == 2
    # 60 + 👨 (2) + ZWJ + 👩 (2) + ZWJ = 66 units: 👧 (2) no longer fits in 67.
    assert parts[0] == "回" * 60 + "👨\u200d👩\u200d"


def test_lone_surrogate_does_not_crash():
    # Broken input (e.g. a truncated emoji) must not abort a batch.
    info = analyze("回" * 80 + "\ud83d")
    assert (info.encoding, info.length, info.segments) == (UCS2, 81, 2)
    assert "".join(split_segments("回" * 80 + "\ud83d")) == "回" * 80 + "\ud83d"


def test_split_single_and_empty():
    assert split_segments("") == []
    assert split_segments("Hello") == ["Hello"]
    assert split_segments("a" * 160) == ["a" * 160]
    assert split_segments("回" * 70) == ["回" * 70]
    assert split_segments("a\r\nb") == ["a\nb"]


@pytest.mark.parametrize(
    ("text", "per_segment", "remaining"),
    [
        ("", 160, 160),
        ("a" * 10, 160, 150),
        ("a" * 160, 160, 0),
        ("€", 160, 158),
        ("a" * 161, 153, 145),
        ("a" * 306, 153, 0),
        ("a" * 152 + "€" + "a" * 152, 153, 152),
        ("回", 70, 69),
        (EMOJI, 70, 68),
        ("回" * 71, 67, 63),
        ("回" * 66 + EMOJI + "回" * 66, 67, 66),
        ("a\r\nb", 160, 157),
    ],
)
def test_remaining(text, per_segment, remaining):
    info = analyze(text)
    assert info.per_segment == per_segment
    assert info.remaining == remaining


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello [world] €", ()),
        ("", ()),
        ("á", ("á",)),
        ("Ça ç", ("ç",)),
        ("Hello 😀 世界 😀!", ("😀", "世", "界")),
        (FAMILY, ("👨", "\u200d", "👩", "👧", "👦")),
        ("a\tb\tc", ("\t",)),
        ("It\u2019s \u2013 ok", ("\u2019", "\u2013")),
        ("αΔβ", ("α", "β")),
    ],
)
def test_non_gsm_chars(text, expected):
    assert analyze(text).non_gsm_chars == expected


@pytest.mark.parametrize("text", TEXTS, ids=IDS)
def test_is_gsm7_agrees_with_analyze(text):
    assert is_gsm7(text) == (analyze(text).encoding == GSM7)


@pytest.mark.parametrize("char", sorted(GSM_BASIC_CHARS))
def test_every_basic_char_costs_one_septet(char):
    info = analyze(char)
    assert (info.encoding, info.length) == (GSM7, 1)


def test_basic_table_size():
    # 128 code points minus the escape (0x1B).
    assert len(set(GSM_BASIC_CHARS)) == 127
    assert all(is_gsm7(ch) for ch in GSM_BASIC_CHARS + EXTENSION_CHARS)
    assert not is_gsm7("\x1b")


def test_sms_info_is_frozen():
    info = analyze("hi")
    with pytest.raises(AttributeError):
        info.length = 3  # type: ignore[misc]


def test_public_api_names():
    assert encoding.GSM7 == "gsm7"
    assert encoding.UCS2 == "ucs2"
    assert set(encoding.__all__) == {
        "GSM7",
        "UCS2",
        "SmsInfo",
        "analyze",
        "is_gsm7",
        "split_segments",
    }
