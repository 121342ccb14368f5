from odoo import Command
from odoo.tests import TransactionCase


class SmsMarketingWebsiteSaleCommon(TransactionCase):
    """A tea shop website (its own domain, a two-hour abandoned delay), a known customer
    with a mobile number, and two products without taxes. Nothing relies on demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.Event = cls.env["sms.marketing.event"]
        cls.website = cls.env["website"].create(
            {
                "name": "Tea shop",
                "domain": "https://tea.example.com",
                "cart_abandoned_delay": 2.0,
                "company_id": cls.company.id,
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "王伟",
                "mobile": "+86 138 0013 8000",
                "country_id": cls.env.ref("base.cn").id,
                "email": "wang.wei@example.com",
            }
        )
        cls.tea = cls.env["product.product"].create(
            {
                "name": "Oolong Tea",
                "default_code": "TEA-1",
                "list_price": 50.0,
                "taxes_id": [Command.clear()],
                "website_published": True,
            }
        )
        cls.cake = cls.env["product.product"].create(
            {"name": "Mooncake", "list_price": 20.0, "taxes_id": [Command.clear()]}
        )
