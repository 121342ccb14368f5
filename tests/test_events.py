"""Tests for sms_marketing.core.events (pure Python, no Odoo)."""

from datetime import datetime

import pytest

from sms_marketing.core.events import (
    MAX_PAYLOAD_BYTES,
    EventError,
    parse_customer,
    parse_datetime,
    parse_event,
)

NOW = datetime(2026, 12, 4, 12, 0, 0)
CUSTOMER = {"phone": "+8613800138000"}


def event(**values):
    return (
        {"type": "order", "external_id": "1001", "amount": 10, "currency": "CNY"}
        | {"customer": CUSTOMER}
        | values
    )


def test_order_is_parsed_with_defaults():
    parsed = parse_event(event(), now=NOW)
    assert parsed.type == "order"
    assert parsed.external_id == "1001"
    assert parsed.occurred_at == NOW
    assert parsed.amount == 10.0
    assert parsed.currency == "CNY"
    assert parsed.customer.phone == "+8613800138000"
    assert parsed.payload is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-04T10:00:00Z", datetime(2026, 12, 4, 10, 0)),
        ("2026-12-04T18:00:00+08:00", datetime(2026, 12, 4, 10, 0)),
        ("2026-12-04T10:00:00", datetime(2026, 12, 4, 10, 0)),
        ("2026-12-04 05:00:00.250-05:00", datetime(2026, 12, 4, 10, 0, 0, 250000)),
        (1796378400, datetime(2026, 12, 4, 10, 0)),
    ],
)
def test_dates_become_naive_utc(value, expected):
    assert parse_datetime(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("not a dict", "invalid_type", "event"),
        ({"type": "purchase"}, "invalid_event_type", "type"),
        (event(external_id=""), "missing_field", "external_id"),
        (event(external_id="x" * 129), "too_long", "external_id"),
        (event(external_id=["1"]), "invalid_type", "external_id"),
        (event(occurred_at="yesterday"), "invalid_date", "occurred_at"),
        (event(occurred_at="2027-01-01T00:00:00Z"), "date_out_of_range", "occurred_at"),
        (event(occurred_at="1026-01-01T00:00:00Z"), "date_out_of_range", "occurred_at"),
        (event(occurred_at=float("nan")), "invalid_date", "occurred_at"),
        (event(occurred_at=True), "invalid_type", "occurred_at"),
        (event(amount="ten"), "invalid_amount", "amount"),
        (event(amount=-1), "invalid_amount", "amount"),
        (event(amount=1e300), "invalid_amount", "amount"),
        (event(amount=True), "invalid_type", "amount"),
        (event(amount=None), "missing_field", "amount"),
        (event(currency="yuan"), "too_long", "currency"),
        (event(currency="C1Y"), "invalid_currency", "currency"),
        (event(currency=None), "missing_field", "currency"),
        ({"type": "custom", "external_id": "1", "customer": CUSTOMER}, "missing_field", "name"),
        (
            {"type": "custom", "external_id": "1", "name": "a b", "customer": CUSTOMER},
            "invalid_name",
            "name",
        ),
        (
            {"type": "refund", "external_id": "r1", "customer": CUSTOMER},
            "missing_field",
            "refers_to",
        ),
        (
            {"type": "refund", "external_id": "r1", "refers_to": "r1", "customer": CUSTOMER},
            "invalid_reference",
            "refers_to",
        ),
        (event(customer=None), "missing_customer", "customer"),
        (event(customer={"name": "Only a name"}), "missing_customer", "customer"),
        (event(customer="+8613800138000"), "invalid_type", "customer"),
        (event(customer={"email": "not-an-email"}), "invalid_email", "customer.email"),
        (event(customer={"phone": 8613800138000.5}), "invalid_type", "customer.phone"),
        (event(customer={"phone": "1" * 65}), "too_long", "customer.phone"),
        (event(customer=CUSTOMER | {"country": "CHN"}), "too_long", "customer.country"),
        (event(customer=CUSTOMER | {"country": "C1"}), "invalid_country", "customer.country"),
        (event(customer=CUSTOMER | {"lang": "Chinese"}), "invalid_lang", "customer.lang"),
        (
            event(customer=CUSTOMER | {"consent": {"action": "opt_in"}}),
            "consent_evidence_required",
            "customer.consent.evidence",
        ),
        (
            event(customer=CUSTOMER | {"consent": {"action": "maybe"}}),
            "invalid_consent",
            "customer.consent.action",
        ),
        (event(lines={"product": "x"}), "invalid_type", "lines"),
        (event(lines=[{"product": "x"}] * 201), "too_many_lines", "lines"),
        (event(lines=[{"quantity": "two"}]), "invalid_amount", "lines[0].quantity"),
        (event(lines=["x"]), "invalid_type", "lines[0]"),
        (event(data=[1, 2]), "invalid_type", "data"),
        (event(data={"blob": "x" * MAX_PAYLOAD_BYTES}), "payload_too_large", "data"),
        (event(recovery_url="javascript:alert(1)"), "invalid_url", "recovery_url"),
    ],
)
def test_bad_events_are_refused_with_a_stable_code(raw, code, field):
    with pytest.raises(EventError) as caught:
        parse_event(raw, now=NOW)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_refund_without_amount_means_the_whole_order():
    parsed = parse_event(
        {"type": "refund", "external_id": "r1", "refers_to": "1001", "customer": CUSTOMER},
        now=NOW,
    )
    assert parsed.amount is None
    assert parsed.refers_to == "1001"


def test_numeric_ids_and_string_amounts_are_accepted():
    parsed = parse_event(event(external_id=1001, amount=" 12.50 "), now=NOW)
    assert parsed.external_id == "1001"
    assert parsed.amount == 12.5


def test_payload_keeps_lines_and_data_only():
    parsed = parse_event(
        event(
            lines=[{"product": "SKU-1", "name": "茶", "quantity": 2, "price": 5}],
            data={"channel": "app"},
            product="SKU-1",
        ),
        now=NOW,
    )
    assert parsed.payload == {
        "lines": [{"product": "SKU-1", "name": "茶", "quantity": 2.0, "price": 5.0}],
        "data": {"channel": "app"},
    }
    assert parsed.product == "SKU-1"


def test_customer_is_normalised_and_consent_kept_with_its_evidence():
    customer = parse_customer(
        {
            "external_id": 42,
            "email": " Ada@Example.COM ",
            "country": "cn",
            "lang": "zh_CN",
            "consent": {"action": "opt_in", "evidence": "checkout box", "at": "2026-12-01"},
        },
        now=NOW,
    )
    assert customer.external_id == "42"
    assert customer.email == "ada@example.com"
    assert customer.country == "CN"
    assert customer.consent.action == "opt_in"
    assert customer.consent.evidence == "checkout box"
    assert customer.consent.at == datetime(2026, 12, 1)


def test_opt_out_needs_no_evidence():
    customer = parse_customer({"phone": "1", "consent": {"action": "opt_out"}}, now=NOW)
    assert customer.consent.action == "opt_out"


def test_error_is_a_value_error():
    with pytest.raises(ValueError, match="invalid_event_type"):
        parse_event({"type": None}, now=NOW)


def test_refund_and_payment_may_leave_the_customer_to_their_order():
    for event_type in ("refund", "order_paid"):
        parsed = parse_event(
            {"type": event_type, "external_id": "x1", "refers_to": "1001"}, now=NOW
        )
        assert parsed.customer.is_empty


def test_only_refunds_and_payments_refer_to_an_order():
    with pytest.raises(EventError) as caught:
        parse_event(event(refers_to="1000"), now=NOW)
    assert caught.value.code == "invalid_reference"


def test_partner_id_is_read_for_trusted_callers_only():
    raw = event(customer={"partner_id": 7})
    with pytest.raises(EventError) as caught:
        parse_event(raw, now=NOW)
    assert caught.value.code == "missing_customer"
    assert parse_event(raw, now=NOW, allow_partner_id=True).customer.partner_id == 7
    with pytest.raises(EventError):
        parse_event(event(customer={"partner_id": "7"}), now=NOW, allow_partner_id=True)
