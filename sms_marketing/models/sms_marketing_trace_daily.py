import logging

from odoo import api, fields, models
from odoo.tools import SQL

from .res_partner import NUMBER_TYPES
from .sms_marketing_trace import ERROR_CODES, EXCLUSION_REASONS, MESSAGE_CLASSES
from .sms_marketing_trace_daily_tag import TAG_MEASURES

_logger = logging.getLogger(__name__)

#: Days refreshed again on each run: delivery reports, clicks (and the orders credited to
#: them, seven days by default) still arrive for the SMS of these days.
REFRESH_DAYS = 8
SENT = ("sent", "delivered", "undelivered", "unknown")
#: failure and exclusion reasons, each once (an invalid number is both)
REASONS = ERROR_CODES + [item for item in EXCLUSION_REASONS if item not in ERROR_CODES]

#: The measures of the summary (and of the reports on it), in order.
MEASURES = (
    "targeted",
    "excluded",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "clicked",
    "replied",
    "opted_out",
    "converted",
    "revenue",
    "cost",
    "segments",
)


class SmsMarketingTraceDaily(models.Model):
    """The SMS of each day, summed per campaign, variant, flow step, gateway, country,
    number type, message class and failure or exclusion reason: what the reports read.

    Refreshed by ``_cron_refresh`` in set-based SQL, the last :data:`REFRESH_DAYS` days
    each time (everything the first time), read through a BRIN index on the SMS' creation
    date: a report over ten million SMS reads a few thousand rows. The day is the day the
    SMS was created (queued or excluded), in UTC. Test sends are left out."""

    _name = "sms.marketing.trace.daily"
    _description = "SMS Daily Figures"
    _log_access = False
    _order = "day desc"

    day = fields.Date(required=True, index=True)
    company_id = fields.Many2one("res.company", required=True, index=True)
    campaign_id = fields.Many2one("sms.marketing.campaign", ondelete="cascade")
    variant_id = fields.Many2one("sms.marketing.variant", ondelete="set null")
    automation_id = fields.Many2one("sms.marketing.automation", ondelete="set null")
    step_id = fields.Many2one("sms.marketing.automation.step", ondelete="set null")
    gateway_id = fields.Many2one("sms.marketing.gateway", ondelete="set null")
    country_id = fields.Many2one("res.country")
    number_type = fields.Selection(NUMBER_TYPES)
    message_class = fields.Selection(MESSAGE_CLASSES)
    reason = fields.Selection(REASONS)
    targeted = fields.Integer()
    excluded = fields.Integer()
    sent = fields.Integer()
    delivered = fields.Integer()
    undelivered = fields.Integer()
    failed = fields.Integer()
    clicked = fields.Integer()
    replied = fields.Integer()
    opted_out = fields.Integer()
    converted = fields.Integer()
    revenue = fields.Float(digits=(16, 2))
    cost = fields.Float(digits=(16, 4))
    segments = fields.Integer()

    def init(self):
        # the refresh reads the SMS of its last days: a BRIN index costs next to nothing
        # to keep on an append-mostly table whose creation dates follow the row order
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_trace_create_date_brin
                ON sms_marketing_trace USING brin (create_date)
            """
        )

    @api.model
    def _cron_refresh(self, full=False):
        """Sum the SMS of the last :data:`REFRESH_DAYS` days again (all of them with
        ``full`` or when the summary is empty), by contact tag too, in one transaction:
        the reports never show a half-refreshed day.

        :return: the first day refreshed (None when there is no SMS)
        """
        self.env.flush_all()
        cr = self.env.cr
        cr.execute("SELECT EXISTS (SELECT 1 FROM sms_marketing_trace_daily)")
        if full or not cr.fetchone()[0]:
            cr.execute("SELECT min(create_date)::date FROM sms_marketing_trace")
            start = cr.fetchone()[0]
        else:
            start = fields.Date.subtract(fields.Date.today(), days=REFRESH_DAYS - 1)
        if not start:
            return None
        if full:
            cr.execute("DELETE FROM sms_marketing_trace_daily")
            cr.execute("DELETE FROM sms_marketing_trace_daily_tag")
        else:
            cr.execute("DELETE FROM sms_marketing_trace_daily WHERE day >= %s", [start])
            cr.execute("DELETE FROM sms_marketing_trace_daily_tag WHERE day >= %s", [start])
        # JIT compiles these aggregates for longer than they run
        cr.execute("SET LOCAL jit = off")
        cr.execute("DROP TABLE IF EXISTS sms_marketing_daily_src")
        cr.execute(
            SQL(
                "CREATE TEMP TABLE sms_marketing_daily_src ON COMMIT DROP AS %s",
                self._source_sql(start),
            )
        )
        cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_trace_daily
                       (day, company_id, campaign_id, variant_id, automation_id, step_id,
                        gateway_id, country_id, number_type, message_class, reason, %(measures)s)
                SELECT day, company_id, campaign_id, variant_id, automation_id, step_id,
                       gateway_id, country_id, number_type, message_class, reason,
                       %(sums)s
                  FROM sms_marketing_daily_src
              GROUP BY day, company_id, campaign_id, variant_id, automation_id, step_id,
                       gateway_id, country_id, number_type, message_class, reason
                """,
                measures=SQL(", ").join(SQL.identifier(m) for m in MEASURES),
                sums=self._sums_sql(MEASURES),
            )
        )
        cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_trace_daily_tag
                       (day, company_id, campaign_id, tag_id, message_class, %(measures)s)
                SELECT s.day, s.company_id, s.campaign_id, r.tag_id, s.message_class, %(sums)s
                  FROM sms_marketing_daily_src s
                  JOIN res_partner_sms_marketing_tag_rel r ON r.partner_id = s.partner_id
              GROUP BY s.day, s.company_id, s.campaign_id, r.tag_id, s.message_class
                """,
                measures=SQL(", ").join(SQL.identifier(m) for m in TAG_MEASURES),
                sums=self._sums_sql(TAG_MEASURES, alias="s"),
            )
        )
        cr.execute("DROP TABLE sms_marketing_daily_src")
        self.env.invalidate_all()
        return start

    @api.model
    def _sums_sql(self, measures, alias=None):
        return SQL(", ").join(
            SQL("sum(%s)", SQL.identifier(alias, measure) if alias else SQL.identifier(measure))
            for measure in measures
        )

    @api.model
    def _source_sql(self, start):
        """One row per SMS created since ``start`` (tests aside): its dimensions and its
        measures as 0/1 (revenue, cost and segments as amounts)."""
        return SQL(
            """
            SELECT t.create_date::date AS day, t.company_id, t.campaign_id, t.variant_id,
                   s.automation_id, c.automation_step_id AS step_id, t.gateway_id,
                   cty.id AS country_id, p.sms_number_type AS number_type, t.partner_id,
                   t.message_class,
                   CASE WHEN t.state = 'excluded' THEN t.exclusion_reason
                        WHEN t.state IN ('failed', 'undelivered') THEN t.error_code END
                       AS reason,
                   1 AS targeted,
                   (t.state = 'excluded')::int AS excluded,
                   (t.state = ANY(%(sent)s))::int AS sent,
                   (t.state = 'delivered')::int AS delivered,
                   (t.state = 'undelivered')::int AS undelivered,
                   (t.state = 'failed')::int AS failed,
                   (t.clicked_at IS NOT NULL)::int AS clicked,
                   (t.replied_at IS NOT NULL)::int AS replied,
                   (stop.trace_id IS NOT NULL)::int AS opted_out,
                   (t.converted_at IS NOT NULL)::int AS converted,
                   COALESCE(t.revenue, 0) AS revenue,
                   COALESCE(t.cost, 0) AS cost,
                   CASE WHEN t.state = ANY(%(sent)s) THEN COALESCE(t.segments, 1) ELSE 0 END
                       AS segments
              FROM sms_marketing_trace t
         LEFT JOIN sms_marketing_campaign c ON c.id = t.campaign_id
         LEFT JOIN sms_marketing_automation_step s ON s.id = c.automation_step_id
         LEFT JOIN res_country cty ON cty.code = t.country_code
         LEFT JOIN res_partner p ON p.id = t.partner_id
         LEFT JOIN (SELECT DISTINCT trace_id FROM sms_marketing_inbound
                     WHERE keyword_class = 'stop' AND trace_id IS NOT NULL
                       AND received_at >= %(start)s) stop ON stop.trace_id = t.id
             WHERE t.create_date >= %(start)s AND NOT COALESCE(t.is_test, false)
            """,
            sent=list(SENT),
            start=start,
        )
