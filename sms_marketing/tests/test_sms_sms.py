from odoo.tests import tagged

from ..core.gateways import base as gw
from .local_gateway import LocalGateway, http_gateway_values
from .test_dispatch_http import DispatchHttpCommon


@tagged("post_install", "-at_install")
class TestOdooSmsThroughGateways(DispatchHttpCommon):
    """Odoo's own SMS (chatter, templates...) go through our transactional gateway."""

    def setUp(self):
        super().setUp()
        self.server = LocalGateway().start()
        self.addCleanup(self.server.stop)
        self.simulator.use_transactional = False
        self.gateway = self.env["sms.marketing.gateway"].create(
            {
                "name": "Transactional",
                "use_marketing": False,
                "use_transactional": True,
                **http_gateway_values(self.server.url),
            }
        )

    def test_chatter_sms_is_sent_once_by_our_gateway_and_reports_reach_the_chatter(self):
        self.partner_us._sms_consent_set("opt_out", "manual", evidence="no marketing please")
        message = self.partner_us._message_sms("Your order has shipped")
        sms = self.env["sms.sms"].search([("mail_message_id", "=", message.id)])
        self.env["sms.sms"]._process_queue()
        self.assertEqual(sms.state, "process", "queued on our side, out of Odoo's queue")
        self.assertEqual(message.notification_ids.notification_status, "process")
        trace = self.env["sms.marketing.trace"].search([("sms_uuid", "=", sms.uuid)])
        self.assertEqual((trace.message_class, trace.number), ("transactional", "+14155552671"))
        self.dispatch()
        # Odoo's queue runs again (hourly cron, or a new SMS triggering it): nothing resent
        self.env["sms.sms"]._process_queue()
        self.dispatch()
        self.assertEqual(self.server.numbers(), ["+14155552671"], "sent exactly once")
        self.assertEqual(trace.state, "sent", "transactional SMS ignore the marketing opt-out")
        notification = message.notification_ids
        self.assertEqual(notification.notification_status, "pending")
        self.dispatcher._apply_status_reports(
            self.gateway, [gw.StatusReport(provider_id=trace.provider_id, status="delivered")]
        )
        self.env.invalidate_all()
        self.assertEqual(notification.notification_status, "sent")

    def test_invalid_number_fails_the_odoo_sms_with_its_reason(self):
        partner = self.env["res.partner"].create({"name": "Bad", "mobile": "12"})
        message = partner._message_sms("Hello", sms_numbers=["12"])
        self.env["sms.sms"]._process_queue()
        sms = self.env["sms.sms"].search([("mail_message_id", "=", message.id)])
        self.assertEqual((sms.state, sms.failure_type), ("error", "sms_number_format"))
        self.assertFalse(self.server.received)

    def test_without_transactional_gateway_odoo_keeps_its_own_path(self):
        self.gateway.use_transactional = False
        routed = self.env["sms.sms"].create({"number": "+14155552671", "body": "x"})
        self.assertFalse(routed._sms_marketing_routable())
