import logging
import secrets

from odoo import api, fields, models
from odoo.tools import SQL

from ..core import shops as core_shops

_logger = logging.getLogger(__name__)


class SmsMarketingShop(models.Model):
    """An external shop (Shopify or WooCommerce) whose order webhooks become customer events.

    The shop owner pastes :attr:`webhook_url` and the signing secret into the shop's webhook
    settings. Each delivery is verified (HMAC-SHA256 of the raw body with the secret), a
    redelivery (same delivery id) is dropped, and the payload is mapped by ``core/shops.py``
    to events ingested for the shop's company, their external ids prefixed with this
    connection's id so two shops never collide. Administrators only: the secret is a
    credential.
    """

    _name = "sms.marketing.shop"
    _description = "Shop Connection"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    platform = fields.Selection(
        [(core_shops.SHOPIFY, "Shopify"), (core_shops.WOOCOMMERCE, "WooCommerce")],
        required=True,
        default=core_shops.SHOPIFY,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    secret = fields.Char(
        string="Signing Secret",
        required=True,
        copy=False,
        help="Shopify: the key shown under Settings > Notifications > Webhooks ('Your "
        "webhooks will be signed with...'). WooCommerce: the secret of the webhook.",
    )
    webhook_token = fields.Char(
        required=True, readonly=True, copy=False, default=lambda self: secrets.token_urlsafe(24)
    )
    webhook_url = fields.Char(compute="_compute_webhook_url")
    last_received_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("webhook_token_unique", "UNIQUE(webhook_token)", "Webhook tokens are unique.")
    ]

    def init(self):
        # delivery ids already processed, to drop redeliveries (kept a week, see _gc)
        self.env.cr.execute(
            """
            CREATE TABLE IF NOT EXISTS sms_marketing_shop_delivery (
                shop_id integer NOT NULL REFERENCES sms_marketing_shop(id) ON DELETE CASCADE,
                delivery_id varchar NOT NULL,
                received_at timestamp NOT NULL DEFAULT (now() at time zone 'utc'),
                PRIMARY KEY (shop_id, delivery_id)
            )
            """
        )

    @api.depends("webhook_token", "platform")
    def _compute_webhook_url(self):
        base = self.get_base_url()
        for shop in self:
            shop.webhook_url = (
                f"{base}/sms_marketing/api/v1/webhooks/{shop.platform}/{shop.webhook_token}"
            )

    @api.model
    def _get_by_token(self, platform, token):
        if not token:
            return self.browse()
        return self.search([("webhook_token", "=", token), ("platform", "=", platform)], limit=1)

    def _receive(self, topic, payload, delivery_id=None):
        """Record one verified webhook delivery.

        :param str topic: the shop's topic header (``orders/create``, ``order.updated``...)
        :param dict payload: the decoded JSON body
        :param str delivery_id: the shop's delivery id; a delivery seen before is dropped
        :return: ``(duplicate, results)``: whether it was a redelivery, and the per-event
            results of ``sms.marketing.event._ingest``
        :raises ValueError: when the payload is not the shop's resource
        """
        self.ensure_one()
        if delivery_id:
            self.env.cr.execute(
                SQL(
                    "INSERT INTO sms_marketing_shop_delivery (shop_id, delivery_id)"
                    " VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                    self.id,
                    delivery_id[:255],
                )
            )
            if not self.env.cr.fetchone():
                return True, []
        mapper = (
            core_shops.shopify_events
            if self.platform == core_shops.SHOPIFY
            else core_shops.woocommerce_events
        )
        events = mapper(topic, payload)
        prefix = f"{self.id}:"
        for event in events:
            event["external_id"] = prefix + str(event["external_id"])
            if event.get("refers_to"):
                event["refers_to"] = prefix + str(event["refers_to"])
            customer = event.get("customer")
            if isinstance(customer, dict) and customer.get("external_id"):
                customer["external_id"] = prefix + str(customer["external_id"])
        results = (
            self.env["sms.marketing.event"]
            .with_company(self.company_id)
            ._ingest(events, self.platform, company=self.company_id)
            if events
            else []
        )
        self.env.cr.execute(
            SQL(
                "UPDATE sms_marketing_shop SET last_received_at = now() at time zone 'utc'"
                " WHERE id = %s",
                self.id,
            )
        )
        for result in results:
            if result["status"] == "rejected":
                _logger.warning(
                    "Shop %s: %s event rejected (%s %s)",
                    self.id,
                    topic,
                    result["code"],
                    result["field"],
                )
        return False, results

    @api.autovacuum
    def _gc_deliveries(self):
        self.env.cr.execute(
            "DELETE FROM sms_marketing_shop_delivery"
            " WHERE received_at < now() at time zone 'utc' - interval '7 days'"
        )
