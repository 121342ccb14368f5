from datetime import timedelta

from odoo import Command, fields
from odoo.tests import tagged

from .common import SmsMarketingWebsiteSaleCommon


@tagged("post_install", "-at_install")
class TestAbandonedCarts(SmsMarketingWebsiteSaleCommon):
    """Carts abandoned in Odoo's sense become one event each, with the link back to them."""

    def cart(self, hours_ago=3.0, **values):
        return self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "website_id": self.website.id,
                "date_order": fields.Datetime.now() - timedelta(hours=hours_ago),
                "order_line": [
                    Command.create(
                        {"product_id": self.tea.id, "product_uom_qty": 2, "price_unit": 50.0}
                    )
                ],
                **values,
            }
        )

    def events(self, *carts):
        return self.Event.search(
            [
                ("source", "=", "odoo_sale"),
                ("external_id", "in", [f"{cart.id}:abandoned" for cart in carts]),
            ]
        )

    def test_abandoned_cart_is_one_event_with_its_recovery_link(self):
        cart = self.cart(hours_ago=3)
        self.assertTrue(cart.is_abandoned_cart)
        self.env["sale.order"]._cron_sms_marketing_abandoned_carts()
        event = self.events(cart)
        self.assertTrue(cart.access_token)
        self.assertRecordValues(
            event,
            [
                {
                    "type": "cart_abandoned",
                    "partner_id": self.customer.id,
                    "amount": 100.0,
                    "currency_id": cart.currency_id.id,
                    "occurred_at": cart.date_order + timedelta(hours=2),
                    "recovery_url": "https://tea.example.com/shop/cart?access_token="
                    + cart.access_token,
                    "revenue": 0.0,
                }
            ],
        )
        self.assertEqual(
            event.recovery_url, f"{cart.get_base_url()}/shop/cart?access_token={cart.access_token}"
        )
        self.assertEqual(
            event.payload["lines"],
            [{"product": "TEA-1", "name": "[TEA-1] Oolong Tea", "quantity": 2.0, "price": 50.0}],
        )
        # once: the next runs find it recorded
        self.env["sale.order"]._cron_sms_marketing_abandoned_carts()
        self.assertEqual(len(self.events(cart)), 1)

    def test_carts_not_abandoned_are_not_recorded(self):
        abandoned = self.cart(hours_ago=3)
        not_yet = self.cart(hours_ago=1)
        public = self.cart(partner_id=self.website.user_id.partner_id.id)
        empty = self.cart(order_line=[])
        quotation = self.cart(website_id=False)
        long_ago = self.cart(hours_ago=24 * 8)
        confirmed = self.cart()
        confirmed.action_confirm()
        confirmed.date_order = fields.Datetime.now() - timedelta(hours=3)
        self.env["sale.order"]._cron_sms_marketing_abandoned_carts()
        self.assertEqual(
            self.events(abandoned, not_yet, public, empty, quotation, long_ago, confirmed).mapped(
                "external_id"
            ),
            [f"{abandoned.id}:abandoned"],
        )
        # later, the recent one is abandoned too
        not_yet.date_order -= timedelta(hours=2)
        self.env["sale.order"]._cron_sms_marketing_abandoned_carts()
        self.assertEqual(len(self.events(not_yet)), 1)

    def test_carts_are_read_in_bounded_batches(self):
        carts = self.cart() + self.cart() + self.cart()
        SaleOrder = self.env["sale.order"]
        self.assertEqual(SaleOrder._cron_sms_marketing_abandoned_carts(batch_size=1, limit=2), 2)
        self.assertEqual(len(self.events(*carts)), 2)
        SaleOrder._cron_sms_marketing_abandoned_carts(batch_size=1, limit=2)
        self.assertEqual(len(self.events(*carts)), 3)

    def test_cron_runs_its_code(self):
        cart = self.cart()
        self.env.ref(
            "sms_marketing_website_sale.ir_cron_sms_marketing_abandoned_carts"
        ).method_direct_trigger()
        self.assertEqual(len(self.events(cart)), 1)
