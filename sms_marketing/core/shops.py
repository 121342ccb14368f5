"""Shop webhooks (Shopify, WooCommerce) as customer events: signatures and payload mapping.

A shop owner pastes our webhook URL into the shop's notification settings; the shop then
POSTs JSON for each order, payment, refund and checkout, signed with a shared secret:

* Shopify: ``X-Shopify-Hmac-SHA256`` = base64(HMAC-SHA256(secret, raw body)); the topic in
  ``X-Shopify-Topic`` (``orders/create``, ``orders/paid``, ``orders/cancelled``,
  ``refunds/create``, ``checkouts/create``, ``checkouts/update``); a redelivery keeps its
  ``X-Shopify-Webhook-Id``. https://shopify.dev/docs/apps/build/webhooks
* WooCommerce: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, raw body)); the topic
  in ``X-WC-Webhook-Topic`` (``order.created``, ``order.updated``...); each delivery has an
  ``X-WC-Webhook-Delivery-ID``. Saving a webhook in WooCommerce first sends an unsigned ping
  (``webhook_id=<n>``, form-encoded), answered with 200 and ignored.

The mappers return event dicts in the integrator API's format (``core/events.py``), with
external ids local to the shop (the Odoo layer prefixes them with the shop connection).
Amounts are strings in both shops' payloads and stay strings here: ``parse_event`` reads
them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from .events import MAX_LINES

SHOPIFY = "shopify"
WOOCOMMERCE = "woocommerce"

_WOO_PING_RE = re.compile(rb"^webhook_id=\d+$")


class ShopSignatureError(ValueError):
    """The webhook is not signed with the shop connection's secret."""


def sign(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): both shops sign this way."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(secret: str, body: bytes, signature: str | None) -> None:
    """:raises ShopSignatureError: unless ``signature`` is the body's HMAC with ``secret``"""
    if not secret or not signature:
        raise ShopSignatureError("missing signature or secret")
    if not hmac.compare_digest(sign(secret, body), signature.strip()):
        raise ShopSignatureError("signature mismatch")


def is_woocommerce_ping(body: bytes) -> bool:
    return bool(_WOO_PING_RE.match(body.strip()))


def _lines(items, sku_key="sku", name_key="name"):
    lines = []
    for item in (items or [])[:MAX_LINES]:
        if not isinstance(item, dict):
            continue
        lines.append(
            {
                "product": str(item.get(sku_key) or item.get("product_id") or "")[:256] or None,
                "name": str(item.get(name_key) or item.get("title") or "")[:256] or None,
                "quantity": item.get("quantity"),
                "price": item.get("price"),
            }
        )
    return [{key: value for key, value in line.items() if value is not None} for line in lines]


def _shopify_customer(order):
    customer = order.get("customer") or {}
    billing = order.get("billing_address") or {}
    first_last = " ".join(
        part for part in (customer.get("first_name"), customer.get("last_name")) if part
    )
    result = {
        "external_id": customer.get("id"),
        "phone": customer.get("phone") or order.get("phone") or billing.get("phone"),
        "email": customer.get("email") or order.get("email") or order.get("contact_email"),
        "name": first_last or billing.get("name"),
        "country": billing.get("country_code"),
    }
    consent = customer.get("sms_marketing_consent") or {}
    state = consent.get("state")
    if state == "subscribed":
        result["consent"] = {
            "action": "opt_in",
            "evidence": "Shopify sms_marketing_consent: subscribed ({level}, collected from "
            "{origin})".format(
                level=consent.get("opt_in_level") or "unknown level",
                origin=consent.get("consent_collected_from") or "unknown",
            ),
            "at": consent.get("consent_updated_at"),
        }
    elif state == "unsubscribed":
        result["consent"] = {"action": "opt_out", "at": consent.get("consent_updated_at")}
    return {key: value for key, value in result.items() if value not in (None, "")}


def _utm_campaign(landing_site):
    match = re.search(r"[?&]utm_campaign=([^&#]+)", landing_site or "")
    return match.group(1)[:256] if match else None


def shopify_events(topic: str, payload: dict) -> list[dict]:
    """Events for one Shopify webhook (an empty list for topics we do not use)."""
    if not isinstance(payload, dict) or "id" not in payload:
        raise ValueError("not a Shopify resource")
    resource_id = str(payload["id"])
    if topic in ("orders/create", "orders/paid", "orders/updated"):
        order = {
            "type": "order",
            "external_id": resource_id,
            "occurred_at": payload.get("processed_at") or payload.get("created_at"),
            "amount": payload.get("total_price"),
            "currency": payload.get("currency"),
            "customer": _shopify_customer(payload),
            "lines": _lines(payload.get("line_items")),
            "utm_campaign": _utm_campaign(payload.get("landing_site")),
            "data": {"name": payload.get("name")} if payload.get("name") else None,
        }
        events = [{key: value for key, value in order.items() if value is not None}]
        if topic == "orders/paid" or payload.get("financial_status") == "paid":
            events.append(
                {
                    "type": "order_paid",
                    "external_id": f"paid:{resource_id}",
                    "refers_to": resource_id,
                    "occurred_at": payload.get("updated_at") or payload.get("processed_at"),
                }
            )
        return events
    if topic == "orders/cancelled":
        return [
            {
                "type": "refund",
                "external_id": f"cancel:{resource_id}",
                "refers_to": resource_id,
                "occurred_at": payload.get("cancelled_at"),
            }
        ]
    if topic == "refunds/create":
        transactions = [
            t
            for t in payload.get("transactions") or []
            if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
        ]
        amount = sum(float(t.get("amount") or 0) for t in transactions)
        event = {
            "type": "refund",
            "external_id": f"refund:{resource_id}",
            "refers_to": str(payload.get("order_id") or ""),
            "occurred_at": payload.get("processed_at") or payload.get("created_at"),
        }
        if transactions:
            event["amount"] = amount
            event["currency"] = transactions[0].get("currency")
        return [event]
    if topic in ("checkouts/create", "checkouts/update"):
        if payload.get("completed_at"):
            return []
        customer = _shopify_customer(payload)
        if not customer:
            return []
        return [
            {
                key: value
                for key, value in {
                    "type": "cart",
                    "external_id": f"checkout:{resource_id}",
                    "occurred_at": payload.get("created_at"),
                    "amount": payload.get("total_price"),
                    "currency": payload.get("currency"),
                    "customer": customer,
                    "lines": _lines(payload.get("line_items")),
                    "recovery_url": payload.get("abandoned_checkout_url"),
                }.items()
                if value is not None
            }
        ]
    return []


def _woo_customer(order):
    billing = order.get("billing") or {}
    name = " ".join(part for part in (billing.get("first_name"), billing.get("last_name")) if part)
    result = {
        "external_id": order.get("customer_id") or None,  # 0 is a guest
        "phone": billing.get("phone"),
        "email": billing.get("email"),
        "name": name,
        "country": billing.get("country"),
    }
    return {key: value for key, value in result.items() if value not in (None, "")}


#: WooCommerce order statuses that are not (yet) an order: nothing to count.
WOO_NOT_ORDERS = ("pending", "failed", "checkout-draft", "draft", "trash")


def woocommerce_events(topic: str, payload: dict) -> list[dict]:
    """Events for one WooCommerce webhook. ``order.created`` and ``order.updated`` carry the
    whole order: each delivery gives every event it implies (the order once placed, its
    payment, its refunds, a cancellation), and idempotent ingestion keeps each one once."""
    if not isinstance(payload, dict) or "id" not in payload:
        raise ValueError("not a WooCommerce resource")
    if topic not in ("order.created", "order.updated", "order.restored"):
        return []
    order_id = str(payload["id"])
    status = payload.get("status")
    if status in WOO_NOT_ORDERS:
        return []
    events = [
        {
            key: value
            for key, value in {
                "type": "order",
                "external_id": order_id,
                "occurred_at": _woo_date(payload.get("date_created_gmt")),
                "amount": payload.get("total"),
                "currency": payload.get("currency"),
                "customer": _woo_customer(payload),
                "lines": _lines(payload.get("line_items")),
                "data": {"number": payload.get("number")} if payload.get("number") else None,
            }.items()
            if value is not None
        }
    ]
    if payload.get("date_paid_gmt"):
        events.append(
            {
                "type": "order_paid",
                "external_id": f"paid:{order_id}",
                "refers_to": order_id,
                "occurred_at": _woo_date(payload.get("date_paid_gmt")),
            }
        )
    for refund in payload.get("refunds") or []:
        if not isinstance(refund, dict) or "id" not in refund:
            continue
        events.append(
            {
                "type": "refund",
                "external_id": f"refund:{refund['id']}",
                "refers_to": order_id,
                "amount": abs(float(refund.get("total") or 0)),
                "currency": payload.get("currency"),
                "occurred_at": _woo_date(payload.get("date_modified_gmt")),
            }
        )
    if status == "cancelled":
        events.append(
            {
                "type": "refund",
                "external_id": f"cancel:{order_id}",
                "refers_to": order_id,
                "occurred_at": _woo_date(payload.get("date_modified_gmt")),
            }
        )
    return events


def _woo_date(value):
    # WooCommerce's *_gmt dates are UTC without an offset ("2026-12-04T10:00:00")
    return f"{value}Z" if isinstance(value, str) and value and value[-1].isdigit() else value
