from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_datetime

from ..core import encoding as core_encoding

#: SMS shown in a conversation's thread (the latest ones).
THREAD_SIZE = 100


class SmsMarketingConversation(models.Model):
    """A two-way SMS conversation with one contact of one company: the thread of the SMS
    sent to them and received from them, in order, with a reply box.

    Created or brought forward by every reply received (``_on_inbound``): unread until
    someone opens it, assigned to the contact's salesperson, who is notified. A reply is
    a transactional SMS through the gateway the contact wrote to (else the usual
    routing), into the one send queue; opted-out or blacklisted contacts get none."""

    _name = "sms.marketing.conversation"
    _description = "SMS Conversation"
    _inherit = ["mail.thread"]
    _order = "unread desc, last_message_at desc, id desc"
    _rec_name = "partner_id"

    partner_id = fields.Many2one(
        "res.partner", string="Contact", required=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    user_id = fields.Many2one(
        "res.users",
        string="Assigned To",
        related="partner_id.user_id",
        store=True,
        readonly=False,
        index="btree_not_null",
    )
    number = fields.Char(related="partner_id.sms_e164", string="Number")
    consent_state = fields.Selection(related="partner_id.sms_consent_state")
    last_message_at = fields.Datetime(readonly=True, index=True)
    last_direction = fields.Selection(
        [("in", "Received"), ("out", "Sent")], string="Last Message", readonly=True
    )
    last_body = fields.Char(string="Last Text", readonly=True)
    unread = fields.Boolean(string="To Read", readonly=True, index=True)
    unread_count = fields.Integer(string="Unread", readonly=True)
    campaign_id = fields.Many2one(
        "sms.marketing.campaign",
        readonly=True,
        help="The campaign of the SMS the contact last answered.",
    )
    gateway_id = fields.Many2one(
        "sms.marketing.gateway", readonly=True, help="The gateway the contact last wrote to."
    )
    thread_html = fields.Html(
        string="Thread", compute="_compute_thread_html", sanitize=False, readonly=True
    )
    reply_body = fields.Text(string="Reply")
    reply_counter = fields.Char(string="Counter", compute="_compute_reply_counter")

    _sql_constraints = [
        (
            "partner_company_uniq",
            "UNIQUE(partner_id, company_id)",
            "A contact has one conversation per company.",
        ),
    ]

    @api.depends("reply_body")
    @api.depends_context("lang")
    def _compute_reply_counter(self):
        for conversation in self:
            info = core_encoding.analyze(conversation.reply_body or "")
            conversation.reply_counter = self.env._(
                "%(chars)s characters, %(encoding)s, %(segments)s SMS segment(s)",
                chars=info.length,
                encoding="GSM-7" if info.encoding == core_encoding.GSM7 else "UCS-2",
                segments=info.segments,
            )

    @api.depends("last_message_at")
    @api.depends_context("lang", "tz")
    def _compute_thread_html(self):
        for conversation in self:
            conversation.thread_html = conversation._thread_html()

    def _thread(self):
        """The latest SMS exchanged with the contact, oldest first: ``(when, direction,
        body, state)``, from both tables in one query."""
        self.ensure_one()
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT * FROM (
                    SELECT COALESCE(t.sent_at, t.create_date) AS at, 'out' AS direction,
                           t.body, t.state
                      FROM sms_marketing_trace t
                     WHERE t.partner_id = %(partner)s AND t.company_id = %(company)s
                       AND t.state <> 'excluded' AND NOT COALESCE(t.is_test, false)
                     UNION ALL
                    SELECT i.received_at, 'in', i.body, i.keyword_class
                      FROM sms_marketing_inbound i
                     WHERE i.partner_id = %(partner)s AND i.company_id = %(company)s
                  ORDER BY at DESC LIMIT %(size)s
                ) latest ORDER BY at
                """,
                partner=self.partner_id.id,
                company=self.company_id.id,
                size=THREAD_SIZE,
            )
        )
        return self.env.cr.fetchall()

    def _thread_html(self):
        if not self.id:
            return False
        states = dict(
            self.env["sms.marketing.trace"]._fields["state"]._description_selection(self.env)
        )
        bubbles = []
        for at, direction, body, state in self._thread():
            side = "o_sms_in" if direction == "in" else "o_sms_out"
            meta = format_datetime(self.env, at) if at else ""
            if direction == "out":
                meta = f"{meta} · {states.get(state, state)}"
            bubbles.append(
                Markup(
                    '<div class="o_sms_bubble %s"><div class="o_sms_bubble_text">%s</div>'
                    '<div class="o_sms_bubble_meta">%s</div></div>'
                )
                % (side, body or "", meta)
            )
        if not bubbles:
            return Markup('<p class="text-muted">%s</p>') % self.env._("No SMS yet.")
        return Markup('<div class="o_sms_thread">%s</div>') % Markup().join(bubbles)

    # ------------------------------------------------------------------------------------
    # Replies received, replies sent
    # ------------------------------------------------------------------------------------

    @api.model
    def _on_inbound(self, inbounds):
        """Bring the conversations of ``inbounds`` (replies with a contact) forward: one
        per contact and company, unread, and notify the contact's salesperson."""
        conversations = self.browse()
        for inbound in inbounds.filtered("partner_id").sorted("received_at"):
            conversation = self.search(
                [
                    ("partner_id", "=", inbound.partner_id.id),
                    ("company_id", "=", inbound.company_id.id),
                ],
                limit=1,
            ) or self.create(
                {"partner_id": inbound.partner_id.id, "company_id": inbound.company_id.id}
            )
            conversation.write(
                {
                    "last_message_at": inbound.received_at,
                    "last_direction": "in",
                    "last_body": (inbound.body or "")[:200],
                    "unread": True,
                    "unread_count": conversation.unread_count + 1,
                    "campaign_id": inbound.trace_id.campaign_id.id or conversation.campaign_id.id,
                    "gateway_id": inbound.gateway_id.id,
                }
            )
            salesperson = inbound.partner_id.user_id
            if salesperson and salesperson.active:
                conversation.with_context(mail_create_nosubscribe=True).message_post(
                    body=self.env._(
                        "%(contact)s replied by SMS: %(text)s",
                        contact=inbound.partner_id.display_name,
                        text=inbound.body or "",
                    ),
                    partner_ids=salesperson.partner_id.ids,
                    subtype_xmlid="mail.mt_comment",
                    message_type="notification",
                )
            conversations |= conversation
        return conversations

    def action_open(self):
        """Open the conversation and mark it read."""
        self.ensure_one()
        self.sudo().write({"unread": False, "unread_count": 0})
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "views": [(False, "form")],
            "target": "current",
        }

    def action_mark_read(self):
        self.sudo().write({"unread": False, "unread_count": 0})

    def action_send_reply(self):
        """Send the reply box's text to the contact: a transactional SMS, queued."""
        self.ensure_one()
        body = (self.reply_body or "").strip()
        if not body:
            raise UserError(self.env._("Write the reply first."))
        partner = self.partner_id
        if not partner.sms_e164:
            raise UserError(self.env._("This contact has no SMS number."))
        if partner.sms_consent_state == "opted_out" or self.env[
            "phone.blacklist"
        ].sudo().search_count([("number", "=", partner.sms_e164), ("active", "=", True)]):
            raise UserError(
                self.env._("This contact opted out of SMS: no reply can be sent to them.")
            )
        self.env["sms.marketing.trace"].check_access("read")
        trace = self.env["sms.marketing.trace"]._sms_marketing_send_reply(
            self.company_id,
            partner,
            partner.sms_e164,
            body,
            origin=f"conversation:{self.id}",
            gateway=self.gateway_id,
        )
        self.write(
            {
                "reply_body": False,
                "last_message_at": trace.create_date,
                "last_direction": "out",
                "last_body": body[:200],
                "unread": False,
                "unread_count": 0,
            }
        )
        return True
