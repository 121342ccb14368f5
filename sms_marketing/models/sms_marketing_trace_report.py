from odoo import fields, models, tools
from odoo.tools import SQL

from .res_partner import NUMBER_TYPES
from .sms_marketing_trace import MESSAGE_CLASSES
from .sms_marketing_trace_daily import MEASURES, REASONS
from .sms_marketing_trace_daily_tag import TAG_MEASURES


class SmsMarketingTraceReport(models.Model):
    """SMS analysis: the daily figures (``sms.marketing.trace.daily``) with their rates,
    for pivot, graph and list views. A SQL view (``_auto = False``) over a summary
    refreshed every 15 minutes, so a report over ten million SMS reads thousands of
    rows, not millions."""

    _name = "sms.marketing.trace.report"
    _inherit = ["sms.marketing.report.mixin"]
    _description = "SMS Analysis"
    _auto = False
    _order = "day desc"
    _rec_name = "day"

    day = fields.Date(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    campaign_id = fields.Many2one("sms.marketing.campaign", readonly=True)
    variant_id = fields.Many2one("sms.marketing.variant", string="A/B Variant", readonly=True)
    automation_id = fields.Many2one("sms.marketing.automation", string="Flow", readonly=True)
    step_id = fields.Many2one("sms.marketing.automation.step", string="Flow Step", readonly=True)
    gateway_id = fields.Many2one("sms.marketing.gateway", readonly=True)
    country_id = fields.Many2one("res.country", readonly=True)
    number_type = fields.Selection(NUMBER_TYPES, readonly=True)
    message_class = fields.Selection(MESSAGE_CLASSES, readonly=True)
    reason = fields.Selection(REASONS, string="Failure or Exclusion Reason", readonly=True)
    targeted = fields.Integer(readonly=True)
    excluded = fields.Integer(readonly=True)
    sent = fields.Integer(readonly=True)
    delivered = fields.Integer(readonly=True)
    undelivered = fields.Integer(readonly=True)
    failed = fields.Integer(readonly=True)
    clicked = fields.Integer(readonly=True)
    replied = fields.Integer(readonly=True)
    opted_out = fields.Integer(string="Opt-outs", readonly=True)
    converted = fields.Integer(string="Conversions", readonly=True)
    revenue = fields.Float(readonly=True, digits=(16, 2))
    cost = fields.Float(readonly=True, digits=(16, 2))
    segments = fields.Integer(string="Segments Billed", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE OR REPLACE VIEW %(view)s AS (
                    SELECT id, day, company_id, campaign_id, variant_id, automation_id,
                           step_id, gateway_id, country_id, number_type, message_class,
                           reason, %(measures)s, %(rates)s
                      FROM sms_marketing_trace_daily
                )
                """,
                view=SQL.identifier(self._table),
                measures=SQL(", ").join(SQL.identifier(m) for m in MEASURES),
                rates=self._rates_sql(),
            )
        )

    def action_open_traces(self):
        """The SMS behind this line of the report."""
        self.ensure_one()
        domain = [
            ("create_date", ">=", fields.Datetime.to_datetime(self.day)),
            (
                "create_date",
                "<",
                fields.Datetime.add(fields.Datetime.to_datetime(self.day), days=1),
            ),
            ("company_id", "=", self.company_id.id),
            ("is_test", "=", False),
        ]
        for field, value in (
            ("campaign_id", self.campaign_id.id),
            ("variant_id", self.variant_id.id),
            ("gateway_id", self.gateway_id.id),
            ("message_class", self.message_class),
        ):
            domain.append((field, "=", value or False))
        # the line's own SMS: each dimension, empty ones too (see _source_sql)
        domain.append(("country_code", "=", self.country_id.code or False))
        domain.append(("partner_id.sms_number_type", "=", self.number_type or False))
        failed = ["failed", "undelivered"]
        if self.reason:
            domain += [
                "|",
                "&",
                ("state", "in", failed),
                ("error_code", "=", self.reason),
                "&",
                ("state", "=", "excluded"),
                ("exclusion_reason", "=", self.reason),
            ]
        else:
            domain += [
                "|",
                "|",
                ("state", "not in", [*failed, "excluded"]),
                "&",
                ("state", "in", failed),
                ("error_code", "=", False),
                "&",
                ("state", "=", "excluded"),
                ("exclusion_reason", "=", False),
            ]
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sms_marketing.sms_marketing_trace_action"
        )
        action.update(domain=domain, context={})
        return action


class SmsMarketingTraceTagReport(models.Model):
    """SMS analysis by the contacts' marketing tags: an SMS counts under each tag of its
    contact. A SQL view over ``sms.marketing.trace.daily.tag``."""

    _name = "sms.marketing.trace.tag.report"
    _inherit = ["sms.marketing.report.mixin"]
    _description = "SMS Analysis by Tag"
    _auto = False
    _order = "day desc"
    _rec_name = "day"

    day = fields.Date(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    campaign_id = fields.Many2one("sms.marketing.campaign", readonly=True)
    tag_id = fields.Many2one("sms.marketing.tag", readonly=True)
    message_class = fields.Selection(MESSAGE_CLASSES, readonly=True)
    targeted = fields.Integer(readonly=True)
    sent = fields.Integer(readonly=True)
    delivered = fields.Integer(readonly=True)
    clicked = fields.Integer(readonly=True)
    replied = fields.Integer(readonly=True)
    opted_out = fields.Integer(string="Opt-outs", readonly=True)
    converted = fields.Integer(string="Conversions", readonly=True)
    revenue = fields.Float(readonly=True, digits=(16, 2))
    cost = fields.Float(readonly=True, digits=(16, 2))

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        measures = TAG_MEASURES
        self.env.cr.execute(
            SQL(
                """
                CREATE OR REPLACE VIEW %(view)s AS (
                    SELECT id, day, company_id, campaign_id, tag_id, message_class,
                           %(measures)s, %(rates)s
                      FROM sms_marketing_trace_daily_tag
                )
                """,
                view=SQL.identifier(self._table),
                measures=SQL(", ").join(SQL.identifier(m) for m in measures),
                rates=self._rates_sql(),
            )
        )
