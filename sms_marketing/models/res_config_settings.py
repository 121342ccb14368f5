from odoo import fields, models


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
