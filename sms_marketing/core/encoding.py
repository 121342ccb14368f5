"""SMS character encoding and segment counting.

Reference: 3GPP TS 23.038 ("Alphabets and language-specific information"),
section 6.2.1 (GSM 7-bit default alphabet and its extension table), and
3GPP TS 23.040 section 9.2.3.24.1 (concatenated short messages, whose User
Data Header of 6 octets leaves 153 septets / 67 UCS-2 characters per part).

Rules applied here:

* A text is sent as **GSM-7** when every character is in the GSM 03.38 basic
  table or in its extension table. Each basic character costs 1 septet. The
  extension characters ``^ { } \\ [ ~ ] | €`` and form feed (``\\f``) are sent
  as ESC + character and cost 2 septets. National language shift tables
  (TS 23.038 section 6.2.1.2.4) are not used: most gateways do not support them.
* Any other character (a tab, ``á``, ``ç``, a curly apostrophe, Chinese, emoji,
  the Ohm sign which only looks like ``Ω``...) switches the whole message to
  **UCS-2**. Length is then counted in UTF-16 code units, the way phones and
  gateways really send it: a character outside the BMP (most emoji) costs 2,
  and a ZWJ emoji sequence costs the sum of its code points.
* One segment holds 160 septets (GSM-7) or 70 units (UCS-2). A longer message
  is concatenated, and each part then holds 153 septets or 67 units.
* An escape sequence (GSM-7) or a surrogate pair (UCS-2) is never cut in two:
  when the next character does not fit in the current part it starts the next
  one, which can cost an extra segment (152 plain characters followed by ``€``
  put the ``€`` in part 2). ``analyze().segments`` and ``split_segments()``
  share one cutting routine, so they always agree.
* Newlines: ``"\\r\\n"`` is normalised to ``"\\n"`` before anything is counted,
  because a browser textarea submits CRLF for every line break the user typed
  and the message is delivered with a single LF per line. ``"\\n"`` and a lone
  ``"\\r"`` each count 1. ``split_segments`` returns the normalised text.
* The empty text is GSM-7, length 0, 0 segments.

Speed matters (batch jobs analyse millions of rendered bodies), so membership
is tested with frozensets and ``bytes.translate`` instead of per-character
regular expressions, with a fast path for pure-ASCII text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "GSM7",
    "UCS2",
    "SmsInfo",
    "analyze",
    "is_gsm7",
    "split_segments",
]

GSM7 = "gsm7"
UCS2 = "ucs2"

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

# The basic table in code-point order 0x00..0x7F (TS 23.038 §6.2.1), so it can
# be checked against the standard line by line. 0x1B is the escape to the
# extension table, not a character: it is left out.
_GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_GSM_BASIC = frozenset(_GSM_BASIC_TABLE) - {"\x1b"}
# Extension table (§6.2.1.1): each costs ESC + char = 2 septets.
_GSM_EXTENSION_CHARS = "\f^{}\\[~]|€"
_GSM_EXTENSION = frozenset(_GSM_EXTENSION_CHARS)
_GSM_ALL = _GSM_BASIC | _GSM_EXTENSION

_ESC = "\x1b"

# ASCII fast path: bytes.translate runs in C over a 256-entry table, far
# cheaper than a Python-level loop or a frozenset test per character.
_ASCII_GSM = bytes(sorted(ord(ch) for ch in _GSM_ALL if ord(ch) < 128))
_ASCII_EXTENSION = bytes(sorted(ord(ch) for ch in _GSM_EXTENSION if ord(ch) < 128))


@dataclass(frozen=True)
class SmsInfo:
    """Result of :func:`analyze`.

    :ivar encoding: :data:`GSM7` or :data:`UCS2`.
    :ivar length: units used: septets for GSM-7 (extension characters count
        2), UTF-16 code units for UCS-2.
    :ivar segments: number of SMS parts; 0 for the empty text.
    :ivar per_segment: capacity of one part actually used: 160/153 for GSM-7,
        70/67 for UCS-2 (single message vs concatenated parts).
    :ivar remaining: units still free in the last part before one more part
        would be needed.
    :ivar non_gsm_chars: distinct characters that forced UCS-2, in order of
        first appearance; empty for GSM-7.
    """

    encoding: str
    length: int
    segments: int
    per_segment: int
    remaining: int
    non_gsm_chars: tuple[str, ...]


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n")


def _gsm_scan(text: str) -> int:
    """Return the septet count of ``text``, or -1 if it is not GSM-7."""
    if text.isascii():
        data = text.encode("ascii")
        if data.translate(None, _ASCII_GSM):
            return -1
        return len(data) * 2 - len(data.translate(None, _ASCII_EXTENSION))
    if not _GSM_ALL.issuperset(text):
        return -1
    # Non-ASCII text can still hold the ASCII extension characters.
    extension = sum(text.count(ch) for ch in _GSM_EXTENSION_CHARS)
    return len(text) + extension


def _to_septets(text: str) -> str:
    """Prefix each extension character of GSM-7 ``text`` with ESC.

    The result has one str character per septet, so the cutter can index
    septets directly and see where an escape sequence starts. Ten C-level
    ``str.replace`` calls beat ``str.translate`` with a dict several times over.
    """
    for ch in _GSM_EXTENSION_CHARS:
        if ch in text:
            text = text.replace(ch, _ESC + ch)
    return text


def _cut(units: int, limit: int, splits_pair) -> list[int]:
    """Return the end offset (in units) of each part.

    Parts are filled greedily up to ``limit`` units; ``splits_pair(end)``
    tells whether cutting at ``end`` would separate the two units of one
    character, in which case the part is ended one unit earlier.
    """
    ends = []
    start = 0
    while start < units:
        end = start + limit
        if end >= units:
            end = units
        elif splits_pair(end):
            end -= 1
        ends.append(end)
        start = end
    return ends


def _gsm_cuts(septets: str, limit: int) -> list[int]:
    return _cut(len(septets), limit, lambda end: septets[end - 1] == _ESC)


def _ucs2_cuts(utf16: bytes, limit: int) -> list[int]:
    # Little-endian: the high byte of unit i is utf16[2 * i + 1]; 0xD8..0xDB
    # marks a high (leading) surrogate.
    return _cut(len(utf16) // 2, limit, lambda end: 0xD8 <= utf16[2 * end - 1] <= 0xDB)


def _utf16(text: str) -> bytes:
    # surrogatepass: a lone surrogate in the input must not crash a batch.
    return text.encode("utf-16-le", "surrogatepass")


@lru_cache(maxsize=16384)
def analyze(text: str) -> SmsInfo:
    """Work out how ``text`` would be sent as SMS.

    :param text: the message body; ``"\\r\\n"`` is counted as one newline.
    :return: an :class:`SmsInfo` with the encoding, length in units, number
        of segments, per-segment capacity, units left in the last segment and
        the characters (if any) that forced UCS-2.
    """
    text = _normalise(text)
    septets = _gsm_scan(text)
    if septets >= 0:
        if septets <= GSM7_SINGLE:
            segments = 1 if septets else 0
            return SmsInfo(GSM7, septets, segments, GSM7_SINGLE, GSM7_SINGLE - septets, ())
        if septets == len(text):
            # No escape sequence, so no cut can fall inside one.
            segments = -(-septets // GSM7_MULTI)
            last = septets - (segments - 1) * GSM7_MULTI
        else:
            ends = _gsm_cuts(_to_septets(text), GSM7_MULTI)
            segments = len(ends)
            last = ends[-1] - (ends[-2] if segments > 1 else 0)
        return SmsInfo(GSM7, septets, segments, GSM7_MULTI, GSM7_MULTI - last, ())

    # dict.fromkeys dedupes in C while keeping first-appearance order, so the
    # Python-level filter only sees the distinct characters.
    non_gsm = tuple(ch for ch in dict.fromkeys(text) if ch not in _GSM_ALL)
    utf16 = _utf16(text)
    units = len(utf16) // 2
    if units <= UCS2_SINGLE:
        return SmsInfo(UCS2, units, 1, UCS2_SINGLE, UCS2_SINGLE - units, non_gsm)
    if units == len(text):
        # BMP only: no surrogate pair to keep together.
        segments = -(-units // UCS2_MULTI)
        last = units - (segments - 1) * UCS2_MULTI
    else:
        ends = _ucs2_cuts(utf16, UCS2_MULTI)
        segments = len(ends)
        last = ends[-1] - (ends[-2] if segments > 1 else 0)
    return SmsInfo(UCS2, units, segments, UCS2_MULTI, UCS2_MULTI - last, non_gsm)


def is_gsm7(text: str) -> bool:
    """Tell whether ``text`` can be sent with the GSM-7 alphabet.

    :param text: the message body.
    :return: ``True`` if every character is in the GSM 03.38 basic or
        extension table (so :func:`analyze` would report :data:`GSM7`),
        ``False`` if the message would need UCS-2. The empty text is GSM-7.
    """
    if text.isascii():
        return not text.encode("ascii").translate(None, _ASCII_GSM)
    return _GSM_ALL.issuperset(text)


def split_segments(text: str) -> list[str]:
    """Split ``text`` into the parts a phone would receive.

    :param text: the message body; ``"\\r\\n"`` is normalised to ``"\\n"``.
    :return: the parts, in order; ``"".join()`` of them gives back the
        normalised text. An empty text gives ``[]``; a text that fits in one
        SMS gives a one-item list. ``len()`` of the result always equals
        ``analyze(text).segments``.
    """
    text = _normalise(text)
    if not text:
        return []
    septets = _gsm_scan(text)
    if septets >= 0:
        if septets <= GSM7_SINGLE:
            return [text]
        coded = _to_septets(text)
        ends = _gsm_cuts(coded, GSM7_MULTI)
        parts, start = [], 0
        for end in ends:
            parts.append(coded[start:end].replace(_ESC, ""))
            start = end
        return parts

    utf16 = _utf16(text)
    if len(utf16) // 2 <= UCS2_SINGLE:
        return [text]
    ends = _ucs2_cuts(utf16, UCS2_MULTI)
    parts, start = [], 0
    for end in ends:
        parts.append(utf16[2 * start : 2 * end].decode("utf-16-le", "surrogatepass"))
        start = end
    return parts
