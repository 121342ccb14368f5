from odoo.tests import TransactionCase, new_test_user


class SmsMarketingCommon(TransactionCase):
    """Fixtures shared by the addon's tests: one user per access level, a Chinese default
    country, and partners with test numbers. Nothing relies on demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.country_cn = cls.env.ref("base.cn")
        cls.country_us = cls.env.ref("base.us")
        cls.company.sms_default_country_id = cls.country_cn
        cls.user_employee = new_test_user(
            cls.env, login="sms_employee", groups="base.group_user", name="Employee Emma"
        )
        cls.user_marketing = new_test_user(
            cls.env,
            login="sms_user",
            groups="base.group_user,sms_marketing.group_sms_marketing_user",
            name="Marketer Mia",
        )
        cls.user_manager = new_test_user(
            cls.env,
            login="sms_manager",
            groups="base.group_user,sms_marketing.group_sms_marketing_manager",
            name="Manager Max",
        )
        cls.partner_cn = cls.env["res.partner"].create(
            {"name": "王伟", "mobile": "138 0013 8000", "country_id": cls.country_cn.id}
        )
        cls.partner_us = cls.env["res.partner"].create(
            {"name": "Jane Doe", "mobile": "+1 415 555 2671", "country_id": cls.country_us.id}
        )

    def assertLedger(self, partner, expected):
        """Assert the partner's ledger lines, oldest first, as (action, source) tuples."""
        lines = partner.sms_consent_ids.sorted(lambda line: (line.consent_date, line.id))
        self.assertEqual([(line.action, line.source) for line in lines], expected)

    def is_blacklisted(self, number):
        return bool(self.env["phone.blacklist"].sudo().search_count([("number", "=", number)]))
