from odoo import api, fields, models
from odoo.exceptions import UserError


class SmsMarketingConsentWizard(models.TransientModel):
    """Opt contacts in or out by hand, with the reason that becomes the ledger's evidence."""

    _name = "sms.marketing.consent.wizard"
    _description = "Change SMS Consent"

    partner_ids = fields.Many2many("res.partner", string="Contacts", required=True)
    partner_count = fields.Integer(compute="_compute_partner_count")
    action = fields.Selection(
        [("opt_in", "Opt in"), ("opt_out", "Opt out")], required=True, default="opt_in"
    )
    reason = fields.Text(
        required=True,
        help="How the contact gave or withdrew consent (phone call, paper form, email...). "
        "Kept in the consent history as evidence.",
    )
    consent_date = fields.Datetime(
        string="Consent Given On",
        default=fields.Datetime.now,
        required=True,
        help="When the contact actually gave or withdrew consent, if earlier than now.",
    )

    @api.depends("partner_ids")
    def _compute_partner_count(self):
        for wizard in self:
            wizard.partner_count = len(wizard.partner_ids)

    def action_apply(self):
        self.ensure_one()
        if not self.reason or not self.reason.strip():
            raise UserError(self.env._("Please give the reason for this consent change."))
        self.partner_ids._sms_consent_set(
            self.action,
            "manual",
            evidence=self.reason.strip(),
            consent_date=self.consent_date,
        )
        return {"type": "ir.actions.act_window_close"}
