from odoo import fields, models

from ..core import keywords

KEYWORD_CLASSES = [
    (keywords.STOP, "Stop"),
    (keywords.START, "Start"),
    (keywords.HELP, "Help"),
    (keywords.OTHER, "Reply"),
]


class SmsMarketingInbound(models.Model):
    """An SMS received from a phone through one of our gateways.

    Stop, start and help keywords change consent or get an automatic answer (see
    ``sms.marketing.dispatcher._apply_inbound``); other replies are kept here, linked to the
    contact and to the last SMS sent to that number, and posted on the contact's chatter. A
    provider's message id is unique per gateway, so a replayed webhook stores nothing twice.
    """

    _name = "sms.marketing.inbound"
    _description = "Inbound SMS"
    _order = "received_at desc, id desc"
    _rec_name = "sender"

    gateway_id = fields.Many2one("sms.marketing.gateway", required=True, index=True, readonly=True)
    company_id = fields.Many2one(related="gateway_id.company_id", store=True, index=True)
    provider_id = fields.Char(string="Provider Message ID", readonly=True)
    sender = fields.Char(string="From", required=True, index=True, readonly=True)
    recipient = fields.Char(string="To", readonly=True)
    body = fields.Text(readonly=True)
    received_at = fields.Datetime(default=fields.Datetime.now, readonly=True)
    keyword_class = fields.Selection(KEYWORD_CLASSES, readonly=True, required=True)
    partner_id = fields.Many2one("res.partner", string="Contact", index="btree_not_null")
    keyword_id = fields.Many2one(
        "sms.marketing.keyword",
        index="btree_not_null",
        ondelete="set null",
        readonly=True,
        help="The reply keyword this SMS matched, whose action was taken.",
    )
    trace_id = fields.Many2one(
        "sms.marketing.trace",
        string="In Reply To",
        index="btree_not_null",
        help="The last SMS sent to this number before the reply.",
    )

    _sql_constraints = [
        (
            "provider_id_uniq",
            "unique(gateway_id, provider_id)",
            "This message was already received.",
        ),
    ]

    def _sms_marketing_act(self):
        """Act on each message's keyword: consent change and automatic answer, or chatter."""
        Locale = self.env["sms.marketing.locale"].sudo()
        for inbound in self.sudo():
            partner = inbound.partner_id
            company = inbound.company_id
            texts = Locale._get_for_partner(company, partner, inbound.sender)
            evidence = self.env._(
                'Inbound SMS from %(number)s: "%(text)s" (gateway %(gateway)s, message %(id)s)',
                number=inbound.sender,
                text=inbound.body,
                gateway=inbound.gateway_id.name,
                id=inbound.provider_id or "-",
            )
            reply = None
            if inbound.keyword_class == keywords.STOP:
                if partner:
                    if partner.sms_consent_state != "opted_out":
                        partner._sms_consent_set("opt_out", "keyword", evidence=evidence)
                        reply = texts.stop_reply
                elif not self.env["phone.blacklist"].search_count(
                    [("number", "=", inbound.sender)]
                ):
                    self.env["phone.blacklist"]._add([inbound.sender], message=evidence)
                    reply = texts.stop_reply
            elif inbound.keyword_class == keywords.START and partner:
                state = partner.sms_consent_state
                if state == "pending":
                    partner._sms_consent_set("confirm", "keyword", evidence=evidence)
                    reply = texts.start_reply
                elif state != "opted_in":
                    partner._sms_consent_set("opt_in", "keyword", evidence=evidence)
                    reply = texts.start_reply
            elif inbound.keyword_class == keywords.HELP:
                reply = texts.help_reply
            elif partner:
                partner.message_post(
                    body=inbound.body,
                    message_type="sms",
                    subtype_xmlid="mail.mt_note",
                    author_id=partner.id,
                )
            if reply:
                self.env["sms.marketing.trace"]._sms_marketing_send_reply(
                    company, partner, inbound.sender, reply, origin=f"inbound:{inbound.id}"
                )
        inbounds = self.sudo()
        answers = self.env["sms.marketing.keyword"]._apply(
            inbounds.filtered(lambda i: i.keyword_class != keywords.STOP)
        )
        for inbound, answer in answers.items():
            self.env["sms.marketing.trace"]._sms_marketing_send_reply(
                inbound.company_id,
                inbound.partner_id,
                inbound.sender,
                answer,
                origin=f"inbound:{inbound.id}",
                gateway=inbound.gateway_id,
            )
        self.env["sms.marketing.conversation"].sudo()._on_inbound(inbounds)
        self.env["sms.marketing.automation"]._on_inbound(inbounds)
