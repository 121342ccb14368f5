from odoo import api, fields, models


class SmsMarketingAutomationEnroll(models.TransientModel):
    """Add chosen contacts to a flow by hand (from the flow, or from a contact list)."""

    _name = "sms.marketing.automation.enroll"
    _description = "Add Contacts to an SMS Flow"

    automation_id = fields.Many2one(
        "sms.marketing.automation",
        string="Flow",
        required=True,
        domain="[('state', 'in', ('draft', 'running', 'paused'))]",
    )
    partner_ids = fields.Many2many("res.partner", string="Contacts", required=True)
    enrolled_count = fields.Integer(readonly=True)
    skipped_count = fields.Integer(readonly=True)
    done = fields.Boolean(readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if context.get("active_model") == "res.partner" and context.get("active_ids"):
            values["partner_ids"] = [(6, 0, context["active_ids"])]
        return values

    def action_enroll(self):
        self.ensure_one()
        enrollments = self.automation_id._enroll_manual(self.partner_ids)
        self.write(
            {
                "enrolled_count": len(enrollments),
                "skipped_count": len(self.partner_ids) - len(enrollments),
                "done": True,
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Add Contacts to the Flow"),
        }
