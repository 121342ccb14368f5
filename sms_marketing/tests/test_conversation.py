from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from ..core import gateways as gw
from .common import SmsMarketingDispatchCommon


@tagged("post_install", "-at_install")
class TestConversations(SmsMarketingDispatchCommon):
    """Replies become conversations: a thread per contact, unread until opened, a reply
    box, keyword actions, the salesperson notified."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner_cn.user_id = cls.user_marketing
        cls.partner_cn._sms_consent_set("opt_in", "manual", evidence="test")

    def receive(self, body, partner=None):
        partner = partner or self.partner_cn
        return self.dispatcher._apply_inbound(
            self.simulator, [gw.InboundSms(sender=partner.sms_e164, body=body)]
        )

    def conversation(self, partner=None):
        return self.env["sms.marketing.conversation"].search(
            [("partner_id", "=", (partner or self.partner_cn).id)]
        )

    def test_a_reply_opens_an_unread_conversation_and_notifies_the_salesperson(self):
        campaign = self.env["sms.marketing.campaign"].create({"name": "Weekend", "body": "Sale"})
        self.queue(self.partner_cn, "Sale this weekend", campaign_id=campaign.id)
        self.dispatch()
        self.receive("周六几点开门？")
        self.receive("还有停车位吗？")
        conversation = self.conversation()
        self.assertEqual(len(conversation), 1)
        self.assertTrue(conversation.unread)
        self.assertEqual(conversation.unread_count, 2)
        self.assertEqual(conversation.last_body, "还有停车位吗？")
        self.assertEqual(conversation.campaign_id, campaign)
        self.assertEqual(conversation.user_id, self.user_marketing)
        notified = conversation.message_ids.filtered(
            lambda m: self.user_marketing.partner_id in m.notified_partner_ids
        )
        self.assertEqual(len(notified), 2)
        # the thread: what we sent, then what they wrote, in order
        html = str(conversation.thread_html)
        self.assertLess(html.index("Sale this weekend"), html.index("周六几点开门？"))
        self.assertLess(html.index("周六几点开门？"), html.index("还有停车位吗？"))
        conversation.action_open()
        self.assertFalse(conversation.unread)
        self.assertEqual(conversation.unread_count, 0)

    def test_reply_from_the_conversation_is_a_transactional_sms_with_its_counter(self):
        self.receive("Can I change my order?")
        conversation = self.conversation()
        form = Form(conversation.with_user(self.user_marketing))
        form.reply_body = "Yes, until 6pm today."
        self.assertIn("21 characters, GSM-7, 1 SMS segment(s)", form.reply_counter)
        form.save()
        conversation.with_user(self.user_marketing).action_send_reply()
        reply = self.env["sms.marketing.trace"].search(
            [("origin", "=", f"conversation:{conversation.id}")]
        )
        self.assertEqual(
            (reply.body, reply.message_class), ("Yes, until 6pm today.", "transactional")
        )
        self.assertEqual(reply.gateway_id, self.simulator, "the gateway the contact wrote to")
        self.assertFalse(conversation.reply_body)
        self.assertEqual(conversation.last_direction, "out")
        self.dispatch()
        self.assertEqual(reply.state, "sent")
        with self.assertRaises(UserError):
            conversation.action_send_reply()  # nothing written

    def test_no_reply_to_an_opted_out_contact(self):
        self.receive("Thanks")
        self.receive("STOP")
        conversation = self.conversation()
        conversation.reply_body = "Sorry to see you go"
        with self.assertRaises(UserError):
            conversation.action_send_reply()

    def test_keyword_replies_take_their_action(self):
        Keyword = self.env["sms.marketing.keyword"]
        tag = self.env["sms.marketing.tag"].create({"name": "Lottery"})
        flow = self.env["sms.marketing.automation"].create(
            {"name": "Lottery flow", "trigger": "manual", "reentry": "always"}
        )
        self.env["sms.marketing.automation.step"].create(
            {"automation_id": flow.id, "step_type": "wait", "wait_amount": 1}
        )
        flow.action_start()
        Keyword.create(
            {
                "keyword": "参与",
                "action": "tag",
                "tag_id": tag.id,
                "reply_body": "已报名，祝您好运！",
            }
        )
        join = Keyword.create({"keyword": "JOIN", "action": "enroll", "automation_id": flow.id})
        self.receive(" 参与 ")
        self.assertIn(tag, self.partner_cn.sms_tag_ids)
        answer = self.env["sms.marketing.trace"].search(
            [("partner_id", "=", self.partner_cn.id), ("body", "=", "已报名，祝您好运！")]
        )
        self.assertEqual(answer.message_class, "transactional")
        self.receive("join")
        self.assertEqual(flow.enrollment_ids.partner_id, self.partner_cn)
        self.receive("JOIN ")
        self.assertEqual(join.match_count, 2)
        pending = self.env["res.partner"].create({"name": "Pending", "mobile": "+8613700030001"})
        pending.action_sms_request_double_optin()
        Keyword.create({"keyword": "OK", "action": "confirm"})
        self.receive("ok", pending)
        self.assertEqual(pending.sms_consent_state, "opted_in")
        with self.assertRaises(ValidationError):
            Keyword.create({"keyword": "退订", "action": "reply", "reply_body": "x"})
