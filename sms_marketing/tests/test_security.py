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
