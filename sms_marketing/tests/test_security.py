from odoo.exceptions import AccessError
from odoo.tests import tagged, users

from .common import SmsMarketingCommon


@tagged("post_install", "-at_install")
class TestSecurity(SmsMarketingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.env["res.company"].create({"name": "Shenzhen Branch"})
        cls.user_manager.write({"company_ids": [(4, cls.company_2.id)]})
        cls.company_other = cls.env["res.company"].create({"name": "Not mine"})

    def test_manager_implies_user(self):
        self.assertTrue(self.user_manager.has_group("sms_marketing.group_sms_marketing_user"))
        self.assertFalse(self.user_marketing.has_group("sms_marketing.group_sms_marketing_manager"))

    @users("sms_user")
    def test_user_cannot_change_compliance_policy_or_footers(self):
        with self.assertRaises(AccessError):
            self.env.company.write({"sms_frequency_cap_count": 10})
        locale = self.env["sms.marketing.locale"].search([], limit=1)
        self.assertTrue(locale, "users can read the footers campaigns will use")
        with self.assertRaises(AccessError):
            locale.optout_footer = "forged"

    @users("sms_manager")
    def test_manager_edits_policy_fields_but_not_the_rest_of_the_company(self):
        company = self.env.company
        company.write({"sms_frequency_cap_count": 2, "sms_consent_mode": "opt_out"})
        self.assertEqual(company.sms_frequency_cap_count, 2)
        with self.assertRaises(AccessError):
            company.write({"name": "Renamed", "sms_frequency_cap_count": 3})
        self.assertEqual(company.sudo().name, self.company.name)

    @users("sms_manager")
    def test_manager_cannot_edit_policy_of_a_company_not_allowed(self):
        with self.assertRaises(AccessError):
            self.company_other.with_env(self.env).write({"sms_frequency_cap_count": 1})

    @users("sms_user", "sms_manager")
    def test_employee_without_sms_group_sees_no_ledger(self):
        self.partner_cn._sms_consent_set("opt_in", "manual", evidence="x")
        ledger = self.env["sms.marketing.consent"].with_user(self.user_employee)
        with self.assertRaises(AccessError):
            ledger.search([])
        with self.assertRaises(AccessError):
            self.env["sms.marketing.import"].with_user(self.user_employee).create({})

    def test_ledger_and_footers_are_separated_per_company(self):
        partner_2 = self.env["res.partner"].create(
            {"name": "Branch client", "mobile": "13600136000", "company_id": self.company_2.id}
        )
        partner_2._sms_consent_set("opt_in", "manual", evidence="branch")
        self.partner_cn._sms_consent_set("opt_in", "manual", evidence="main")
        mine = [("partner_id", "in", (partner_2 | self.partner_cn).ids)]
        marketer = self.env["sms.marketing.consent"].with_user(self.user_marketing)
        self.assertEqual(marketer.search(mine).mapped("evidence"), ["main"])
        manager = (
            self.env["sms.marketing.consent"]
            .with_user(self.user_manager)
            .with_context(allowed_company_ids=[self.company.id, self.company_2.id])
        )
        self.assertEqual(set(manager.search(mine).mapped("evidence")), {"main", "branch"})
        footers = self.env["sms.marketing.locale"].with_user(self.user_marketing).search([])
        self.assertEqual(footers.company_id, self.company)


@tagged("post_install", "-at_install")
class TestGatewaySecurity(SmsMarketingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gateway = cls.env["sms.marketing.gateway"].create(
            {
                "name": "Twilio",
                "provider": "twilio",
                "sender": "+14155550100",
                "twilio_account_sid": "AC1",
                "twilio_auth_token": "top-secret",
            }
        )
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})

    @users("sms_user", "sms_manager")
    def test_credentials_and_webhook_token_are_for_administrators_only(self):
        gateway = self.gateway.with_env(self.env)
        self.assertEqual(gateway.name, "Twilio", "marketing staff see which gateways exist")
        for fname in ("twilio_auth_token", "twilio_account_sid", "webhook_token"):
            with self.subTest(field=fname), self.assertRaises(AccessError):
                gateway.read([fname])
        with self.assertRaises(AccessError):
            gateway.write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.env["sms.marketing.gateway"].create({"name": "Mine", "provider": "simulator"})

    def test_administrator_manages_gateways(self):
        admin = self.env.ref("base.user_admin")
        gateway = self.gateway.with_user(admin)
        self.assertEqual(gateway.twilio_auth_token, "top-secret")
        gateway.write({"rate_limit": 10})

    @users("sms_user")
    def test_users_read_sent_sms_of_their_company_only(self):
        other = self.other_company
        Trace = self.env["sms.marketing.trace"].sudo()
        mine = Trace.create({"number": "+8613800138000", "body": "a", "state": "sent"})
        theirs = Trace.create(
            {"number": "+8613800138001", "body": "b", "state": "sent", "company_id": other.id}
        )
        visible = self.env["sms.marketing.trace"].search([("id", "in", (mine | theirs).ids)])
        self.assertEqual(visible, mine)
        with self.assertRaises(AccessError):
            mine.with_env(self.env).write({"state": "delivered"})

    def test_copied_database_is_neutralized(self):
        from odoo.modules.neutralize import get_neutralization_queries

        for query in get_neutralization_queries(["sms_marketing"]):
            self.env.cr.execute(query)
        self.gateway.invalidate_recordset()
        self.assertFalse(self.gateway.active)
        simulators = self.env["sms.marketing.gateway"].search([("provider", "=", "simulator")])
        self.assertTrue(all(simulators.mapped("active")))
