from odoo import fields, models

from .sms_marketing_trace import MESSAGE_CLASSES

#: The measures summed per contact tag (a subset of the daily figures').
TAG_MEASURES = (
    "targeted",
    "sent",
    "delivered",
    "clicked",
    "replied",
    "opted_out",
    "converted",
    "revenue",
    "cost",
)


class SmsMarketingTraceDailyTag(models.Model):
    """The SMS of each day summed per campaign and marketing tag of the contact (an SMS
    counts once under each tag its contact has; contacts without tags are not in it).
    Refreshed with the daily figures (``sms.marketing.trace.daily._cron_refresh``)."""

    _name = "sms.marketing.trace.daily.tag"
    _description = "SMS Daily Figures by Tag"
    _log_access = False
    _order = "day desc"

    day = fields.Date(required=True, index=True)
    company_id = fields.Many2one("res.company", required=True, index=True)
    campaign_id = fields.Many2one("sms.marketing.campaign", ondelete="cascade")
    tag_id = fields.Many2one("sms.marketing.tag", required=True, ondelete="cascade")
    message_class = fields.Selection(MESSAGE_CLASSES)
    targeted = fields.Integer()
    sent = fields.Integer()
    delivered = fields.Integer()
    clicked = fields.Integer()
    replied = fields.Integer()
    opted_out = fields.Integer()
    converted = fields.Integer()
    revenue = fields.Float(digits=(16, 2))
    cost = fields.Float(digits=(16, 4))
