"""Customer events (orders, carts, views, signups) as plain values: parsing and validation.

The integrator API, the shop webhooks and Odoo's own sales all hand events to
``sms.marketing.event._ingest`` as dicts; :func:`parse_event` turns one such dict into a
:class:`ParsedEvent` or raises :class:`EventError` with a stable ``code`` (the API answers
it per event, the Odoo layer translates its message). Nothing here touches the database:
currencies are checked for shape here and for existence by the caller.

An event dict (JSON)::

    {
      "type": "order",                      # see EVENT_TYPES
      "external_id": "1001",                # idempotency key within (company, source)
      "occurred_at": "2026-12-04T10:00:00+08:00",   # ISO 8601; default: now
      "amount": 99.5, "currency": "CNY",    # orders, refunds, carts
      "refers_to": "1001",                  # refunds / order_paid: the order's external_id
      "name": "loyalty_signup",             # custom events only
      "utm_campaign": "spring",
      "customer": {"external_id": "c-42", "phone": "+8613800138000", "email": "...",
                   "name": "...", "country": "CN", "lang": "zh_CN",
                   "consent": {"action": "opt_in", "evidence": "...", "at": "..."}},
      "lines": [{"product": "SKU-1", "name": "Tea", "quantity": 2, "price": 10.0}],
      "product": "SKU-1",                   # product_view: the product seen
      "recovery_url": "https://...",        # cart_abandoned: the link back to the cart
      "data": {...}                         # anything else, kept in the payload
    }
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EVENT_TYPES = (
    "signup",
    "order",
    "order_paid",
    "refund",
    "cart",
    "cart_abandoned",
    "product_view",
    "custom",
)
#: Event types whose amount is revenue (a refund takes it back).
REVENUE_TYPES = ("order", "refund")
#: Types that refer to an order by its external id.
REFERRING_TYPES = ("refund", "order_paid")
CONSENT_ACTIONS = ("opt_in", "opt_out", "request")

MAX_EXTERNAL_ID = 128
MAX_NAME = 64
MAX_TEXT = 256
MAX_LINES = 200
MAX_URL = 2048
#: Size limit of the payload kept with an event (order lines and ``data``), JSON bytes.
MAX_PAYLOAD_BYTES = 16 * 1024
#: Amounts beyond this are typos or attacks, not orders.
MAX_AMOUNT = 1e12
#: Events dated further in the future than this are refused (clock skew is tolerated).
FUTURE_TOLERANCE = timedelta(minutes=10)
#: ... and events older than this (a mistyped year).
MAX_AGE = timedelta(days=3650)

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Z][A-Za-z]{1,3})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_BAD_TEXT_RE = re.compile("[\x00\ud800-\udfff]")


class EventError(ValueError):
    """An event that cannot be accepted. ``code`` is stable (API answers, tests); ``field``
    names the offending key (dotted for nested ones); the message is English developer text."""

    def __init__(self, code: str, field: str = "", message: str = ""):
        super().__init__(message or f"{code}: {field}")
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Consent:
    action: str
    evidence: str
    at: datetime | None


@dataclass(frozen=True)
class Customer:
    partner_id: int | None = None
    external_id: str | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    country: str | None = None
    lang: str | None = None
    consent: Consent | None = None

    @property
    def is_empty(self):
        return not (self.partner_id or self.external_id or self.phone or self.email)


@dataclass(frozen=True)
class ParsedEvent:
    """A valid event. ``occurred_at`` is naive UTC (Odoo's convention); ``amount`` is in
    ``currency`` (``None`` when the event has no amount)."""

    type: str
    external_id: str
    occurred_at: datetime
    amount: float | None = None
    currency: str | None = None
    name: str | None = None
    refers_to: str | None = None
    utm_campaign: str | None = None
    product: str | None = None
    recovery_url: str | None = None
    customer: Customer = field(default_factory=Customer)
    payload: dict | None = None
    #: ``payload`` as JSON text (serialised once, to check its size, and stored as such)
    payload_json: str | None = field(default=None, repr=False, compare=False)


def _text(raw, key, limit, required=False):
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise EventError("missing_field", key)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventError("invalid_type", key)
    value = str(value).strip()
    if _BAD_TEXT_RE.search(value):
        # NUL and lone surrogates cannot be stored (PostgreSQL text, UTF-8)
        raise EventError("invalid_text", key)
    if not value:
        if required:
            raise EventError("missing_field", key)
        return None
    if len(value) > limit:
        raise EventError("too_long", key)
    return value


def parse_datetime(value, key="occurred_at", now=None):
    """An ISO 8601 timestamp (``Z`` or an offset; without one it is read as UTC) or epoch
    seconds, as naive UTC; refused when far in the future or absurdly old."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventError("invalid_type", key)
    try:
        if isinstance(value, str):
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            when = datetime.fromisoformat(text)
            if when.tzinfo is not None:
                when = when.astimezone(UTC).replace(tzinfo=None)
        else:
            if not math.isfinite(value):
                raise ValueError(value)
            when = datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError) as exc:
        raise EventError("invalid_date", key) from exc
    if when > now + FUTURE_TOLERANCE or when < now - MAX_AGE:
        raise EventError("date_out_of_range", key)
    return when


def parse_amount(value, key="amount"):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EventError("invalid_type", key)
    if not isinstance(value, str | int | float):
        raise EventError("invalid_amount", key)
    try:
        value = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError) as exc:
        raise EventError("invalid_amount", key) from exc
    if not math.isfinite(value):
        raise EventError("invalid_amount", key)
    if value < 0 or value > MAX_AMOUNT:
        raise EventError("invalid_amount", key)
    return float(value)


def _parse_consent(raw, now):
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise EventError("invalid_type", "customer.consent")
    action = raw.get("action")
    if action not in CONSENT_ACTIONS:
        raise EventError("invalid_consent", "customer.consent.action")
    evidence = _text(raw, "evidence", 2000)
    if action == "opt_in" and not evidence:
        # an order is not consent: an opt-in needs its proof (checkbox text, form, IP...)
        raise EventError("consent_evidence_required", "customer.consent.evidence")
    at = raw.get("at")
    return Consent(
        action=action,
        evidence=evidence or "",
        at=parse_datetime(at, "customer.consent.at", now) if at not in (None, "") else None,
    )


def parse_customer(raw, now=None, allow_partner_id=False):
    """The ``customer`` object of an event (or of a contact upsert). ``partner_id`` (the
    contact's database id) is only read for trusted callers (Odoo's own sales), never from
    the API, so an integrator cannot attach events to contacts it does not know."""
    if raw is None:
        return Customer()
    if not isinstance(raw, dict):
        raise EventError("invalid_type", "customer")
    partner_id = raw.get("partner_id") if allow_partner_id else None
    if partner_id is not None and (isinstance(partner_id, bool) or not isinstance(partner_id, int)):
        raise EventError("invalid_type", "customer.partner_id")
    prefixed = {}
    for key, limit in (("external_id", MAX_EXTERNAL_ID), ("phone", 64), ("email", MAX_TEXT)):
        try:
            prefixed[key] = _text(raw, key, limit)
        except EventError as exc:
            raise EventError(exc.code, f"customer.{key}") from exc
    try:
        name = _text(raw, "name", MAX_TEXT)
        country = _text(raw, "country", 2)
        lang = _text(raw, "lang", 16)
    except EventError as exc:
        raise EventError(exc.code, f"customer.{exc.field}") from exc
    email = prefixed["email"]
    if email and not _EMAIL_RE.match(email):
        raise EventError("invalid_email", "customer.email")
    if country and not _COUNTRY_RE.match(country):
        raise EventError("invalid_country", "customer.country")
    if lang and not _LANG_RE.match(lang):
        raise EventError("invalid_lang", "customer.lang")
    return Customer(
        partner_id=partner_id or None,
        external_id=prefixed["external_id"],
        phone=prefixed["phone"],
        email=email.lower() if email else None,
        name=name,
        country=country.upper() if country else None,
        lang=lang,
        consent=_parse_consent(raw.get("consent"), now),
    )


def _parse_lines(raw):
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise EventError("invalid_type", "lines")
    if len(raw) > MAX_LINES:
        raise EventError("too_many_lines", "lines")
    lines = []
    for index, line in enumerate(raw):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise EventError("invalid_type", where)
        try:
            product = _text(line, "product", MAX_TEXT)
            name = _text(line, "name", MAX_TEXT)
            quantity = parse_amount(line.get("quantity"), "quantity")
            price = parse_amount(line.get("price"), "price")
        except EventError as exc:
            raise EventError(exc.code, f"{where}.{exc.field}") from exc
        lines.append(
            {
                key: value
                for key, value in (
                    ("product", product),
                    ("name", name),
                    ("quantity", quantity),
                    ("price", price),
                )
                if value is not None
            }
        )
    return lines


def parse_event(raw, now=None, allow_partner_id=False):
    """Validate one event dict (see the module docstring) into a :class:`ParsedEvent`.

    A refund or payment may leave out its customer: it is the customer of the order it
    refers to.

    :raises EventError: with the first problem found
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if not isinstance(raw, dict):
        raise EventError("invalid_type", "event")
    event_type = raw.get("type")
    if event_type not in EVENT_TYPES:
        raise EventError("invalid_event_type", "type")
    external_id = _text(raw, "external_id", MAX_EXTERNAL_ID, required=True)
    occurred = raw.get("occurred_at")
    occurred_at = parse_datetime(occurred, now=now) if occurred not in (None, "") else now
    name = _text(raw, "name", MAX_NAME, required=event_type == "custom")
    if name and not _NAME_RE.match(name):
        raise EventError("invalid_name", "name")
    amount = parse_amount(raw.get("amount"))
    currency = _text(raw, "currency", 3)
    if currency:
        currency = currency.upper()
        if not _CURRENCY_RE.match(currency):
            raise EventError("invalid_currency", "currency")
    if amount is not None and not currency:
        raise EventError("missing_field", "currency")
    if event_type == "order" and amount is None:
        raise EventError("missing_field", "amount")
    refers_to = _text(raw, "refers_to", MAX_EXTERNAL_ID, required=event_type == "refund")
    if refers_to and event_type not in REFERRING_TYPES:
        raise EventError("invalid_reference", "refers_to")
    if event_type == "refund" and refers_to == external_id:
        raise EventError("invalid_reference", "refers_to")
    recovery_url = _text(raw, "recovery_url", MAX_URL)
    if recovery_url and not recovery_url.startswith(("https://", "http://")):
        raise EventError("invalid_url", "recovery_url")
    customer = parse_customer(raw.get("customer"), now, allow_partner_id)
    if customer.is_empty and not (event_type in REFERRING_TYPES and refers_to):
        raise EventError("missing_customer", "customer")
    lines = _parse_lines(raw.get("lines"))
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise EventError("invalid_type", "data")
    payload = {}
    dumped = None
    if lines:
        payload["lines"] = lines
    if data:
        payload["data"] = data
    if payload:
        where = "data" if data else "lines"
        try:
            dumped = json.dumps(payload, ensure_ascii=False)
            size = len(dumped.encode())
        except (UnicodeEncodeError, ValueError, TypeError, RecursionError) as exc:
            raise EventError("invalid_text", where) from exc
        if "\\u0000" in dumped:  # jsonb refuses NUL
            raise EventError("invalid_text", where)
        if size > MAX_PAYLOAD_BYTES:
            raise EventError("payload_too_large", where)
    return ParsedEvent(
        type=event_type,
        external_id=external_id,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency,
        name=name,
        refers_to=refers_to,
        utm_campaign=_text(raw, "utm_campaign", MAX_TEXT),
        product=_text(raw, "product", MAX_TEXT),
        recovery_url=recovery_url,
        customer=customer,
        payload=payload or None,
        payload_json=dumped,
    )
