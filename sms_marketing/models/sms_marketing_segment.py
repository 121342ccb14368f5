from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

SAMPLE_SIZE = 20

#: Behaviour presets: a rule on events, SMS and the contacts' activity, with parameters.
BEHAVIOURS = [
    ("rfm", "RFM group"),
    ("browsed", "Browsed but did not buy"),
    ("cart", "Cart abandoned, not recovered"),
    ("dormant", "Dormant: no order and no click"),
    ("churn", "About to churn (RFM at risk)"),
    ("birthday", "Birthday in the next days"),
    ("engaged", "Engaged: clicked recently"),
    ("never_clicked", "Never clicked"),
]
#: The days a preset looks back (or ahead, birthdays) when the segment gives none.
BEHAVIOUR_DAYS = {
    "browsed": 7,
    "cart": 7,
    "dormant": 90,
    "birthday": 7,
    "engaged": 30,
}


class SmsMarketingSegment(models.Model):
    """A saved audience: a domain on contacts, narrowed by marketing tags and countries.

    Campaigns combine segments (union of their audience segments minus their exclusion
    segments). Counts are live: ``partner_count`` is everyone the segment matches,
    ``reachable_count`` those a marketing SMS can reach today under the company's policy
    (consent, opt-out, blacklist, mobile number). Both are one SQL count each.
    """

    _name = "sms.marketing.segment"
    _description = "SMS Audience Segment"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    description = fields.Text(translate=True)
    domain = fields.Char(
        string="Contacts Matching",
        default="[]",
        required=True,
        help="Any condition on contacts, built with the domain editor.",
    )
    tag_ids = fields.Many2many(
        "sms.marketing.tag",
        "sms_marketing_segment_tag_rel",
        "segment_id",
        "tag_id",
        string="With Any Tag",
        help="Only contacts with at least one of these marketing tags.",
    )
    exclude_tag_ids = fields.Many2many(
        "sms.marketing.tag",
        "sms_marketing_segment_exclude_tag_rel",
        "segment_id",
        "tag_id",
        string="Without Tags",
        help="Contacts with any of these marketing tags are left out.",
    )
    country_ids = fields.Many2many(
        "res.country",
        string="Number Countries",
        help="Only contacts whose SMS number belongs to one of these countries.",
    )
    behaviour = fields.Selection(
        BEHAVIOURS,
        help="Keep only the contacts who behave so, computed from their customer events and "
        "SMS when the segment is used (RFM groups and SMS figures by the nightly refresh).",
    )
    behaviour_days = fields.Integer(
        string="Days",
        help="Browsed / cart / dormant / engaged: in the last N days; birthday: in the next "
        "N days.",
    )
    behaviour_sends = fields.Integer(
        string="Sends", default=5, help="Never clicked: after at least this many SMS."
    )
    rfm_group = fields.Selection(
        "_rfm_groups", string="RFM Group", default="champions", help="RFM: the group kept."
    )
    partner_count = fields.Integer(string="Contacts", compute="_compute_counts")
    reachable_count = fields.Integer(
        string="Reachable",
        compute="_compute_counts",
        help="Contacts a marketing SMS can reach now: a mobile number, not opted out or "
        "blacklisted, and consent as the company's policy requires.",
    )
    sample_partner_ids = fields.Many2many(
        "res.partner", string="Sample", compute="_compute_sample_partner_ids"
    )

    @api.constrains("domain")
    def _check_domain(self):
        Partner = self.env["res.partner"]
        for segment in self:
            try:
                Partner._search(segment._parse_domain())
            except (ValueError, SyntaxError, NameError, TypeError, KeyError) as error:
                raise ValidationError(
                    self.env._(
                        "The condition of segment %(name)s is not valid: %(error)s",
                        name=segment.name,
                        error=error,
                    )
                ) from error

    def _parse_domain(self):
        self.ensure_one()
        domain = safe_eval(self.domain or "[]", {"context_today": fields.Date.context_today})
        if not isinstance(domain, list | tuple):
            raise ValueError(self.env._("a domain must be a list of conditions"))
        return list(domain)

    @api.model
    def _rfm_groups(self):
        return self.env["sms.marketing.partner.activity"]._fields["rfm_group"].selection

    @api.onchange("behaviour")
    def _onchange_behaviour(self):
        if self.behaviour in BEHAVIOUR_DAYS and not self.behaviour_days:
            self.behaviour_days = BEHAVIOUR_DAYS[self.behaviour]

    def _behaviour_sql(self):
        """The contacts of the segment's behaviour preset: an SQL selecting partner ids,
        set-based over the contacts' activity, their events and SMS (no loop)."""
        self.ensure_one()
        now = fields.Datetime.now()
        days = self.behaviour_days or BEHAVIOUR_DAYS.get(self.behaviour, 30)
        since = fields.Datetime.subtract(now, days=days)
        behaviour = self.behaviour
        if behaviour in ("rfm", "churn"):
            group = "at_risk" if behaviour == "churn" else self.rfm_group
            return SQL(
                "SELECT partner_id FROM sms_marketing_partner_activity WHERE rfm_group = %s",
                group,
            )
        if behaviour == "browsed":
            # viewed a product in the last N days, and no order since that view (some view
            # has no order after it exactly when the last one has none)
            return SQL(
                """SELECT partner_id FROM sms_marketing_partner_activity
                    WHERE last_view_at >= %s
                      AND (last_order_at IS NULL OR last_order_at < last_view_at)""",
                since,
            )
        if behaviour == "cart":
            # an open cart (no order since it was abandoned) from the last N days
            return SQL(
                """SELECT id FROM res_partner
                    WHERE sms_cart_url IS NOT NULL AND sms_cart_at >= %s""",
                since,
            )
        if behaviour == "dormant":
            return SQL(
                """SELECT partner_id FROM sms_marketing_partner_activity
                    WHERE last_order_at IS NOT NULL
                      AND GREATEST(last_order_at, last_click_at) < %s""",
                since,
            )
        if behaviour == "engaged":
            return SQL(
                """SELECT partner_id FROM sms_marketing_partner_activity
                    WHERE last_click_at >= %s""",
                since,
            )
        if behaviour == "never_clicked":
            return SQL(
                """SELECT partner_id FROM sms_marketing_partner_activity
                    WHERE sent_count >= %s AND engaged_count = 0""",
                max(self.behaviour_sends, 1),
            )
        if behaviour == "birthday":
            # the next N days in the company's calendar; Feb 29 is on Feb 28 in other years
            # (the same for the marketer counting and the scheduled action preparing)
            company = self.company_id or self.env.company
            today = fields.Date.context_today(self.with_context(tz=company.partner_id.tz or "UTC"))
            return SQL(
                """SELECT p.id FROM res_partner p
                    WHERE p.sms_birthday IS NOT NULL
                      AND EXISTS (
                          SELECT 1 FROM generate_series(0, %(days)s) AS g(n),
                                 LATERAL (SELECT %(today)s::date + g.n AS day) d
                           WHERE extract(month FROM p.sms_birthday) = extract(month FROM d.day)
                             AND (extract(day FROM p.sms_birthday) = extract(day FROM d.day)
                                  OR (extract(month FROM d.day) = 2
                                      AND extract(day FROM d.day) = 28
                                      AND extract(day FROM p.sms_birthday) = 29
                                      AND NOT (mod(extract(year FROM d.day)::int, 4) = 0
                                               AND (mod(extract(year FROM d.day)::int, 100) <> 0
                                                    OR mod(extract(year FROM d.day)::int, 400)
                                                       = 0)))))""",
                days=max(days - 1, 0),
                today=today,
            )
        return SQL("SELECT id FROM res_partner WHERE FALSE")

    def _get_partner_domain(self):
        """The segment as a domain on ``res.partner`` (a behaviour preset is a condition on
        ``sms_segment_ids``, whose search runs the preset's SQL: the domain stays plain
        data the web client can carry)."""
        self.ensure_one()
        domain = self._parse_domain()
        if self.behaviour:
            domain = expression.AND([domain, [("sms_segment_ids", "in", [self.id])]])
        if self.tag_ids:
            domain = expression.AND([domain, [("sms_tag_ids", "in", self.tag_ids.ids)]])
        if self.exclude_tag_ids:
            domain = expression.AND([domain, [("sms_tag_ids", "not in", self.exclude_tag_ids.ids)]])
        if self.country_ids:
            domain = expression.AND(
                [domain, [("sms_number_country_id", "in", self.country_ids.ids)]]
            )
        return domain

    @api.model
    def _combine_domain(self, segments, exclude_segments=None):
        """Union of ``segments`` minus ``exclude_segments``, as a partner domain."""
        domain = expression.OR([segment._get_partner_domain() for segment in segments])
        if exclude_segments:
            excluded = self.env["res.partner"]._search(
                expression.OR([segment._get_partner_domain() for segment in exclude_segments])
            )
            domain = expression.AND([domain, [("id", "not in", excluded)]])
        return domain

    @api.depends(
        "domain",
        "tag_ids",
        "exclude_tag_ids",
        "country_ids",
        "company_id",
        "behaviour",
        "behaviour_days",
        "behaviour_sends",
        "rfm_group",
    )
    def _compute_counts(self):
        Partner = self.env["res.partner"]
        Partner.flush_model()
        self.env["phone.blacklist"].flush_model()
        for segment in self:
            try:
                query = Partner._search(segment._get_partner_domain())
            except (ValueError, SyntaxError, NameError, TypeError, KeyError):
                segment.partner_count = segment.reachable_count = 0
                continue
            # one pass over the contacts the domain selects (its query's own FROM/WHERE)
            reachable = Partner._sms_reachable_sql(segment.company_id)
            self.env.cr.execute(
                query.select(SQL("count(*)"), SQL("count(*) FILTER (WHERE %s)", reachable))
            )
            segment.partner_count, segment.reachable_count = self.env.cr.fetchone()

    @api.depends(
        "domain",
        "tag_ids",
        "exclude_tag_ids",
        "country_ids",
        "behaviour",
        "behaviour_days",
        "behaviour_sends",
        "rfm_group",
    )
    def _compute_sample_partner_ids(self):
        Partner = self.env["res.partner"]
        for segment in self:
            try:
                segment.sample_partner_ids = Partner.search(
                    segment._get_partner_domain(), limit=SAMPLE_SIZE
                )
            except (ValueError, SyntaxError, NameError, TypeError, KeyError):
                segment.sample_partner_ids = Partner

    def action_export(self):
        """The export dialog (CSV or XLSX), for SMS Marketing managers."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Export Contacts"),
            "res_model": "sms.marketing.segment.export",
            "view_mode": "form",
            "target": "new",
            "context": {"default_segment_id": self.id},
        }

    def action_refresh_behaviour(self):
        """Recompute the contacts' behaviour figures now (RFM groups, SMS figures, best
        hours) instead of waiting for the nightly refresh (managers)."""
        if not self.env.user.has_group("sms_marketing.group_sms_marketing_manager"):
            raise UserError(self.env._("Only SMS Marketing managers may refresh the figures."))
        self.env["sms.marketing.partner.activity"].sudo()._cron_refresh()
        return True

    def action_view_partners(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.name,
            "res_model": "res.partner",
            "view_mode": "list,kanban,form",
            "views": [(False, "list"), (False, "kanban"), (False, "form")],
            "domain": self._get_partner_domain(),
        }
