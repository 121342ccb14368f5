from datetime import timedelta

from odoo import Command, fields

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class SmsMarketingSaleCommon(AccountTestInvoicingCommon):
    """A company with its chart of accounts, a customer with a mobile number, a tea without
    taxes (amounts are what the lines say) and a campaign. Nothing relies on demo data."""

    @classmethod
    def get_default_groups(cls):
        # the accounting test user also sets up the campaign the orders are credited to
        return super().get_default_groups() | cls.env.ref("sms_marketing.group_sms_marketing_user")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.company.write({"sms_attribution_click_days": 7, "sms_attribution_view_days": 1})
        cls.Event = cls.env["sms.marketing.event"]
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "王伟",
                "mobile": "+86 138 0013 8000",
                "country_id": cls.env.ref("base.cn").id,
                "email": "wang.wei@example.com",
            }
        )
        cls.tea = cls._create_product(
            name="Oolong Tea",
            default_code="TEA-1",
            lst_price=50.0,
            invoice_policy="order",
            taxes_id=[Command.clear()],
        )
        cls.campaign = cls.env["sms.marketing.campaign"].create(
            {"name": "Spring tea", "body": "New oolong is in!"}
        )

    def create_order(self, quantity=2.0, price=50.0, **values):
        return self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.tea.id,
                            "product_uom_qty": quantity,
                            "price_unit": price,
                        }
                    )
                ],
                **values,
            }
        )

    def clicked_trace(self, days_ago=1):
        """A delivered campaign SMS the customer clicked ``days_ago`` days ago."""
        now = fields.Datetime.now()
        # sudo: traces are written by the dispatcher only, no group creates them
        return (
            self.env["sms.marketing.trace"]
            .sudo()
            .create(
                {
                    "company_id": self.company.id,
                    "partner_id": self.customer.id,
                    "number": self.customer.sms_e164,
                    "body": "New oolong is in!",
                    "state": "delivered",
                    "campaign_id": self.campaign.id,
                    "sent_at": now - timedelta(days=days_ago, hours=1),
                    "clicked_at": now - timedelta(days=days_ago),
                }
            )
        )

    def events(self, order):
        """The order's events, oldest first."""
        return self.Event.search(
            [
                ("source", "=", "odoo_sale"),
                "|",
                ("external_id", "=", str(order.id)),
                ("external_id", "=like", f"{order.id}:%"),
            ],
            order="id",
        )

    def invoice(self, order):
        invoice = order._create_invoices()
        invoice.action_post()
        return invoice

    def pay(self, invoices, amount=None):
        values = {"payment_date": invoices[:1].invoice_date or fields.Date.today()}
        if amount is not None:
            values["amount"] = amount
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoices.ids
        ).create(values)._create_payments()

    def commit_hooks(self):
        """What a commit does before committing: flush, then the precommit callbacks."""
        self.env.flush_all()
        self.env.cr.flush()
