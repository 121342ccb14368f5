from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

SAMPLE_SIZE = 20


class SmsMarketingSegment(models.Model):
    """A saved audience: a domain on contacts, narrowed by marketing tags and countries.

    Campaigns combine segments (union of their audience segments minus their exclusion
    segments). Counts are live: ``partner_count`` is everyone the segment matches,
    ``reachable_count`` those a marketing SMS can reach today under the company's policy
    (consent, opt-out, blacklist, mobile number). Both are one SQL count each.
    """

    _name = "sms.marketing.segment"
    _description = "SMS Audience Segment"
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

    def _get_partner_domain(self):
        """The segment as a domain on ``res.partner``."""
        self.ensure_one()
        domain = self._parse_domain()
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

    @api.depends("domain", "tag_ids", "exclude_tag_ids", "country_ids", "company_id")
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
            self.env.cr.execute(
                SQL(
                    """SELECT count(*), count(*) FILTER (WHERE %s)
                         FROM res_partner WHERE id IN %s""",
                    Partner._sms_reachable_sql(segment.company_id),
                    query.subselect(),
                )
            )
            segment.partner_count, segment.reachable_count = self.env.cr.fetchone()

    @api.depends("domain", "tag_ids", "exclude_tag_ids", "country_ids")
    def _compute_sample_partner_ids(self):
        Partner = self.env["res.partner"]
        for segment in self:
            try:
                segment.sample_partner_ids = Partner.search(
                    segment._get_partner_domain(), limit=SAMPLE_SIZE
                )
            except (ValueError, SyntaxError, NameError, TypeError, KeyError):
                segment.sample_partner_ids = Partner

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
