"""Phone number normalisation for SMS: one E.164 number, its type, country and time zone.

Everything that decides whether and when a partner can receive an SMS starts from the
number, so this module is the single place where raw user input becomes a canonical number.
It wraps ``phonenumbers`` (Google's libphonenumber metadata) and adds what marketers type in
practice:

* national formats with a default region (``138 0013 8000`` with ``CN``);
* international formats with ``+``, spaces, dashes, dots and brackets (``+86-138-0013-8000``);
* the ``00`` international prefix even when the default region dials out with another prefix
  (``008613800138000`` with default region ``US`` still means China);
* full-width digits and plus sign typed with a Chinese input method (``＋８６ １３８…``).

The result is a :class:`PhoneInfo` with the E.164 string (``None`` when the number cannot be
used), a normalised type, the ISO 3166-1 alpha-2 region the number belongs to, and an IANA
time zone derived from the number (used for quiet hours when the partner has none).
"""

import unicodedata
from dataclasses import dataclass

import phonenumbers
import pytz
from phonenumbers import PhoneNumberType, timezone

MOBILE = "mobile"
FIXED_LINE = "fixed_line"
FIXED_OR_MOBILE = "fixed_or_mobile"
VOIP = "voip"
OTHER = "other"
INVALID = "invalid"

#: Types an SMS can normally reach. Fixed-or-mobile is included because several numbering
#: plans (US, Canada, China's virtual operators) cannot tell the two apart from the number.
SMS_CAPABLE_TYPES = frozenset({MOBILE, FIXED_OR_MOBILE})

_TYPE_MAP = {
    PhoneNumberType.MOBILE: MOBILE,
    PhoneNumberType.FIXED_LINE: FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: FIXED_OR_MOBILE,
    PhoneNumberType.VOIP: VOIP,
}

_UNKNOWN_TZ = "Etc/Unknown"


@dataclass(frozen=True)
class PhoneInfo:
    """What one raw input says about a phone number.

    ``e164`` is set only for valid numbers; ``number_type`` is one of the module constants
    (``INVALID`` when the input is not a valid number); ``region`` is the ISO country code of
    the number (``None`` if invalid); ``time_zone`` is an IANA name or ``None`` when the
    numbering plan does not say.
    """

    e164: str | None
    number_type: str
    region: str | None
    time_zone: str | None

    @property
    def is_valid(self):
        return self.e164 is not None

    @property
    def sms_capable(self):
        return self.number_type in SMS_CAPABLE_TYPES


INVALID_INFO = PhoneInfo(None, INVALID, None, None)


def _clean(raw):
    # NFKC folds full-width digits and the full-width plus sign into ASCII.
    return unicodedata.normalize("NFKC", raw).strip()


def _parse(text, region):
    """Return ``(number, type)`` for a valid number, ``(None, None)`` otherwise."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, None
    # A number is valid exactly when its type is known (that is how is_valid_number decides),
    # so one type lookup answers both questions.
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        return None, None
    return number, number_type


# Parsing costs tens of microseconds and imports normalise each number several times (the
# file's text, then the E.164 the contact stores), so results are memoised. A number written
# with "+" reads the same whatever the default region, hence region-free keys for those.
_CACHE = {}
_CACHE_SIZE = 200_000
_MISSING = object()


def _cache_key(raw, default_region):
    if isinstance(raw, str) and raw.startswith("+"):
        return raw, None
    return raw, default_region


def normalize(raw, default_region=None):
    """Normalise one raw phone input.

    :param str raw: what the user typed or imported (may be empty or ``None``)
    :param str default_region: ISO country code used for national formats (``"CN"``), or
        ``None`` to accept only international formats
    :return: a :class:`PhoneInfo`; ``None`` when ``raw`` is empty (no number at all, which
        is not the same as an invalid one)
    """
    key = _cache_key(raw, default_region)
    try:
        info = _CACHE.get(key, _MISSING)
    except TypeError:  # unhashable input: not worth caching
        return _normalize(raw, default_region)
    if info is not _MISSING:
        return info
    info = _normalize(raw, default_region)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = info
    if info is not None and info.e164:
        _CACHE[(info.e164, None)] = info
    return info


def _normalize(raw, default_region):
    if not raw:
        return None
    text = _clean(str(raw))
    if not text:
        return None
    region = default_region.upper() if default_region else None
    number, number_type = _parse(text, region)
    if number is None:
        digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
        # "00" is the international prefix in most of the world (China, Europe); accept it even
        # when the default region dials out differently (011 in the US), as people paste it.
        if digits.startswith("00"):
            number, number_type = _parse("+" + digits[2:], None)
        elif digits and not digits.startswith("+") and region is None:
            # No region to read a national number with: try it as international without "+".
            number, number_type = _parse("+" + digits, None)
    if number is None:
        return INVALID_INFO
    region_code = phonenumbers.region_code_for_number(number)
    return PhoneInfo(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        number_type=_TYPE_MAP.get(number_type, OTHER),
        region=region_code,
        time_zone=_time_zone(number, number_type, region_code),
    )


def _time_zone(number, number_type, region_code):
    """The IANA zone of a number, or ``None`` when the numbering plan leaves it ambiguous.

    libphonenumber lists every zone a prefix may belong to (a UK mobile lists Guernsey, the
    Isle of Man, Jersey and London); the zones of the number's own country decide. When
    several remain (a US toll-free number spans the continent) we return ``None`` rather than
    guess, so quiet hours fall back to an explicit setting instead of a wrong zone.
    """
    if phonenumbers.is_number_type_geographical(number_type, number.country_code):
        # Same answer as time_zones_for_number(), without classifying the number again.
        zones = timezone.time_zones_for_geographical_number(number)
    else:
        zones = timezone.time_zones_for_number(number)
    zones = [tz for tz in zones if tz != _UNKNOWN_TZ]
    if len(zones) > 1:
        national = set(pytz.country_timezones.get(region_code, ()))
        zones = [tz for tz in zones if tz in national] or zones
    return zones[0] if len(zones) == 1 else None


def to_e164(raw, default_region=None):
    """Return the E.164 form of ``raw`` or ``None`` if it is empty or not a valid number."""
    info = normalize(raw, default_region)
    return info.e164 if info else None


def first_number(candidates, default_region=None):
    """Pick the best number among ``candidates``, in order of preference (mobile, then phone).

    The first SMS-capable number wins; failing that the first valid number (a landline, so the
    caller can explain why the partner is not reachable); failing that the first invalid
    result. Returns ``None`` when every candidate is empty.
    """
    infos = [info for info in (normalize(raw, default_region) for raw in candidates) if info]
    return (
        next((info for info in infos if info.sms_capable), None)
        or next((info for info in infos if info.is_valid), None)
        or (infos[0] if infos else None)
    )
