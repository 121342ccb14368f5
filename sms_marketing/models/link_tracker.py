from odoo import fields, models


class LinkTrackerClick(models.Model):
    _inherit = "link.tracker.click"

    sms_marketing_trace_id = fields.Many2one(
        "sms.marketing.trace", string="SMS", index="btree_not_null", ondelete="set null"
    )
