import json

from odoo import api, fields, models
from odoo.tools import SQL

from .sms_marketing_dispatcher import _array_literal, _int_array

#: The moments :meth:`SmsMarketingPartnerActivity._record` keeps (the latest wins).
RECORDED_COLUMNS = frozenset({"last_order_at", "last_click_at", "last_view_at"})

#: RFM groups, from the recency (R), frequency (F) and monetary (M) quintiles (5 best).
RFM_GROUPS = [
    ("champions", "Champions"),
    ("loyal", "Loyal"),
    ("new", "New Customers"),
    ("promising", "Promising"),
    ("at_risk", "At Risk"),
    ("hibernating", "Hibernating"),
]
#: SMS states that count as sent for the behaviour figures.
SENT_STATES = ["sent", "delivered", "undelivered", "unknown"]
#: Where the refresh keeps the RFM groups' and everyone's best hours (the fallbacks).
FALLBACK_HOURS_PARAM = "sms_marketing.best_hours"
#: SMS a contact must have engaged with (clicked or answered) to get a best hour of its
#: own. One is enough: each hour's rate is pulled towards everyone's rate at that hour by
#: two SMS' worth, so a click at an hour tried once outweighs silence at an hour tried
#: often only as far as the evidence goes (measured in ``bench/sendtime.py``: with two,
#: twenty campaigns were too few to learn anything).
BEST_HOUR_MIN_ENGAGED = 1
#: How many SMS' worth of everyone's rate pulls a group's rate at an hour: a group's best
#: hour is not an hour at which three SMS happened to be clicked.
GROUP_HOUR_PRIOR = 100


class SmsMarketingPartnerActivity(models.Model):
    """A contact's behaviour in one narrow row: last order and last human click (kept as
    they happen, by every order ingested and every click), and what the nightly refresh
    computes in set-based SQL over events and SMS (``_cron_refresh``): orders and their
    total, the RFM quintiles and group, SMS sent and engaged, and the hour of the day at
    which the contact engages best. Behaviour segments, dormant-customer flows and the
    best send time read it through its indexes; its writers touch a small table, not the
    contact row with its twenty indexes."""

    _name = "sms.marketing.partner.activity"
    _description = "SMS Contact Activity"
    _log_access = False
    _rec_name = "partner_id"

    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=False)
    last_order_at = fields.Datetime(readonly=True)
    last_click_at = fields.Datetime(readonly=True)
    last_view_at = fields.Datetime(string="Last Product View", readonly=True)
    order_count = fields.Integer(readonly=True)
    order_total = fields.Float(readonly=True, digits=(16, 2))
    rfm_recency = fields.Integer(string="Recency (1-5)", readonly=True)
    rfm_frequency = fields.Integer(string="Frequency (1-5)", readonly=True)
    rfm_monetary = fields.Integer(string="Monetary (1-5)", readonly=True)
    rfm_group = fields.Selection(RFM_GROUPS, string="RFM Group", readonly=True)
    sent_count = fields.Integer(string="Marketing SMS Sent", readonly=True)
    engaged_count = fields.Integer(
        string="SMS Engaged", readonly=True, help="Marketing SMS clicked or replied to."
    )
    best_hour = fields.Integer(
        readonly=True,
        help="The hour of the day (0-23, the contact's time zone) at which SMS sent to the "
        "contact are most often clicked or answered; empty without enough history.",
    )
    best_hour_of_week = fields.Integer(
        readonly=True,
        help="The best hour of the week (0 = Monday 00:00 ... 167 = Sunday 23:00) in the "
        "contact's time zone.",
    )

    _sql_constraints = [
        ("partner_unique", "UNIQUE(partner_id)", "A contact has one activity row."),
    ]

    def init(self):
        # dormant customers: when their last order or click was (GREATEST ignores a NULL);
        # engaged contacts: their last click; RFM groups
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_partner_activity_last_idx
                ON sms_marketing_partner_activity (GREATEST(last_order_at, last_click_at))
             WHERE last_order_at IS NOT NULL;
            CREATE INDEX IF NOT EXISTS sms_marketing_partner_activity_click_idx
                ON sms_marketing_partner_activity (last_click_at)
             WHERE last_click_at IS NOT NULL;
            CREATE INDEX IF NOT EXISTS sms_marketing_partner_activity_rfm_idx
                ON sms_marketing_partner_activity (rfm_group)
             WHERE rfm_group IS NOT NULL;
            CREATE INDEX IF NOT EXISTS sms_marketing_partner_activity_view_idx
                ON sms_marketing_partner_activity (last_view_at)
             WHERE last_view_at IS NOT NULL;
            """
        )

    # ------------------------------------------------------------------------------------
    # The nightly refresh
    # ------------------------------------------------------------------------------------

    @api.model
    def _cron_refresh(self):
        """Recompute every contact's orders, RFM quintiles and group, SMS figures and best
        hour, in five set-based statements (about a minute for a million contacts and ten
        million SMS). Segments and campaigns read the result."""
        self.env.flush_all()
        self._refresh_orders()
        self._refresh_views()
        self._refresh_sms()
        self._refresh_best_hour()
        self.env["ir.config_parameter"].sudo().set_param(
            FALLBACK_HOURS_PARAM, json.dumps(self._group_best_hours())
        )
        self.env.invalidate_all()

    def _refresh_orders(self):
        """Orders, net revenue, last order, and the RFM quintiles and group of every
        contact with an order (NTILE over all of them: 5 is the best fifth)."""
        cr = self.env.cr
        cr.execute(
            """
            WITH orders AS (
                SELECT partner_id,
                       max(occurred_at) FILTER (WHERE type = 'order') AS last_order,
                       count(*) FILTER (WHERE type = 'order') AS orders,
                       COALESCE(sum(revenue), 0) AS total
                  FROM sms_marketing_event
                 WHERE partner_id IS NOT NULL AND type IN ('order', 'refund')
              GROUP BY partner_id
                HAVING count(*) FILTER (WHERE type = 'order') > 0
            ), scored AS (
                SELECT o.*,
                       ntile(5) OVER (ORDER BY last_order) AS r,
                       ntile(5) OVER (ORDER BY orders, total) AS f,
                       ntile(5) OVER (ORDER BY total) AS m
                  FROM orders o
            )
            INSERT INTO sms_marketing_partner_activity
                   (partner_id, last_order_at, order_count, order_total, rfm_recency,
                    rfm_frequency, rfm_monetary, rfm_group)
            SELECT partner_id, last_order, orders, total, r, f, m,
                   CASE WHEN r >= 4 AND f >= 4 THEN 'champions'
                        WHEN r >= 4 AND orders = 1 THEN 'new'
                        WHEN f >= 4 AND r >= 3 THEN 'loyal'
                        WHEN r <= 2 AND f >= 3 THEN 'at_risk'
                        WHEN r <= 2 THEN 'hibernating'
                        ELSE 'promising' END
              FROM scored
          ORDER BY partner_id
                ON CONFLICT (partner_id) DO UPDATE
               SET last_order_at = GREATEST(sms_marketing_partner_activity.last_order_at,
                                            EXCLUDED.last_order_at),
                   order_count = EXCLUDED.order_count, order_total = EXCLUDED.order_total,
                   rfm_recency = EXCLUDED.rfm_recency, rfm_frequency = EXCLUDED.rfm_frequency,
                   rfm_monetary = EXCLUDED.rfm_monetary, rfm_group = EXCLUDED.rfm_group
            """
        )

    def _refresh_views(self):
        """The last product view of every contact who viewed one (ingestion keeps it as
        views arrive; this catches up on any event written another way)."""
        self.env.cr.execute(
            """
            INSERT INTO sms_marketing_partner_activity (partner_id, last_view_at)
            SELECT partner_id, max(occurred_at) FROM sms_marketing_event
             WHERE type = 'product_view' AND partner_id IS NOT NULL
          GROUP BY partner_id
          ORDER BY partner_id
                ON CONFLICT (partner_id) DO UPDATE
               SET last_view_at = GREATEST(sms_marketing_partner_activity.last_view_at,
                                           EXCLUDED.last_view_at)
            """
        )

    def _refresh_sms(self):
        """Marketing SMS sent and engaged (clicked or replied) per contact."""
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_partner_activity (partner_id, sent_count, engaged_count)
                SELECT partner_id, count(*) FILTER (WHERE state = ANY(%s)),
                       count(*) FILTER (WHERE clicked_at IS NOT NULL OR replied_at IS NOT NULL)
                  FROM sms_marketing_trace
                 WHERE partner_id IS NOT NULL AND message_class = 'marketing'
                   AND NOT COALESCE(is_test, false)
              GROUP BY partner_id
              ORDER BY partner_id
                    ON CONFLICT (partner_id) DO UPDATE
                   SET sent_count = EXCLUDED.sent_count, engaged_count = EXCLUDED.engaged_count
                """,
                SENT_STATES,
            )
        )

    def _refresh_best_hour(self):
        """The hour (of the day, and of the week) at which each contact engages best with
        the SMS sent to them: the rate of engaged SMS per sending hour in the contact's
        time zone, each hour's rate pulled towards everyone's rate at that hour (two
        SMS' worth, so that one lucky click does not decide), over the last year. Contacts
        who never engaged (or no longer within the year) get none: campaigns then use
        their RFM group's hour."""
        cr = self.env.cr
        cr.execute("DROP TABLE IF EXISTS sms_marketing_hours")
        cr.execute(
            SQL(
                """
                CREATE TEMP TABLE sms_marketing_hours ON COMMIT DROP AS
                SELECT t.partner_id, extract(hour FROM local.at)::int AS hour,
                       ((extract(isodow FROM local.at)::int - 1) * 24
                        + extract(hour FROM local.at)::int) AS how,
                       (t.clicked_at IS NOT NULL OR t.replied_at IS NOT NULL) AS engaged
                  FROM sms_marketing_trace t
                  JOIN res_partner p ON p.id = t.partner_id
                  JOIN res_company c ON c.id = t.company_id
             LEFT JOIN res_partner cp ON cp.id = c.partner_id
                 CROSS JOIN LATERAL (
                       -- the zone campaigns and flows send in: the contact's, else the
                       -- company's (see _best_time_scheduler, _tz_sql)
                       SELECT (t.sent_at AT TIME ZONE 'UTC')
                              AT TIME ZONE COALESCE(p.sms_tz, cp.tz, 'UTC') AS at) local
                 WHERE t.sent_at >= (now() AT TIME ZONE 'utc') - interval '365 days'
                   AND t.message_class = 'marketing' AND NOT COALESCE(t.is_test, false)
                   AND t.state = ANY(%s)
                """,
                SENT_STATES,
            )
        )
        # contacts whose engaged SMS are now older than a year lose their hours
        cr.execute(
            SQL(
                """
                UPDATE sms_marketing_partner_activity a
                   SET best_hour = NULL, best_hour_of_week = NULL
                 WHERE a.best_hour IS NOT NULL
                   AND a.partner_id NOT IN (
                       SELECT partner_id FROM sms_marketing_hours GROUP BY partner_id
                       HAVING count(*) FILTER (WHERE engaged) >= %s)
                """,
                BEST_HOUR_MIN_ENGAGED,
            )
        )
        for column, bucket in (("best_hour", "hour"), ("best_hour_of_week", "how")):
            cr.execute(
                SQL(
                    """
                    WITH per AS (
                        SELECT partner_id, %(bucket)s AS b, count(*) AS sends,
                               count(*) FILTER (WHERE engaged) AS engaged
                          FROM sms_marketing_hours GROUP BY partner_id, %(bucket)s
                    ), everyone AS (
                        SELECT b, sum(engaged)::float / NULLIF(sum(sends), 0) AS rate
                          FROM per GROUP BY b
                    ), enough AS (
                        SELECT partner_id FROM per GROUP BY partner_id
                        HAVING sum(engaged) >= %(minimum)s
                    ), best AS (
                        SELECT DISTINCT ON (per.partner_id) per.partner_id, per.b
                          FROM per
                          JOIN enough USING (partner_id)
                          JOIN everyone USING (b)
                      ORDER BY per.partner_id,
                               (per.engaged + 2 * COALESCE(everyone.rate, 0))
                               / (per.sends + 2) DESC, per.b
                    )
                    INSERT INTO sms_marketing_partner_activity (partner_id, %(column)s)
                    SELECT partner_id, b FROM best ORDER BY partner_id
                        ON CONFLICT (partner_id) DO UPDATE SET %(column)s = EXCLUDED.%(column)s
                    """,
                    bucket=SQL.identifier(bucket),
                    minimum=BEST_HOUR_MIN_ENGAGED,
                    column=SQL.identifier(column),
                )
            )

    @api.model
    def _fallback_best_hours(self):
        """``{rfm group: hour, "*": hour}`` as the last refresh stored them."""
        stored = self.env["ir.config_parameter"].sudo().get_param(FALLBACK_HOURS_PARAM)
        try:
            hours = json.loads(stored) if stored else {}
        except ValueError:
            hours = {}
        return {str(group): int(hour) for group, hour in hours.items() if hour is not None}

    @api.model
    def _group_best_hours(self):
        """``{rfm group: hour}`` and ``{"*": hour}`` for everyone: the hour at which the
        group's SMS are engaged with at the highest rate (sent at that local hour, over the
        last year, each hour's rate pulled towards the group's overall rate by
        :data:`GROUP_HOUR_PRIOR` SMS' worth), the fallback of contacts with too little
        history of their own. A rate, not the most common of the contacts' best hours: the
        hour most SMS were sent at would otherwise win because they were sent then.
        Reads the hours table of :meth:`_refresh_best_hour` (same transaction)."""
        self.env.cr.execute(
            SQL(
                """
                WITH per AS (
                    SELECT CASE WHEN GROUPING(a.rfm_group) = 1 THEN '*' ELSE a.rfm_group END
                               AS grp,
                           h.hour, count(*) AS sends, count(*) FILTER (WHERE h.engaged) AS engaged
                      FROM sms_marketing_hours h
                 LEFT JOIN sms_marketing_partner_activity a ON a.partner_id = h.partner_id
                  GROUP BY GROUPING SETS ((a.rfm_group, h.hour), (h.hour))
                ), overall AS (
                    SELECT grp, sum(engaged)::float / sum(sends) AS rate FROM per GROUP BY grp
                )
                SELECT DISTINCT ON (per.grp) per.grp, per.hour
                  FROM per JOIN overall USING (grp)
                 WHERE per.grp IS NOT NULL
              ORDER BY per.grp, (per.engaged + %(prior)s * overall.rate)
                                / (per.sends + %(prior)s) DESC, per.hour
                """,
                prior=GROUP_HOUR_PRIOR,
            )
        )
        return dict(self.env.cr.fetchall())

    @api.model
    def _record(self, **moments):
        """Keep the latest moments of contacts, per column (``last_order_at``,
        ``last_click_at``, ``last_view_at``; each ``{partner id: datetime}``), in one
        statement whatever the columns; rows are written in contact order, the one order
        every writer uses (two requests never deadlock)."""
        moments = {column: values for column, values in moments.items() if values}
        if not moments:
            return
        if not moments.keys() <= RECORDED_COLUMNS:
            raise ValueError(sorted(moments.keys() - RECORDED_COLUMNS))
        columns = sorted(moments)
        partners = sorted(set().union(*moments.values()))
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_partner_activity (partner_id, %(columns)s)
                SELECT * FROM unnest(%(partners)s::int[], %(arrays)s)
                    ON CONFLICT (partner_id) DO UPDATE SET %(latest)s
                """,
                columns=SQL(", ").join(SQL.identifier(column) for column in columns),
                partners=_int_array(partners),
                arrays=SQL(", ").join(
                    SQL(
                        "%s::timestamp[]",
                        _array_literal([moments[column].get(p) for p in partners]),
                    )
                    for column in columns
                ),
                latest=SQL(", ").join(
                    SQL(
                        "%(c)s = GREATEST(sms_marketing_partner_activity.%(c)s, EXCLUDED.%(c)s)",
                        c=SQL.identifier(column),
                    )
                    for column in columns
                ),
            )
        )
        self.invalidate_model(columns)
        self.env["res.partner"].browse(partners).invalidate_recordset(
            ["sms_activity_id", "sms_last_order_at", "sms_last_click_at"]
        )
