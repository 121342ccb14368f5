from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestUi(HttpCase):
    """Tours in headless Chromium: the screens a marketer uses, end to end."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.sms_default_country_id = cls.env.ref("base.cn")
        cls.marketer = cls.env["res.users"].create(
            {
                "name": "Tour Marketer",
                "login": "tour_marketer",
                "password": "tour_marketer",
                # the tours read English labels, whatever languages the database has
                "lang": "en_US",
                "groups_id": [(6, 0, [cls.env.ref("sms_marketing.group_sms_marketing_user").id])],
            }
        )

    def test_import_wizard_tour(self):
        self.start_tour(
            "/odoo/action-sms_marketing.res_partner_action",
            "sms_marketing_import_tour",
            login="tour_marketer",
        )
        zhang = self.env["res.partner"].search([("sms_e164", "=", "+8613800138801")])
        self.assertEqual(zhang.name, "Tour Zhang")
        self.assertEqual(zhang.sms_consent_state, "opted_in")
        self.assertIn("tour_contacts.csv", zhang.sms_consent_ids.evidence)
        li = self.env["res.partner"].search([("sms_e164", "=", "+8613988010000")])
        self.assertEqual(li.sms_consent_state, "opted_out")

    def test_consent_change_tour(self):
        partner = self.env["res.partner"].create({"name": "Tour Wang", "mobile": "13800138802"})
        self.start_tour(
            f"/odoo/action-sms_marketing.res_partner_action/{partner.id}",
            "sms_marketing_consent_tour",
            login="tour_marketer",
        )
        self.assertEqual(partner.sms_consent_state, "opted_out")
        self.assertEqual(
            partner.sms_consent_ids.sorted("id").mapped("evidence"),
            ["Agreed on the phone with the tour", "Replied TD"],
        )
        self.assertEqual(partner.sms_consent_ids.user_id, self.marketer)
