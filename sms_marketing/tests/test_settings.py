import psycopg2

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import SmsMarketingCommon


@tagged("post_install", "-at_install")
class TestSettings(SmsMarketingCommon):
    def test_new_company_gets_policy_defaults_and_footers(self):
        company = self.env["res.company"].create(
            {"name": "Hangzhou Shop", "country_id": self.country_cn.id}
        )
        self.assertEqual(company.sms_consent_mode, "opt_in")
        self.assertTrue(company.sms_quiet_hours)
        self.assertEqual((company.sms_send_hour_start, company.sms_send_hour_end), (8.0, 20.0))
        self.assertEqual((company.sms_frequency_cap_count, company.sms_frequency_cap_days), (4, 7))
        footers = {loc.lang_id.code: loc.optout_footer for loc in company.sms_locale_ids}
        self.assertEqual(footers, {"en_US": "Reply STOP to opt out", "zh_CN": "回复TD退订"})

    def test_footer_lookup_falls_back_by_language(self):
        Locale = self.env["sms.marketing.locale"]
        self.assertEqual(Locale._get_for_lang(self.company, "zh_CN").optout_footer, "回复TD退订")
        self.assertEqual(Locale._get_for_lang(self.company, "zh_TW").optout_footer, "回复TD退订")
        self.assertEqual(
            Locale._get_for_lang(self.company, "en_GB").optout_footer, "Reply STOP to opt out"
        )
        self.assertEqual(
            Locale._get_for_lang(self.company, "fr_FR").optout_footer, "Reply STOP to opt out"
        )
        self.assertEqual(
            Locale._get_for_lang(self.company, False).optout_footer, "Reply STOP to opt out"
        )

    def test_settings_form_stores_policy_on_company(self):
        settings = Form(self.env["res.config.settings"])
        settings.sms_consent_mode = "opt_out"
        settings.sms_send_hour_start = 9.5
        settings.sms_send_hour_end = 21.0
        settings.sms_frequency_cap_count = 3
        settings.sms_frequency_cap_days = 30
        settings.save().execute()
        self.assertEqual(self.company.sms_consent_mode, "opt_out")
        self.assertEqual(
            (self.company.sms_send_hour_start, self.company.sms_send_hour_end), (9.5, 21.0)
        )
        self.assertEqual(
            (self.company.sms_frequency_cap_count, self.company.sms_frequency_cap_days), (3, 30)
        )

    def test_invalid_policy_values_refused(self):
        for vals in (
            {"sms_send_hour_start": 21.0, "sms_send_hour_end": 8.0},
            {"sms_send_hour_start": -1.0},
            {"sms_send_hour_end": 25.0},
            {"sms_frequency_cap_count": -1},
            {"sms_frequency_cap_days": 0},
        ):
            with (
                self.subTest(vals=vals),
                self.assertRaises(ValidationError),
                self.env.cr.savepoint(),
            ):
                self.company.write(vals)

    def test_one_footer_per_language_and_company(self):
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.UniqueViolation),
            self.env.cr.savepoint(),
        ):
            self.env["sms.marketing.locale"].create(
                {
                    "company_id": self.company.id,
                    "lang_id": self.env.ref("base.lang_en").id,
                    "optout_footer": "STOP to end",
                }
            )

    def test_admin_tunes_the_automation_scheduled_action_from_settings(self):
        cron = self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")
        settings = Form(self.env["res.config.settings"])
        self.assertTrue(settings.sms_automation_cron_active)
        self.assertEqual(settings.sms_automation_cron_minutes, 5)
        settings.sms_automation_cron_minutes = 2
        settings.save().execute()
        self.assertEqual(
            (cron.interval_number, cron.interval_type, cron.active), (2, "minutes", True)
        )
        action = self.env["res.config.settings"].action_sms_marketing_crons()
        crons = self.env["ir.cron"].with_context(active_test=False).search(action["domain"])
        self.assertIn(cron, crons)
        self.assertIn(self.env.ref("sms_marketing.ir_cron_sms_marketing_dispatch"), crons)
        self.assertNotIn(self.env.ref("base.autovacuum_job"), crons)
