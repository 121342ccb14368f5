"""Classify inbound SMS replies as opt-out, opt-in, help or anything else.

Rule: the *whole* normalised message must equal a keyword. This is how the
US carriers' CTIA guidelines define STOP handling and how Twilio matches
its opt-out keywords, and it keeps ordinary conversation from opting people
out: "please stop", "don't stop sending" and "stop it now" are ``OTHER``.
Only a reply that is nothing but a keyword counts; "STOP STOP" or
"退订短信" are ``OTHER`` too (a company can add such phrases through
``extra``).

Normalisation (:func:`normalize`) makes the comparison tolerant of how
phones and people type:

* Unicode NFKC, so full-width letters and punctuation ("ＳＴＯＰ", "ｔｄ",
  "！") become ASCII and the ideographic space becomes a space;
* case folding ("Stop", "sToP");
* leading/trailing whitespace, punctuation (ASCII and CJK, including
  quotes and brackets such as 「」【】《》“”), tildes and invisible format
  characters (zero-width space, BOM) are removed;
* runs of inner whitespace collapse to one space ("stop   all" → "stop all").

Punctuation *inside* the message is kept, so "s.t.o.p" is not "stop".

Default keywords (:data:`DEFAULT_KEYWORDS`):

* ``STOP``: STOP, STOPALL, STOP ALL, UNSUBSCRIBE, CANCEL, END, QUIT, TD, T,
  N, R, 退订, 取消, 拒收. The single letters T, N and R (and TD, 退订) are the
  opt-out replies Chinese carriers and SMS providers print in message
  footers ("回复T退订", "回N退订", "拒收请回复R"), so they must opt out.
  The cost is that a bare "N" answering an unrelated yes/no question also
  opts out; losing a legally required opt-out is the worse failure.
* ``START``: START, YES, Y, UNSTOP, 订阅.
* ``HELP``: HELP, INFO, 帮助.

If a word ends up in more than one category (through ``extra``), STOP wins
over START, which wins over HELP: an opt-out must never be lost.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "DEFAULT_KEYWORDS",
    "HELP",
    "OTHER",
    "START",
    "STOP",
    "classify",
    "normalize",
]

STOP = "stop"
START = "start"
HELP = "help"
OTHER = "other"

# Priority order when a normalised word belongs to several categories.
_CATEGORIES = (STOP, START, HELP)

DEFAULT_KEYWORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        STOP: frozenset(
            {
                "STOP",
                "STOPALL",
                "STOP ALL",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "TD",
                "T",
                "N",
                "R",
                "退订",
                "取消",
                "拒收",
            }
        ),
        START: frozenset({"START", "YES", "Y", "UNSTOP", "订阅"}),
        HELP: frozenset({"HELP", "INFO", "帮助"}),
    }
)

# Tildes are math symbols (Sm) in Unicode, not punctuation, but people end
# messages with them ("退订~"), so they are stripped like punctuation.
_EXTRA_STRIPPABLE = frozenset("~～")


def _strippable(char: str) -> bool:
    if char.isspace() or char in _EXTRA_STRIPPABLE:
        return True
    category = unicodedata.category(char)
    # P*: all punctuation incl. CJK full stops, quotes and brackets.
    # Cf: zero-width spaces / BOM that some phones prepend invisibly.
    return category[0] == "P" or category == "Cf"


def normalize(text: str | None) -> str:
    """Return the comparison form of an SMS body or keyword.

    Input: any string (``None`` is accepted and treated as empty).
    Output: NFKC-normalised, case-folded text with leading/trailing
    whitespace and punctuation removed and inner whitespace collapsed to
    single spaces; ``""`` when nothing is left.
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    start, end = 0, len(folded)
    while start < end and _strippable(folded[start]):
        start += 1
    while end > start and _strippable(folded[end - 1]):
        end -= 1
    return " ".join(folded[start:end].split())


def _normalised_set(words: Iterable[str], category: str) -> frozenset[str]:
    if isinstance(words, str):
        # A bare string would silently become one keyword per character.
        raise TypeError(f"keywords for {category!r} must be an iterable of str, not a str")
    # A keyword made only of punctuation normalises to "" and would match
    # empty messages; drop it rather than opt people out on a blank reply.
    return frozenset(filter(None, map(normalize, words)))


_DEFAULT_NORMALISED: dict[str, frozenset[str]] = {
    category: _normalised_set(words, category) for category, words in DEFAULT_KEYWORDS.items()
}


def classify(
    text: str | None,
    extra: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """Classify an inbound SMS body.

    Input: the message text (``None``/empty gives ``OTHER``) and optionally
    ``extra``, a mapping whose keys are among ``STOP``, ``START``, ``HELP``
    and whose values are iterables of additional keywords; they are
    normalised like the message and added to the defaults.
    Output: ``STOP``, ``START``, ``HELP`` or ``OTHER``.
    Raises ``ValueError`` for an unknown ``extra`` key and ``TypeError``
    when an ``extra`` value is a plain string.
    """
    extra_sets: dict[str, frozenset[str]] = {}
    if extra:
        for category, words in extra.items():
            if category not in _DEFAULT_NORMALISED:
                raise ValueError(f"unknown keyword category {category!r}")
            extra_sets[category] = _normalised_set(words, category)
    key = normalize(text)
    if not key:
        return OTHER
    for category in _CATEGORIES:
        if key in _DEFAULT_NORMALISED[category] or key in extra_sets.get(category, ()):
            return category
    return OTHER
