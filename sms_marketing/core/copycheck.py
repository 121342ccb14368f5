"""Copy assistant: what a good marketing SMS has, checked while it is typed.

:func:`check` looks at a message as the marketer writes it (placeholders still in
``{{ }}``) and returns one :class:`Check` per rule, each passed or a hint with the
values that explain it. The rules:

* **value** - the value comes first: an offer, a price, a number, a gift or news in the
  first 40 characters (``30% off``, ``¥99``, ``8折``, ``新品``, ``free``...).
* **personal** - a placeholder of the contact (``{{ first_name }}``, ``{{ name }}``...).
* **urgency** - a reason to act now (``today``, ``ends``, ``only``, ``今天``, ``限时``...).
* **action** - a call to action: a link (``https://``, ``{{ cart_url }}``) or a reply
  keyword (``Reply YES``, ``回复1``).
* **length** - one segment; else how many, and the characters that forced UCS-2 in an
  otherwise GSM-7 text (a curly quote triples the cost of a 150-character message).
* **optout** - the opt-out instruction of the recipients' region: ``回复TD退订`` in China,
  ``STOP`` in the US and Canada, an opt-out in the EU (the company footer passes it when
  the campaign adds it).
* **signature** - China: carriers require the sender's signature ``【Brand】`` (passes when
  the gateway adds one); EU: the sender names itself (its name or ``{{ company }}``).
* **shortener** - no public link shortener (bit.ly, t.cn...): carriers filter them; the
  campaign's own tracked short links are used instead.
* **caps** - no shouting: at most half the letters in capitals, no three words in caps.
* **spam** - no words spam filters look for (``winner``, ``cash``, ``中奖``, ``代开发票``...)
  and no ``!!!``.

Results carry codes and values, never text: the Odoo layer words them in the user's
language (English and Simplified Chinese ship).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import compose as core_compose
from . import encoding as core_encoding

__all__ = ["RULES", "Check", "check"]

RULES = (
    "value",
    "personal",
    "urgency",
    "action",
    "length",
    "optout",
    "signature",
    "shortener",
    "caps",
    "spam",
)

#: Regions with their own rules; any other region gets the general ones.
CN, US, EU = "CN", "US", "EU"
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)

_PLACEHOLDER_RE = re.compile(r"{{\s*(\w+)[^}]*}}")
_PERSONAL = frozenset({"first_name", "name", "company_name", "city"})
_VALUE_RE = re.compile(
    r"\d|%|[$€£¥￥]|\b(?:free|off|sale|save|gift|new|deal|offer|discount|bonus|win|"
    r"coupon|code|points?|launch|arriv\w*)\b|"
    r"折|优惠|免费|送|赠|新品|上新|特价|立减|满减|红包|积分|券|礼|秒杀|半价|包邮",
    re.IGNORECASE,
)
_URGENCY_RE = re.compile(
    r"\b(?:today|tonight|tomorrow|now|ends?|ending|last|only|limited|hurry|hours?|"
    r"until|before|deadline|final|expires?|this (?:week|weekend))\b|"
    r"今天|今日|今晚|明天|本周|周末|限时|限量|最后|仅剩|仅限|截止|立即|马上|速|倒计时|即将结束|结束",
    re.IGNORECASE,
)
# a reply keyword that is not an opt-out one ("Reply STOP", "回复TD退订", "回复T退订", "拒收请
# 回复R"; Chinese characters are word characters: no \b between "T" and "退")
_REPLY_RE = re.compile(
    r"\breply\s+(?!stop\b)\w+|\btext\s+(?!stop\b)\w+\s+to\b|"
    r"回复\s*(?!(?:TD|T|N|R)(?![A-Za-z0-9])|退订)[\w\u4e00-\u9fff]",
    re.IGNORECASE,
)
_SHORTENERS = (
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "cutt.ly",
    "rebrand.ly",
    "shorturl.at",
    "rb.gy",
    "t.cn",
    "dwz.cn",
    "url.cn",
    "suo.im",
)
_SPAM_RE = re.compile(
    r"\b(?:winner|you(?:'ve| have)? won|congratulations|cash|guaranteed|risk[- ]free|"
    r"100% free|act now|click here|no cost|prize|loan|credit score)\b|\$\$+|"
    r"中奖|恭喜您?获得|贷款|代开|发票|博彩|彩票|刷单|兼职日结|套现",
    re.IGNORECASE,
)
_CN_OPTOUT_RE = re.compile(r"退订|拒收|回[复覆]?\s*(?:TD|T|N)\b", re.IGNORECASE)
_STOP_RE = re.compile(r"\bstop\b", re.IGNORECASE)
_SIGNATURE_RE = re.compile(r"^\s*【[^】]{2,16}】|【[^】]{2,16}】\s*$")
_CAPS_WORD_RE = re.compile(r"\b[A-Z]{3,}\b")
_LETTER_RE = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Check:
    """One rule's verdict: ``passed``, else a hint; ``values`` explain it (counts,
    characters, words found)."""

    rule: str
    passed: bool
    values: dict = field(default_factory=dict)


def _without_placeholders(text):
    return _PLACEHOLDER_RE.sub(" ", text)


def region_of(country_code: str | None) -> str | None:
    """The rule region of an ISO country code."""
    code = (country_code or "").upper()
    if code == "CN":
        return CN
    if code in ("US", "CA"):
        return US
    if code in EU_COUNTRIES:
        return EU
    return None


def check(
    body: str,
    *,
    region: str | None = None,
    footer_added: bool = False,
    signature_added: bool = False,
    company: str = "",
) -> list[Check]:
    """Every rule of :data:`RULES` applied to ``body``, in that order.

    :param region: ``"CN"``, ``"US"``, ``"EU"`` (see :func:`region_of`) or None
    :param footer_added: the campaign adds the region's opt-out footer itself
    :param signature_added: the gateway adds a ``【signature】``
    :param company: the sender's name (the EU rule looks for it)
    """
    body = body or ""
    plain = _without_placeholders(body)
    placeholders = {match.group(1) for match in _PLACEHOLDER_RE.finditer(body)}
    results = []

    head = _without_placeholders(body[:60])[:40]
    results.append(Check("value", bool(_VALUE_RE.search(head))))
    personal = sorted(placeholders & _PERSONAL)
    results.append(Check("personal", bool(personal), {"placeholders": personal}))
    urgency = _URGENCY_RE.search(plain)
    results.append(Check("urgency", bool(urgency), {"word": urgency.group(0) if urgency else ""}))
    link = bool(core_compose.find_urls(body)) or "cart_url" in placeholders
    reply = _REPLY_RE.search(plain)
    results.append(Check("action", link or bool(reply), {"link": link, "reply": bool(reply)}))

    info = core_encoding.analyze(plain.strip())
    forcing = ""
    if info.encoding == core_encoding.UCS2 and not re.search(r"[\u2e80-\u9fff]", plain):
        # a Western text sent as UCS-2 because of a few characters: name them
        forcing = "".join(info.non_gsm_chars[:5])
    results.append(
        Check(
            "length",
            info.segments <= 1 and not forcing,
            {"segments": info.segments, "length": info.length, "characters": forcing},
        )
    )

    if region == CN:
        optout = bool(_CN_OPTOUT_RE.search(plain))
    elif region == US:
        optout = bool(_STOP_RE.search(plain))
    else:
        optout = core_compose.has_optout_notice(plain)
    results.append(Check("optout", optout or footer_added, {"region": region or ""}))

    if region == CN:
        signed = signature_added or bool(_SIGNATURE_RE.search(body))
        results.append(Check("signature", signed, {"region": region}))
    elif region == EU:
        named = "company" in placeholders or bool(
            company and company.casefold() in plain.casefold()
        )
        results.append(Check("signature", named, {"region": region}))
    else:
        results.append(Check("signature", True, {"region": region or ""}))

    hosts = [
        host
        for url in core_compose.find_urls(body)
        for host in _SHORTENERS
        if re.match(rf"https?://(?:www\.)?{re.escape(host)}(?:/|$)", url, re.IGNORECASE)
    ]
    results.append(Check("shortener", not hosts, {"hosts": hosts}))

    letters = _LETTER_RE.findall(plain)
    capitals = sum(1 for letter in letters if letter.isupper())
    caps_words = [word for word in _CAPS_WORD_RE.findall(plain) if word not in ("STOP", "SMS")]
    shouting = (len(letters) >= 10 and capitals / len(letters) > 0.5) or len(caps_words) >= 3
    results.append(Check("caps", not shouting, {"words": caps_words[:5]}))

    spam = sorted({match.group(0).lower() for match in _SPAM_RE.finditer(plain)})
    exclaims = "!!!" in plain or "！！！" in plain
    results.append(Check("spam", not spam and not exclaims, {"words": spam, "exclaims": exclaims}))
    return results
