import base64
import hashlib
import hmac
import json

from odoo.tests import HttpCase, tagged

from .common import SmsMarketingDispatchCommon

WEBHOOK_LOGGER = "odoo.addons.sms_marketing.controllers.webhook"


def twilio_signature(token, url, params):
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@tagged("post_install", "-at_install")
class TestWebhooks(SmsMarketingDispatchCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twilio = cls.env["sms.marketing.gateway"].create(
            {
                "name": "Twilio",
                "provider": "twilio",
                "sender": "+14155550100",
                "twilio_account_sid": "AC123",
                "twilio_auth_token": "secret-token",
            }
        )
        cls.http_gateway = cls.env["sms.marketing.gateway"].create(
            {
                "name": "Operator",
                "provider": "http",
                "http_url": "http://127.0.0.1:9/send",
                "http_webhook_secret": "shared-secret",
            }
        )

    def webhook_url(self, gateway, kind):
        return f"{self.base_url()}/sms_marketing/webhook/{gateway.sudo().webhook_token}/{kind}"

    def post_twilio(self, kind, params, signature=None, query=""):
        url = self.webhook_url(self.twilio, kind) + query
        headers = {}
        if signature is not False:
            headers["X-Twilio-Signature"] = signature or twilio_signature(
                "secret-token", url, params
            )
        return self.url_open(url, data=params, headers=headers)

    def sent_trace(self, gateway, provider_id):
        trace = self.queue(self.partner_us)
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET state = 'sent', gateway_id = %s, provider_id = %s"
            " WHERE id = %s",
            [gateway.id, provider_id, trace.id],
        )
        self.env.invalidate_all()
        return trace

    def test_twilio_status_callback_signed_is_applied_and_replay_changes_nothing(self):
        trace = self.sent_trace(self.twilio, "SM1")
        params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+14155552671"}
        response = self.post_twilio("status", params)
        self.assertEqual(response.status_code, 204)
        self.env.invalidate_all()
        self.assertEqual(trace.state, "delivered")
        late = {"MessageSid": "SM1", "MessageStatus": "sent", "To": "+14155552671"}
        self.assertEqual(self.post_twilio("status", late).status_code, 204)
        self.env.invalidate_all()
        self.assertEqual(trace.state, "delivered", "a late 'sent' never moves it back")

    def test_forged_or_unsigned_requests_get_403_and_change_nothing(self):
        trace = self.sent_trace(self.twilio, "SM2")
        params = {"MessageSid": "SM2", "MessageStatus": "failed"}
        forged = twilio_signature("wrong-token", self.webhook_url(self.twilio, "status"), params)
        with self.assertLogs(WEBHOOK_LOGGER, "WARNING") as logs:
            self.assertEqual(
                self.post_twilio("status", params, signature="Zm9yZ2Vk").status_code, 403
            )
            self.assertEqual(self.post_twilio("status", params, signature=False).status_code, 403)
            self.assertEqual(self.post_twilio("status", params, signature=forged).status_code, 403)
        self.assertEqual(len(logs.records), 3, "each refusal is logged")
        self.env.invalidate_all()
        self.assertEqual(trace.state, "sent")

    def test_unknown_token_gets_403(self):
        response = self.url_open(
            f"{self.base_url()}/sms_marketing/webhook/{'x' * 32}/status", data={"a": "b"}
        )
        self.assertEqual(response.status_code, 403)

    def test_report_carrying_our_reference_settles_an_unknown_trace(self):
        trace = self.queue(self.partner_us)
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET state = 'unknown', gateway_id = %s WHERE id = %s",
            [self.twilio.id, trace.id],
        )
        params = {"MessageSid": "SM9", "MessageStatus": "delivered"}
        response = self.post_twilio("status", params, query=f"?sms_ref={trace.id}")
        self.assertEqual(response.status_code, 204)
        self.env.invalidate_all()
        self.assertEqual((trace.state, trace.provider_id), ("delivered", "SM9"))

    def test_twilio_inbound_stop_opts_out_and_answers_empty_twiml(self):
        self.partner_us._sms_consent_set("opt_in", "form", evidence="web")
        params = {
            "MessageSid": "SMin1",
            "From": "+14155552671",
            "To": "+14155550100",
            "Body": "Stop",
        }
        response = self.post_twilio("inbound", params)
        self.assertEqual(response.status_code, 200)
        self.assertIn("<Response", response.text)
        self.env.invalidate_all()
        self.assertEqual(self.partner_us.sms_consent_state, "opted_out")
        # replayed by Twilio: stored once, answered once
        self.post_twilio("inbound", params)
        inbound = self.env["sms.marketing.inbound"].search([("provider_id", "=", "SMin1")])
        self.assertEqual(len(inbound), 1)

    def test_generic_http_webhook_requires_the_hmac_of_the_body(self):
        trace = self.sent_trace(self.http_gateway, "OP-1")
        body = json.dumps({"id": "OP-1", "status": "delivered"}).encode()
        url = self.webhook_url(self.http_gateway, "status")
        with self.assertLogs(WEBHOOK_LOGGER, "WARNING"):
            bad = self.url_open(
                url,
                data=body,
                headers={"X-Signature": "00" * 32, "Content-Type": "application/json"},
            )
        self.assertEqual(bad.status_code, 403)
        signature = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
        good = self.url_open(
            url, data=body, headers={"X-Signature": signature, "Content-Type": "application/json"}
        )
        self.assertEqual(good.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(trace.state, "delivered")

    def test_malformed_payload_gets_400(self):
        body = b"not json"
        signature = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
        with self.assertLogs(WEBHOOK_LOGGER, "WARNING"):
            response = self.url_open(
                self.webhook_url(self.http_gateway, "status"),
                data=body,
                headers={"X-Signature": signature, "Content-Type": "application/json"},
            )
        self.assertEqual(response.status_code, 400)

    def test_simulator_json_inbound_reply_reaches_the_chatter(self):
        url = self.webhook_url(self.simulator, "inbound")
        payload = json.dumps({"from": "+14155552671", "text": "See you Saturday", "id": "M1"})
        response = self.url_open(url, data=payload, headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("See you Saturday", self.partner_us.message_ids[:1].body)
