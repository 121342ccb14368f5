from odoo import fields, models


class SmsMarketingGatewayEvent(models.Model):
    """A gateway event to apply later: simulated reports and replies, and real reports that
    arrived before the send result they refer to was written.

    Technical and short-lived: the event cron applies due events through the same code as
    webhooks and deletes them; unmatched reports are retried for a day, then dropped.
    """

    _name = "sms.marketing.gateway.event"
    _description = "Pending Gateway Event"
    _order = "due_at, id"

    gateway_id = fields.Many2one("sms.marketing.gateway", required=True, ondelete="cascade")
    kind = fields.Selection(
        [("status", "Delivery Report"), ("inbound", "Inbound SMS")], required=True
    )
    due_at = fields.Datetime(required=True, index=True)
    payload = fields.Json(required=True)
    tries = fields.Integer()
