import json
import re
from datetime import timedelta
from pathlib import Path

import jsonschema
import yaml
from openapi_spec_validator import validate as validate_spec

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..core import shops as core_shops
from .common import SmsMarketingCommon

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
PREFIX = "/sms_marketing/api/v1"


def _resolve(node, spec):
    """The spec with every local ``$ref`` replaced by its target (no recursion in ours)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target, spec)
        return {key: _resolve(value, spec) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, spec) for value in node]
    return node


class SpecChecker:
    """Validates requests and answers against ``docs/openapi.yaml`` (OpenAPI 3.1, whose
    schemas are JSON Schema 2020-12), so the spec cannot drift from the code."""

    def __init__(self):
        raw = yaml.safe_load(SPEC_PATH.read_text())
        validate_spec(raw)
        self.spec = _resolve(raw, raw)
        self.routes = [
            (re.compile("^" + re.sub(r"\{\w+\}", r"[^/]+", path) + "$"), item)
            for path, item in self.spec["paths"].items()
        ]

    def operation(self, method, path):
        for pattern, item in self.routes:
            if pattern.match(path):
                return item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the spec")

    def check_request(self, method, path, body):
        operation = self.operation(method, path)
        if body is not None and "requestBody" in operation:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)

    def check_response(self, method, path, status, body):
        responses = self.operation(method, path)["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} not in the spec"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


@tagged("post_install", "-at_install")
class TestIntegratorApi(HttpCase, SmsMarketingCommon):
    """The integrator API end to end over HTTP, every request and answer checked against
    the OpenAPI spec."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec = SpecChecker()
        cls.cur = cls.company.currency_id.name
        cls.env["ir.config_parameter"].sudo().set_param("sms_marketing.api_rate_limit", 0)
        cls.user_marketing.company_ids |= cls.company
        cls.key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.user_marketing)
            ._generate("sms_marketing", "shop", fields.Datetime.now() + timedelta(days=1))
        )
        cls.manager_key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.user_manager)
            ._generate("sms_marketing", "shop", fields.Datetime.now() + timedelta(days=1))
        )

    def call(self, method, path, body=None, key=None, raw=None, headers=None, validate=True):
        if validate and raw is None:
            self.spec.check_request(method, path, body)
        all_headers = {"Content-Type": "application/json"}
        if key is not False:
            all_headers["Authorization"] = f"Bearer {key or self.key}"
        all_headers.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.opener.request(
            method, self.base_url() + PREFIX + path, data=data, headers=all_headers, timeout=30
        )
        answer = response.json()
        self.spec.check_response(method, path, response.status_code, answer)
        return response.status_code, answer

    def order(self, external_id, **values):
        return {
            "type": "order",
            "external_id": external_id,
            "amount": 88,
            "currency": self.cur,
            "customer": {"phone": "+8613800138000"},
        } | values

    def test_api_key_is_required_and_scoped_keys_do_not_open_rpc(self):
        status, answer = self.call("POST", "/events", {"events": [self.order("1")]}, key=False)
        self.assertEqual((status, answer["error"]["code"]), (401, "unauthorized"))
        status, _answer = self.call("POST", "/events", {"events": [self.order("1")]}, key="nope")
        self.assertEqual(status, 401)
        # the scoped key is refused by Odoo's RPC
        self.assertFalse(
            self.env["res.users.apikeys"]._check_credentials(scope="rpc", key=self.key)
        )

    def test_a_revoked_key_is_refused_at_once_after_being_accepted(self):
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.user_marketing)
            ._generate("sms_marketing", "tmp", fields.Datetime.now() + timedelta(days=1))
        )
        for _attempt in range(2):  # the second one is accepted without PBKDF2
            status, _answer = self.call("POST", "/events", {"events": [self.order("9")]}, key=key)
            self.assertEqual(status, 200)
        # a wrong key sharing the index never rides on the verified one
        status, _answer = self.call(
            "POST", "/events", {"events": [self.order("9")]}, key=key[:8] + "0" * 32
        )
        self.assertEqual(status, 401)
        self.env["res.users.apikeys"].search([("name", "=", "tmp")]).sudo()._remove()
        status, answer = self.call("POST", "/events", {"events": [self.order("9")]}, key=key)
        self.assertEqual((status, answer["error"]["code"]), (401, "unauthorized"))

    def test_user_without_the_right_gets_403(self):
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.user_employee)
            ._generate("sms_marketing", "x", fields.Datetime.now() + timedelta(days=1))
        )
        status, answer = self.call("POST", "/events", {"events": [self.order("1")]}, key=key)
        self.assertEqual((status, answer["error"]["code"]), (403, "forbidden"))
        status, _answer = self.call("POST", "/messages", {"to": "+8613800138000", "body": "Hi"})
        self.assertEqual(status, 403, "transactional SMS need a manager")

    def test_post_events_answers_per_event_and_credits_the_clicked_campaign(self):
        campaign = self.env["sms.marketing.campaign"].create({"name": "Spring", "body": "Hi"})
        trace = self.env["sms.marketing.trace"].create(
            {
                "partner_id": self.partner_cn.id,
                "number": self.partner_cn.sms_e164,
                "body": "Hi",
                "state": "delivered",
                "campaign_id": campaign.id,
                "sent_at": fields.Datetime.now() - timedelta(days=1),
                "clicked_at": fields.Datetime.now() - timedelta(hours=3),
            }
        )
        status, answer = self.call(
            "POST",
            "/events",
            {"events": [self.order("A-1"), {"type": "order", "external_id": "A-2"}]},
        )
        self.assertEqual(status, 200)
        self.assertEqual((answer["created"], answer["rejected"]), (1, 1))
        self.assertEqual(answer["results"][1]["code"], "missing_field")
        self.assertEqual(trace.revenue, 88.0)
        self.assertEqual(campaign.kpi_revenue, 88.0)
        status, again = self.call("POST", "/events", {"events": [self.order("A-1")]})
        self.assertEqual(again["results"][0]["status"], "duplicate")
        self.assertEqual(again["results"][0]["id"], answer["results"][0]["id"])

    def test_idempotency_key_replays_the_first_answer(self):
        body = {"events": [self.order("I-1")]}
        headers = {"Idempotency-Key": "req-1"}
        _status, first = self.call("POST", "/events", body, headers=headers)
        status, second = self.call("POST", "/events", body, headers=headers)
        self.assertEqual(second, first)
        self.assertEqual(second["results"][0]["status"], "created")
        status, answer = self.call(
            "POST", "/events", {"events": [self.order("I-2")]}, headers=headers
        )
        self.assertEqual((status, answer["error"]["code"]), (422, "idempotency_key_reused"))

    @mute_logger("odoo.http")
    def test_bad_input_gets_its_code_never_a_500(self):
        cases = [
            (b"{not json", 400, "invalid_json"),
            (b"[1, 2]", 400, "invalid_request"),
            (b"", 400, "invalid_json"),
            (json.dumps({"events": "x"}).encode(), 400, "invalid_request"),
            (
                json.dumps({"events": [self.order(str(i)) for i in range(1001)]}).encode(),
                413,
                "too_many_items",
            ),
            (b"x" * (6 * 1024 * 1024), 413, "payload_too_large"),
        ]
        for raw, expected_status, code in cases:
            with self.subTest(code=code, size=len(raw)):
                status, answer = self.call("POST", "/events", raw=raw)
                self.assertEqual((status, answer["error"]["code"]), (expected_status, code))
        status, answer = self.call(
            "POST",
            "/events",
            {"events": [self.order("F-1", amount="lots", currency="ZZZ", customer={"phone": 1})]},
            validate=False,
        )
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["status"], "rejected")

    def test_rate_limit_answers_429(self):
        self.env["ir.config_parameter"].sudo().set_param("sms_marketing.api_rate_limit", 2)
        statuses = [
            self.call("POST", "/events", {"events": [self.order(f"R-{i}")]})[0] for i in range(3)
        ]
        self.assertEqual(statuses, [200, 200, 429])

    def test_contacts_upsert_with_tags_and_consent(self):
        status, answer = self.call(
            "POST",
            "/contacts",
            {
                "contacts": [
                    {"phone": "+8613800138000", "tags": ["VIP"]},
                    {
                        "phone": "+8613900139123",
                        "name": "新客户",
                        "tags": ["VIP", "New"],
                        "consent": {"action": "opt_in", "evidence": "Signup form, box ticked"},
                    },
                    {"name": "nobody"},
                ]
            },
        )
        self.assertEqual(status, 200)
        self.assertEqual(
            [r["status"] for r in answer["results"]], ["updated", "created", "rejected"]
        )
        self.assertEqual(answer["results"][0]["id"], self.partner_cn.id)
        self.assertIn("VIP", self.partner_cn.sms_tag_ids.mapped("name"))
        new = self.env["res.partner"].browse(answer["results"][1]["id"])
        self.assertEqual(new.sms_consent_state, "opted_in")
        self.assertEqual(sorted(new.sms_tag_ids.mapped("name")), ["New", "VIP"])

    def test_consent_opt_out_and_opt_in_needs_evidence(self):
        status, answer = self.call(
            "POST", "/consent", {"phone": "+8613800138000", "action": "opt_out"}
        )
        self.assertEqual((status, answer["consent_state"]), (200, "opted_out"))
        self.assertTrue(self.is_blacklisted("+8613800138000"))
        status, answer = self.call(
            "POST", "/consent", {"phone": "+8613800138000", "action": "opt_in"}
        )
        self.assertEqual((status, answer["error"]["code"]), (422, "consent_evidence_required"))

    def test_transactional_message_by_template_goes_to_the_queue(self):
        template = self.env["sms.template"].create(
            {
                "name": "Shipped",
                "model_id": self.env.ref("base.model_res_partner").id,
                "body": "{{ first_name }}, order {{ order }} has shipped.",
            }
        )
        status, answer = self.call(
            "POST",
            "/messages",
            {"to": "+8613800138000", "template": template.id, "values": {"order": "SO42"}},
            key=self.manager_key,
        )
        self.assertEqual(status, 201)
        trace = self.env["sms.marketing.trace"].browse(answer["id"])
        self.assertEqual(trace.body, "王伟, order SO42 has shipped.")
        self.assertEqual((trace.message_class, trace.state), ("transactional", "queued"))
        self.assertEqual(trace.partner_id, self.partner_cn)
        status, answer = self.call("GET", f"/messages/{trace.id}", key=self.manager_key)
        self.assertEqual((status, answer["state"]), (200, "queued"))
        status, answer = self.call(
            "POST", "/messages", {"to": "12", "body": "x"}, key=self.manager_key
        )
        self.assertEqual((status, answer["error"]["code"]), (422, "invalid_phone"))
        status, answer = self.call("GET", "/messages/999999999", key=self.manager_key)
        self.assertEqual(status, 404)

    def test_flows_are_listed_and_take_contacts(self):
        Flow = self.env["sms.marketing.automation"]
        flow = Flow.create({"name": "Shop signups", "trigger": "manual", "reentry": "once"})
        self.env["sms.marketing.automation.step"].create(
            {"automation_id": flow.id, "step_type": "wait", "wait_amount": 1}
        )
        flow.action_start()
        stopped = Flow.create({"name": "Old", "trigger": "manual"})
        stopped.action_stop()
        status, answer = self.call("GET", "/flows")
        self.assertEqual(status, 200)
        listed = {item["id"]: item for item in answer["flows"]}
        self.assertEqual(listed[flow.id]["state"], "running")
        self.assertNotIn(stopped.id, listed)
        self.partner_us._sms_consent_set("opt_out", "manual", evidence="asked")
        body = {
            "contacts": [
                {"phone": "+8613800138000"},
                {"phone": "+8613911112222", "name": "New Shopper"},
                {"phone": self.partner_us.sms_e164},
                {"phone": "12"},
            ]
        }
        status, answer = self.call("POST", f"/flows/{flow.id}/enrollments", body)
        self.assertEqual(status, 200)
        results = answer["results"]
        self.assertEqual(
            [(r["status"], r.get("code")) for r in results],
            [
                ("enrolled", None),
                ("enrolled", None),
                ("not_enrolled", "opted_out"),
                ("rejected", "invalid_phone"),
            ],
        )
        self.assertEqual(
            sorted(flow.enrollment_ids.partner_id.ids), sorted(r["contact_id"] for r in results[:2])
        )
        newcomer = self.env["res.partner"].browse(results[1]["contact_id"])
        self.assertEqual((newcomer.name, newcomer.sms_consent_state), ("New Shopper", "unknown"))
        status, answer = self.call(
            "POST", f"/flows/{flow.id}/enrollments", {"contacts": [{"phone": "+8613800138000"}]}
        )
        self.assertEqual(answer["results"][0]["code"], "already_enrolled", "once ever")
        status, answer = self.call(
            "POST", "/flows/999999/enrollments", {"contacts": [{"phone": "+8613800138000"}]}
        )
        self.assertEqual((status, answer["error"]["code"]), (404, "not_found"))
        status, answer = self.call(
            "POST", f"/flows/{stopped.id}/enrollments", {"contacts": [{"phone": "+8613800138000"}]}
        )
        self.assertEqual((status, answer["error"]["code"]), (409, "not_eligible"))


@tagged("post_install", "-at_install")
class TestShopWebhooks(HttpCase, SmsMarketingCommon):
    """Shopify and WooCommerce webhooks: verified, deduplicated, mapped to events."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec = SpecChecker()
        cls.cur = cls.company.currency_id.name
        cls.shopify = cls.env["sms.marketing.shop"].create(
            {"name": "Tea shop", "platform": "shopify", "secret": "shpss_test"}
        )
        cls.woo = cls.env["sms.marketing.shop"].create(
            {"name": "Woo shop", "platform": "woocommerce", "secret": "woo_secret"}
        )

    def post(self, shop, payload, headers, secret=None, raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        header = "X-Shopify-Hmac-SHA256" if shop.platform == "shopify" else "X-WC-Webhook-Signature"
        all_headers = {"Content-Type": "application/json", **headers}
        all_headers[header] = core_shops.sign(secret or shop.secret, body)
        path = f"/webhooks/{shop.platform}/{shop.webhook_token}"
        response = self.url_open(PREFIX + path, data=body, headers=all_headers, timeout=30)
        answer = response.json()
        self.spec.check_response("POST", path, response.status_code, answer)
        return response.status_code, answer

    def shopify_order(self):
        return {
            "id": 5001,
            "created_at": fields.Datetime.now().isoformat() + "Z",
            "total_price": "128.00",
            "currency": self.cur,
            "customer": {"id": 77, "phone": "+8613800138000"},
            "line_items": [{"sku": "TEA", "title": "Tea", "quantity": 1, "price": "128.00"}],
        }

    def test_shopify_order_becomes_an_event_once(self):
        headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "wh-1"}
        status, answer = self.post(self.shopify, self.shopify_order(), headers)
        self.assertEqual((status, answer["received"], answer["duplicate"]), (200, 1, False))
        event = self.env["sms.marketing.event"].search([("source", "=", "shopify")])
        self.assertEqual(event.partner_id, self.partner_cn)
        self.assertEqual(event.amount, 128.0)
        self.assertEqual(event.external_id, f"{self.shopify.id}:5001")
        status, answer = self.post(self.shopify, self.shopify_order(), headers)
        self.assertTrue(answer["duplicate"])
        self.assertEqual(
            self.env["sms.marketing.event"].search_count([("source", "=", "shopify")]), 1
        )

    @mute_logger("odoo.addons.sms_marketing.controllers.api")
    def test_forged_webhook_is_refused_and_changes_nothing(self):
        status, answer = self.post(
            self.shopify, self.shopify_order(), {"X-Shopify-Topic": "orders/create"}, secret="x"
        )
        self.assertEqual((status, answer["error"]["code"]), (401, "unauthorized"))
        self.assertFalse(self.env["sms.marketing.event"].search([("source", "=", "shopify")]))
        response = self.url_open(f"{PREFIX}/webhooks/shopify/unknown-token", data=b"{}")
        self.assertEqual(response.status_code, 404)

    def test_woocommerce_order_with_refund_and_ping(self):
        response = self.url_open(
            f"{PREFIX}/webhooks/woocommerce/{self.woo.webhook_token}",
            data=b"webhook_id=12",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status_code, 200)
        order = {
            "id": 727,
            "status": "processing",
            "currency": self.cur,
            "total": "100.00",
            "customer_id": 0,
            "billing": {"phone": "+8613800138000", "email": "wang@example.com"},
            "refunds": [{"id": 800, "total": "-25.00"}],
        }
        status, answer = self.post(
            self.woo,
            order,
            {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "d1"},
        )
        self.assertEqual((status, answer["received"], answer["rejected"]), (200, 2, 0))
        events = self.env["sms.marketing.event"].search([("source", "=", "woocommerce")])
        self.assertEqual(sorted(events.mapped("type")), ["order", "refund"])
        self.assertEqual(sum(events.mapped("revenue")), 75.0)


@tagged("post_install", "-at_install")
class TestApiKeyScope(SmsMarketingCommon):
    def test_scoped_key_dialog_makes_a_key_for_this_api_only(self):
        user = new_test_user(
            self.env,
            login="sms_integrator",
            groups="base.group_user,sms_marketing.group_sms_marketing_user",
        )
        wizard = (
            self.env["res.users.apikeys.description"]
            .with_user(user)
            .create({"name": "Shop", "sms_marketing_only": True, "duration": "7"})
        )
        # check_identity needs a request: call the undecorated body
        action = type(wizard).make_key.__wrapped__(wizard)
        key = action["context"]["default_key"]
        Keys = self.env["res.users.apikeys"]
        self.assertEqual(Keys._check_credentials(scope="sms_marketing", key=key), user.id)
        self.assertFalse(Keys._check_credentials(scope="rpc", key=key))
