"""Tests for sms_marketing.core.shops (pure Python, no Odoo)."""

import json
from datetime import datetime

import pytest

from sms_marketing.core import shops
from sms_marketing.core.events import parse_event

NOW = datetime(2026, 12, 4, 20, 0, 0)

SHOPIFY_ORDER = {
    "id": 820982911946154508,
    "name": "#1001",
    "created_at": "2026-12-04T10:00:00-05:00",
    "processed_at": "2026-12-04T10:00:05-05:00",
    "total_price": "199.00",
    "currency": "USD",
    "financial_status": "pending",
    "landing_site": "/?utm_source=sms&utm_campaign=spring",
    "customer": {
        "id": 115310627314723954,
        "email": "ada@example.com",
        "phone": "+14155552671",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "sms_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2026-12-01T10:00:00-05:00",
            "consent_collected_from": "SHOPIFY",
        },
    },
    "line_items": [{"sku": "TEA-1", "title": "Tea", "quantity": 2, "price": "99.50"}],
}


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = json.dumps(SHOPIFY_ORDER).encode()
    signature = shops.sign("s3cret", body)
    shops.verify("s3cret", body, signature)
    for secret, sent in (("other", signature), ("s3cret", None), ("", signature)):
        with pytest.raises(shops.ShopSignatureError):
            shops.verify(secret, body, sent)
    with pytest.raises(shops.ShopSignatureError):
        shops.verify("s3cret", body + b" ", signature)


def test_known_vector():
    # echo -n 'hello' | openssl dgst -sha256 -hmac key -binary | base64
    assert shops.sign("key", b"hello") == "kwezuRXvtRcf8U2MtV+8x5jGwO8UVtZt7RpqpyOli3s="


def test_shopify_order_becomes_a_valid_order_event_with_consent():
    [event] = shops.shopify_events("orders/create", SHOPIFY_ORDER)
    parsed = parse_event(event, now=NOW)
    assert parsed.type == "order"
    assert parsed.external_id == "820982911946154508"
    assert parsed.amount == 199.0
    assert parsed.currency == "USD"
    assert parsed.occurred_at == datetime(2026, 12, 4, 15, 0, 5)
    assert parsed.utm_campaign == "spring"
    assert parsed.customer.external_id == "115310627314723954"
    assert parsed.customer.consent.action == "opt_in"
    assert "single_opt_in" in parsed.customer.consent.evidence
    assert parsed.payload["lines"] == [
        {"product": "TEA-1", "name": "Tea", "quantity": 2.0, "price": 99.5}
    ]


def test_shopify_paid_order_adds_a_payment_event():
    events = shops.shopify_events("orders/paid", SHOPIFY_ORDER)
    assert [e["type"] for e in events] == ["order", "order_paid"]
    assert events[1]["refers_to"] == "820982911946154508"


def test_shopify_refund_sums_successful_refund_transactions():
    [event] = shops.shopify_events(
        "refunds/create",
        {
            "id": 929361462,
            "order_id": 820982911946154508,
            "created_at": "2026-12-04T11:00:00-05:00",
            "transactions": [
                {"kind": "refund", "status": "success", "amount": "20.00", "currency": "USD"},
                {"kind": "refund", "status": "failure", "amount": "99.00", "currency": "USD"},
            ],
        },
    )
    parsed = parse_event(event, now=NOW)
    assert (parsed.type, parsed.amount, parsed.refers_to) == ("refund", 20.0, "820982911946154508")


def test_shopify_checkout_is_a_cart_with_its_recovery_link_until_completed():
    checkout = {
        "id": 450789469,
        "created_at": "2026-12-04T09:00:00Z",
        "total_price": "398.00",
        "currency": "USD",
        "email": "ada@example.com",
        "abandoned_checkout_url": "https://shop.example.com/42/checkouts/abc/recover?key=x",
    }
    [event] = shops.shopify_events("checkouts/update", checkout)
    parsed = parse_event(event, now=NOW)
    assert parsed.type == "cart"
    assert parsed.recovery_url.endswith("recover?key=x")
    assert shops.shopify_events("checkouts/update", checkout | {"completed_at": "x"}) == []


def test_shopify_unknown_topic_is_ignored_and_garbage_refused():
    assert shops.shopify_events("products/update", {"id": 1}) == []
    with pytest.raises(ValueError):
        shops.shopify_events("orders/create", ["not", "an", "order"])


WOO_ORDER = {
    "id": 727,
    "number": "727",
    "status": "processing",
    "currency": "EUR",
    "total": "29.35",
    "date_created_gmt": "2026-12-04T09:00:00",
    "date_modified_gmt": "2026-12-04T10:00:00",
    "date_paid_gmt": "2026-12-04T09:05:00",
    "customer_id": 26,
    "billing": {
        "first_name": "John",
        "last_name": "Doe",
        "email": "john.doe@example.com",
        "phone": "+33 6 12 34 56 78",
        "country": "FR",
    },
    "line_items": [{"sku": "", "product_id": 93, "name": "Woo Single", "quantity": 2, "price": 6}],
    "refunds": [{"id": 726, "total": "-10.00", "reason": ""}],
}


def test_woocommerce_order_gives_order_payment_and_refunds():
    events = shops.woocommerce_events("order.updated", WOO_ORDER)
    assert [(e["type"], e["external_id"]) for e in events] == [
        ("order", "727"),
        ("order_paid", "paid:727"),
        ("refund", "refund:726"),
    ]
    order, paid, refund = (parse_event(e, now=NOW) for e in events)
    assert order.occurred_at == datetime(2026, 12, 4, 9, 0)
    assert order.customer.external_id == "26"
    assert order.customer.phone == "+33 6 12 34 56 78"
    assert order.payload["lines"][0]["product"] == "93"
    assert (refund.amount, refund.refers_to) == (10.0, "727")
    assert paid.occurred_at == datetime(2026, 12, 4, 9, 5)


def test_woocommerce_pending_orders_wait_and_cancelled_ones_are_refunded():
    assert shops.woocommerce_events("order.created", WOO_ORDER | {"status": "pending"}) == []
    events = shops.woocommerce_events(
        "order.updated", WOO_ORDER | {"status": "cancelled", "refunds": [], "date_paid_gmt": None}
    )
    assert [e["external_id"] for e in events] == ["727", "cancel:727"]


def test_woocommerce_guest_has_no_customer_id_and_ping_is_recognised():
    [order] = shops.woocommerce_events(
        "order.created", WOO_ORDER | {"customer_id": 0, "refunds": [], "date_paid_gmt": None}
    )
    assert "external_id" not in order["customer"]
    assert shops.is_woocommerce_ping(b"webhook_id=15")
    assert not shops.is_woocommerce_ping(b'{"id": 1}')
