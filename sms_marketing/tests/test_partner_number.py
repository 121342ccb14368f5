from odoo.tests import tagged

from .common import SmsMarketingCommon


@tagged("post_install", "-at_install")
class TestPartnerNumber(SmsMarketingCommon):
    def test_chinese_number_formats_all_become_one_e164(self):
        partners = self.env["res.partner"].create(
            [
                {"name": "A", "mobile": "138 0013 8000"},
                {"name": "B", "mobile": "+86 13800138000"},
                {"name": "C", "mobile": "008613800138000"},
                {"name": "D", "mobile": "+86-138-0013-8000"},
            ]
        )
        self.assertEqual(set(partners.mapped("sms_e164")), {"+8613800138000"})
        self.assertEqual(set(partners.mapped("sms_number_type")), {"mobile"})
        self.assertEqual(partners.sms_number_country_id, self.country_cn)

    def test_mobile_first_then_phone_and_sms_capable_preferred(self):
        partner = self.env["res.partner"].create(
            {"name": "Li", "phone": "13912345678", "mobile": "010 6552 9988"}
        )
        # a landline in Mobile does not hide a real mobile in Phone
        self.assertEqual(partner.sms_e164, "+8613912345678")
        partner.phone = False
        self.assertEqual(partner.sms_e164, "+861065529988")
        self.assertEqual(partner.sms_number_type, "fixed_line")

    def test_partner_country_wins_over_company_default(self):
        partner = self.env["res.partner"].create(
            {"name": "Bob", "mobile": "(650) 253-0000", "country_id": self.country_us.id}
        )
        self.assertEqual(partner.sms_e164, "+16502530000")
        self.assertEqual(partner.sms_number_type, "fixed_or_mobile")
        partner.country_id = False  # now read with the company's default country, China
        self.assertFalse(partner.sms_e164)
        self.assertEqual(partner.sms_number_type, "invalid")

    def test_company_default_country_change_recomputes_numbers(self):
        partner = self.env["res.partner"].create(
            {"name": "Zoe", "mobile": "06 12 34 56 78", "company_id": self.company.id}
        )
        self.assertEqual(partner.sms_number_type, "invalid")
        self.company.sms_default_country_id = self.env.ref("base.fr")
        self.assertEqual(partner.sms_e164, "+33612345678")
        self.assertEqual(partner.sms_number_country_id, self.env.ref("base.fr"))

    def test_time_zone_from_partner_then_number(self):
        self.assertEqual(self.partner_cn.sms_tz, "Asia/Shanghai")
        self.assertEqual(self.partner_us.sms_tz, "America/Los_Angeles")
        self.partner_us.tz = "America/New_York"
        self.assertEqual(self.partner_us.sms_tz, "America/New_York")

    def test_no_number_and_invalid_number(self):
        partner = self.env["res.partner"].create({"name": "Nobody"})
        self.assertFalse(partner.sms_e164)
        self.assertFalse(partner.sms_number_type)
        partner.mobile = "12345"
        self.assertFalse(partner.sms_e164)
        self.assertEqual(partner.sms_number_type, "invalid")

    def test_search_by_number_type_filter_domain(self):
        landline = self.env["res.partner"].create({"name": "Office", "phone": "010 6552 9988"})
        nothing = self.env["res.partner"].create({"name": "No number"})
        not_mobile = self.env["res.partner"].search(
            [
                ("id", "in", (landline | nothing | self.partner_cn).ids),
                ("sms_number_type", "not in", ["mobile", "fixed_or_mobile"]),
            ]
        )
        self.assertEqual(not_mobile, landline | nothing)
