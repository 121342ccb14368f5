from odoo import api, fields, models

AUTOMATION_CRON = "sms_marketing.ir_cron_sms_marketing_automation"
CRON_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    sms_consent_mode = fields.Selection(
        related="company_id.sms_consent_mode", readonly=False, required=True
    )
    sms_quiet_hours = fields.Boolean(related="company_id.sms_quiet_hours", readonly=False)
    sms_send_hour_start = fields.Float(related="company_id.sms_send_hour_start", readonly=False)
    sms_send_hour_end = fields.Float(related="company_id.sms_send_hour_end", readonly=False)
    sms_frequency_cap_count = fields.Integer(
        related="company_id.sms_frequency_cap_count", readonly=False
    )
    sms_frequency_cap_days = fields.Integer(
        related="company_id.sms_frequency_cap_days", readonly=False
    )
    sms_default_country_id = fields.Many2one(
        related="company_id.sms_default_country_id", readonly=False
    )
    sms_attribution_click_days = fields.Integer(
        related="company_id.sms_attribution_click_days", readonly=False
    )
    sms_attribution_view_days = fields.Integer(
        related="company_id.sms_attribution_view_days", readonly=False
    )
    sms_event_payload_days = fields.Integer(
        related="company_id.sms_event_payload_days", readonly=False
    )
    sms_automation_cron_active = fields.Boolean(
        string="Run Automation Flows",
        help="The scheduled action that enrolls contacts and moves them through the flows.",
    )
    sms_automation_cron_minutes = fields.Integer(
        string="Automation Interval (minutes)",
        help="How often the flows are looked at when nothing wakes them: a trigger or a due "
        "step wakes the scheduled action at once; dates, segments and dormant contacts are "
        "scanned at most hourly.",
    )

    @api.model
    def _sms_automation_cron(self):
        """The automation's scheduled action, its state as ``(active, minutes)``."""
        # sudo: SMS Marketing managers see it in the settings too; only administrators may
        # change it (set_values)
        cron = self.env.ref(AUTOMATION_CRON, raise_if_not_found=False)
        if not cron:
            return cron, (False, 0)
        cron = cron.sudo()
        minutes = cron.interval_number * CRON_UNIT_MINUTES.get(cron.interval_type, 1)
        return cron, (cron.active, minutes)

    @api.model
    def get_values(self):
        values = super().get_values()
        _cron, (active, minutes) = self._sms_automation_cron()
        values.update(sms_automation_cron_active=active, sms_automation_cron_minutes=minutes)
        return values

    def set_values(self):
        res = super().set_values()
        cron, current = self._sms_automation_cron()
        wanted = (self.sms_automation_cron_active, max(self.sms_automation_cron_minutes, 1))
        if cron and wanted != current and self.env.user.has_group("base.group_system"):
            cron.write(
                {"active": wanted[0], "interval_number": wanted[1], "interval_type": "minutes"}
            )
        return res

    def action_sms_marketing_crons(self):
        """Every scheduled action of SMS Marketing (administrators)."""
        action = self.env["ir.actions.act_window"]._for_xml_id("base.ir_cron_act")
        crons = self.env["ir.model.data"].search(
            [("module", "=", "sms_marketing"), ("model", "=", "ir.cron")]
        )
        action["domain"] = [("id", "in", crons.mapped("res_id"))]
        action["context"] = {"active_test": False}
        return action
