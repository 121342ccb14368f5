from random import randint

from odoo import fields, models


class SmsMarketingTag(models.Model):
    """A marketing tag on contacts, used to build and exclude audiences.

    Tags are shared by all companies of the database, like contact tags; the audience they
    select is still limited by each partner's company.
    """

    _name = "sms.marketing.tag"
    _description = "SMS Marketing Tag"
    _order = "name"

    def _default_color(self):
        return randint(1, 11)

    name = fields.Char(required=True, translate=False)
    color = fields.Integer(default=lambda self: self._default_color())
    active = fields.Boolean(default=True)
    partner_ids = fields.Many2many(
        "res.partner",
        "res_partner_sms_marketing_tag_rel",
        "tag_id",
        "partner_id",
        string="Contacts",
    )
    partner_count = fields.Integer(compute="_compute_partner_count", string="# Contacts")

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A tag with this name already exists."),
    ]

    def _compute_partner_count(self):
        counts = dict(
            self.env["res.partner"]._read_group(
                [("sms_tag_ids", "in", self.ids)], ["sms_tag_ids"], ["__count"]
            )
        )
        for tag in self:
            tag.partner_count = counts.get(tag, 0)

    def action_view_partners(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sms_marketing.res_partner_action")
        action["domain"] = [("sms_tag_ids", "in", self.ids)]
        action["context"] = {"default_sms_tag_ids": [self.id]}
        return action
