import logging

from odoo import api, fields, models
from odoo.tools import SQL, sql

from ..core import encoding as core_encoding
from ..core import phone as core_phone
from ..core import template as core_template

_logger = logging.getLogger(__name__)

TRACE_STATES = [
    ("excluded", "Excluded"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("undelivered", "Undelivered"),
    ("failed", "Failed"),
    ("unknown", "Unknown"),
    ("held", "Paused"),
    ("canceled", "Canceled"),
]

MESSAGE_CLASSES = [("marketing", "Marketing"), ("transactional", "Transactional")]

EXCLUSION_REASONS = [
    ("no_consent", "No Consent"),
    ("opted_out", "Opted Out"),
    ("blacklisted", "Blacklisted"),
    ("no_number", "No Number"),
    ("invalid_number", "Invalid Number"),
    ("not_mobile", "Not a Mobile Number"),
    ("duplicate", "Duplicate Number"),
    ("frequency_cap", "Frequency Cap Reached"),
    ("other_company", "Other Company"),
]


def state_rank_sql(column):
    """SQL ranking a trace state like report statuses (core ``base.STATUS_RANK``): a report
    only moves a trace to a higher rank. ``column`` is an ``SQL`` expression."""
    return SQL(
        "CASE %s WHEN 'sent' THEN 1 WHEN 'undelivered' THEN 2 WHEN 'failed' THEN 2"
        " WHEN 'delivered' THEN 3 ELSE 0 END",
        column,
    )


ERROR_CODES = [
    ("timeout", "Timeout"),
    ("network", "Network Error"),
    ("server_error", "Provider Server Error"),
    ("rate_limited", "Rate Limited"),
    ("auth_failed", "Authentication Failed"),
    ("invalid_number", "Invalid Number"),
    ("blocked", "Blocked by Provider"),
    ("unsupported_country", "Country Not Supported"),
    ("insufficient_funds", "Insufficient Funds"),
    ("rejected", "Rejected by Provider"),
    ("no_gateway", "No Gateway Available"),
    ("lease_expired", "Interrupted While Sending"),
    ("ambiguous", "Outcome Unknown"),
    ("unknown", "Unknown Error"),
]


class SmsMarketingTrace(models.Model):
    """One SMS to one recipient: both the send queue and the permanent record.

    Lifecycle: ``queued`` (due at ``scheduled_at``) → ``sending`` (claimed by a dispatcher,
    committed before any network call) → ``sent`` (accepted by the gateway, with its
    ``provider_id``) → ``delivered`` / ``undelivered`` / ``failed`` by delivery report. A
    trace left in ``sending`` by a crash becomes ``unknown`` after a lease and is never sent
    again; a later report settles it. ``excluded`` traces (campaigns) record why a recipient
    was not sent to. State changes made by the dispatcher and the webhooks are set-based SQL
    (see ``models/sms_marketing_dispatcher.py``); reports never move a state backwards.
    """

    _name = "sms.marketing.trace"
    _description = "SMS Trace"
    _order = "id desc"
    _rec_name = "number"
    # No create_uid / write_uid / write_date, like Odoo's mail.notification: traces are
    # written by the preparation and the dispatcher, a million at a time, and each user
    # column costs a foreign-key check per row (a quarter of the preparation's database
    # time). Who launched, paused or canceled is on the campaign; when is on the trace.
    _log_access = False

    # Few indexes on purpose: every state change rewrites the row in all of them, twice per
    # SMS. The queue, the reports and the lookups by number have the partial indexes of
    # init(); company, state and gateway alone select too little to pay for themselves.
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    partner_id = fields.Many2one("res.partner", string="Contact", index="btree_not_null")
    number = fields.Char(required=True, help="E.164 number the SMS goes to.")
    country_code = fields.Char(size=2, help="ISO country of the number, used for routing.")
    body = fields.Text(required=True)
    segments = fields.Integer()
    message_class = fields.Selection(
        MESSAGE_CLASSES,
        required=True,
        default="marketing",
    )
    state = fields.Selection(TRACE_STATES, required=True, default="queued")
    is_test = fields.Boolean(help="Test sends: never queued again, never counted in KPIs.")
    gateway_id = fields.Many2one("sms.marketing.gateway")
    create_date = fields.Datetime("Created", readonly=True, default=fields.Datetime.now)
    scheduled_at = fields.Datetime(default=fields.Datetime.now, required=True)
    claimed_at = fields.Datetime(readonly=True)
    attempts = fields.Integer(readonly=True, default=0)
    provider_id = fields.Char(string="Provider Message ID", readonly=True)
    sent_at = fields.Datetime(readonly=True)
    status_at = fields.Datetime(string="Report Date", readonly=True)
    replied_at = fields.Datetime(readonly=True)
    error_code = fields.Selection(ERROR_CODES, readonly=True)
    error_message = fields.Char(readonly=True)
    cost = fields.Float(digits=(12, 5), readonly=True)
    currency_id = fields.Many2one(related="gateway_id.currency_id")
    sms_uuid = fields.Char(
        string="Odoo SMS UUID",
        index="btree_not_null",
        help="Set when the trace carries one of Odoo's own SMS (sms.sms).",
    )
    origin = fields.Char(help="What asked for this SMS (campaign, automation, reply...).")
    campaign_id = fields.Many2one("sms.marketing.campaign", readonly=True, ondelete="cascade")
    variant_id = fields.Many2one("sms.marketing.variant", readonly=True, ondelete="set null")
    automation_enrollment_id = fields.Many2one(
        "sms.marketing.automation.enrollment",
        string="Flow Enrollment",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
    )
    exclusion_reason = fields.Selection(
        EXCLUSION_REASONS, readonly=True, help="Why this contact of the audience got no SMS."
    )
    link_token = fields.Char(
        readonly=True,
        copy=False,
        groups="sms_marketing.group_sms_marketing_manager",
        help="Random token of this recipient's short links.",
    )
    clicked_at = fields.Datetime(string="First Click", readonly=True)
    last_clicked_at = fields.Datetime(string="Last Click", readonly=True)
    converted_at = fields.Datetime(
        string="Converted On",
        readonly=True,
        help="Date of the first order credited to this SMS (see the company's attribution "
        "windows).",
    )
    revenue = fields.Float(
        digits=(16, 2),
        readonly=True,
        help="Net revenue of the orders credited to this SMS, in company currency "
        "(refunds deducted).",
    )
    event_ids = fields.One2many(
        "sms.marketing.event", "trace_id", string="Credited Events", readonly=True
    )
    click_ids = fields.One2many("link.tracker.click", "sms_marketing_trace_id", readonly=True)

    def init(self):
        # Databases installed when traces had Odoo's log columns keep them (Odoo removes the
        # fields, not the columns): drop them, and their foreign-key checks on every insert.
        stale = [
            column
            for column in ("create_uid", "write_uid", "write_date")
            if sql.column_exists(self.env.cr, self._table, column)
        ]
        if stale:
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE %s %s",
                    SQL.identifier(self._table),
                    SQL(", ").join(
                        SQL("DROP COLUMN %s", SQL.identifier(column)) for column in stale
                    ),
                )
            )
            self.env.cr.execute(
                "DELETE FROM ir_model_constraint WHERE name IN %s",
                [tuple(f"{self._table}_{column}_fkey" for column in stale)],
            )
        # The dispatcher's claim reads "queued and due" in scheduled order; webhooks find
        # traces by their gateway's message id; replies find the last SMS sent to their
        # number. Partial indexes: a claimed trace (queued -> sending) enters only one.
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_due_idx
                ON sms_marketing_trace (scheduled_at, id) WHERE state = 'queued';
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_sending_idx
                ON sms_marketing_trace (claimed_at) WHERE state = 'sending';
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_provider_idx
                ON sms_marketing_trace (gateway_id, provider_id) WHERE provider_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_number_sent_idx
                ON sms_marketing_trace (number, sent_at)
             WHERE state IN ('sent', 'delivered', 'undelivered');
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_campaign_number_idx
                ON sms_marketing_trace (campaign_id, number) WHERE campaign_id IS NOT NULL;
            CREATE UNIQUE INDEX IF NOT EXISTS sms_marketing_trace_link_token_idx
                ON sms_marketing_trace (link_token) WHERE link_token IS NOT NULL;
            """
        )

    @api.model_create_multi
    def create(self, vals_list):
        traces = super().create(vals_list)
        if any(trace.state == "queued" for trace in traces):
            self.env.ref("sms_marketing.ir_cron_sms_marketing_dispatch")._trigger()
        return traces

    def action_cancel(self):
        """Cancel traces not yet claimed by a dispatcher (in one statement, so a trace being
        claimed at the same moment is either canceled or sent, never both)."""
        self.env.cr.execute(
            SQL(
                "UPDATE sms_marketing_trace SET state = 'canceled'"
                " WHERE id = ANY(%s) AND state = 'queued'",
                self.ids,
            )
        )
        self.invalidate_recordset(["state"])

    @api.model
    def _sms_marketing_record_click(self):
        """A human opened this SMS's link: first and last click in one statement (two
        clicks at once record one first click; the last click is what order attribution
        reads), and flows waiting for this contact's click look again at once."""
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                "UPDATE sms_marketing_trace SET clicked_at = COALESCE(clicked_at, %(now)s),"
                " last_clicked_at = %(now)s WHERE id = %(id)s",
                now=fields.Datetime.now(),
                id=self.id,
            )
        )
        self.invalidate_recordset(["clicked_at", "last_clicked_at"])
        if self.partner_id:
            self.env["sms.marketing.partner.activity"]._record(
                last_click_at={self.partner_id.id: fields.Datetime.now()}
            )
        if self.automation_enrollment_id:
            self.env["sms.marketing.automation"]._wake(self.partner_id.ids, ["clicked"])

    def _sms_marketing_send_reply(self, company, partner, number, body, origin=None, gateway=None):
        """Queue a transactional SMS (keyword answers, double opt-in requests, replies of
        a conversation, through ``gateway`` when given and still in use for transactional
        SMS, else the routing's); the dispatcher is woken up at once."""
        if gateway and not (gateway.active and gateway.use_transactional):
            gateway = None
        info = core_phone.normalize(number)
        return self.sudo().create(
            {
                "company_id": company.id,
                "partner_id": partner.id,
                "number": info.e164 if info and info.e164 else number,
                "country_code": info.region if info else False,
                "body": body,
                "message_class": "transactional",
                "origin": origin,
                "gateway_id": gateway.id if gateway else False,
            }
        )

    @api.model
    def _api_send(self, raw, company):
        """Queue a transactional SMS for the integrator API: a template (``sms.template`` id
        or XML id) or a body, with placeholders, to a number or a contact. It goes through
        the transactional gateway routing and the one queue like every SMS.

        :param dict raw: ``{"to" | "contact_id", "template" | "body", "values": {}}``
        :return: the trace
        :raises ValueError: ``(code, field)`` on invalid input
        """
        if not isinstance(raw, dict):
            raise ValueError("invalid_request", "body")
        Partner = self.env["res.partner"]
        partner = Partner
        if raw.get("contact_id") is not None:
            if not isinstance(raw["contact_id"], int) or isinstance(raw["contact_id"], bool):
                raise ValueError("invalid_type", "contact_id")
            partner = Partner.search([("id", "=", raw["contact_id"])])
            if not partner:
                raise ValueError("not_found", "contact_id")
            number = partner.sms_e164
            if not number:
                raise ValueError("no_number", "contact_id")
        else:
            to = raw.get("to")
            if not isinstance(to, str):
                raise ValueError("missing_field", "to")
            info = core_phone.normalize(to, company.sms_default_country_id.code)
            if not info or not info.e164:
                raise ValueError("invalid_phone", "to")
            number = info.e164
            partner = Partner.search([("sms_e164", "=", number)], limit=1, order="id")
        values = raw.get("values") or {}
        if not isinstance(values, dict) or not all(
            isinstance(value, str | int | float) and not isinstance(value, bool)
            for value in values.values()
        ):
            raise ValueError("invalid_type", "values")
        body = raw.get("body")
        template = raw.get("template")
        if template is not None:
            sms_template = self.env["sms.template"]
            if isinstance(template, int) and not isinstance(template, bool):
                sms_template = sms_template.search([("id", "=", template)])
            elif isinstance(template, str):
                sms_template = self.env.ref(template, raise_if_not_found=False) or sms_template
                if sms_template and sms_template._name != "sms.template":
                    sms_template = self.env["sms.template"]
            if not sms_template:
                raise ValueError("not_found", "template")
            body = sms_template.with_context(lang=partner.lang or self.env.lang).body
        if not isinstance(body, str) or not body.strip():
            raise ValueError("missing_field", "template")
        if len(body) > 1600:
            raise ValueError("too_long", "body")
        placeholders = {key.lower(): value for key, value in values.items()}
        placeholders.setdefault("name", partner.name or "")
        placeholders.setdefault("first_name", (partner.name or "").split(" ")[0])
        placeholders.setdefault("company", company.name)
        try:
            text = core_template.render(body, placeholders)
        except core_template.TemplateError as exc:
            raise ValueError("invalid_template", exc.detail or "body") from exc
        trace = self._sms_marketing_send_reply(company, partner, number, text, origin="api")
        trace.segments = core_encoding.analyze(text).segments
        return trace
