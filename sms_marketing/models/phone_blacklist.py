from odoo import api, models


class PhoneBlacklist(models.Model):
    """Odoo's phone blacklist: a number blacklisted here (by hand, by Odoo's own SMS
    unsubscribe, by another app) ends the marketing flows of its contacts at once, as an
    opt-out through the consent ledger does."""

    _inherit = "phone.blacklist"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records.filtered("active")._sms_marketing_leave_flows()
        return records

    def write(self, vals):
        res = super().write(vals)
        if vals.get("active") or "number" in vals:
            self.filtered("active")._sms_marketing_leave_flows()
        return res

    def _sms_marketing_leave_flows(self):
        if not self:
            return
        # sudo: blacklisting is allowed to users without SMS Marketing rights; the flows
        # of the contacts concerned must end whoever blacklisted them
        partners = (
            self.env["res.partner"]
            .sudo()
            .with_context(active_test=False)
            .search([("sms_e164", "in", self.mapped("number"))])
        )
        self.env["sms.marketing.automation"].sudo()._on_unreachable(partners, "blacklisted")
