from datetime import timedelta

import psycopg2

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged, users
from odoo.tools import mute_logger

from .common import SmsMarketingCommon


@tagged("post_install", "-at_install")
class TestConsent(SmsMarketingCommon):
    def test_new_partner_has_no_consent(self):
        self.assertEqual(self.partner_cn.sms_consent_state, "unknown")
        self.assertFalse(self.partner_cn.sms_consent_ids)

    @users("sms_user")
    def test_opt_in_and_out_through_wizard_log_evidence_and_blacklist(self):
        partner = self.partner_cn.with_env(self.env)
        action = partner.action_sms_opt_in()
        wizard = Form(self.env[action["res_model"]].with_context(**action["context"]))
        wizard.reason = "Signed the loyalty form in the Shanghai store"
        wizard.save().action_apply()
        self.assertEqual(partner.sms_consent_state, "opted_in")
        self.assertEqual(partner.sms_consent_source, "manual")
        line = partner.sms_consent_ids
        self.assertEqual(len(line), 1)
        self.assertEqual(line.number, "+8613800138000")
        self.assertEqual(line.evidence, "Signed the loyalty form in the Shanghai store")
        self.assertEqual(line.user_id, self.user_marketing)
        self.assertEqual(line.company_id, self.env.company)

        action = partner.action_sms_opt_out()
        wizard = Form(self.env[action["res_model"]].with_context(**action["context"]))
        wizard.reason = "Called the hotline"
        wizard.save().action_apply()
        self.assertEqual(partner.sms_consent_state, "opted_out")
        self.assertLedger(partner, [("opt_in", "manual"), ("opt_out", "manual")])
        self.assertTrue(self.is_blacklisted("+8613800138000"))
        self.assertTrue(partner.phone_sanitized_blacklisted)

    def test_opt_in_removes_number_from_blacklist_with_reason_logged(self):
        partner = self.partner_cn.with_context(tracking_disable=False)
        partner._sms_consent_set("opt_out", "keyword", evidence="TD")
        self.assertTrue(self.is_blacklisted("+8613800138000"))
        partner._sms_consent_set("opt_in", "form", evidence="Web form, IP 203.0.113.7")
        self.assertFalse(self.is_blacklisted("+8613800138000"))
        removed = (
            self.env["phone.blacklist"]
            .sudo()
            .with_context(active_test=False)
            .search([("number", "=", "+8613800138000")])
        )
        self.assertFalse(removed.active)
        bodies = "".join(removed.message_ids.mapped("body"))
        self.assertIn("TD", bodies)
        self.assertIn("Web form, IP 203.0.113.7", bodies)

    def test_latest_effective_date_wins_so_old_import_cannot_undo_opt_out(self):
        now = fields.Datetime.now()
        self.partner_cn._sms_consent_set("opt_out", "keyword", evidence="TD")
        self.partner_cn._sms_consent_set(
            "opt_in", "import", evidence="old.csv", consent_date=now - timedelta(days=400)
        )
        self.assertEqual(self.partner_cn.sms_consent_state, "opted_out")
        self.assertEqual(len(self.partner_cn.sms_consent_ids), 2)

    def test_double_opt_in_request_is_pending_then_confirmed(self):
        self.partner_cn._sms_consent_set("request", "double_opt_in", evidence="Reply Y to confirm")
        self.assertEqual(self.partner_cn.sms_consent_state, "pending")
        self.partner_cn._sms_consent_set("confirm", "keyword", evidence="Y")
        self.assertEqual(self.partner_cn.sms_consent_state, "opted_in")

    def test_future_consent_date_refused(self):
        with self.assertRaises(UserError):
            self.partner_cn._sms_consent_set(
                "opt_in", "manual", consent_date=fields.Datetime.now() + timedelta(days=1)
            )
        self.assertFalse(self.partner_cn.sms_consent_ids)

    def test_opted_out_contact_changing_number_stays_blacklisted(self):
        self.partner_cn._sms_consent_set("opt_out", "manual", evidence="Asked by phone")
        self.partner_cn.mobile = "139 1234 5678"
        self.assertTrue(self.is_blacklisted("+8613912345678"))

    @users("sms_user")
    def test_consent_fields_cannot_be_written_directly(self):
        partner = self.partner_cn.with_env(self.env)
        with self.assertRaises(UserError):
            partner.write({"sms_consent_state": "opted_in"})
        with self.assertRaises(UserError):
            self.env["res.partner"].create({"name": "X", "sms_consent_state": "opted_in"})
        self.assertEqual(partner.sms_consent_state, "unknown")

    @users("sms_user", "sms_manager")
    def test_users_cannot_create_edit_or_delete_ledger_lines(self):
        partner = self.env["res.partner"].sudo().create({"name": "P", "mobile": "13700137001"})
        partner._sms_consent_set("opt_in", "manual", evidence="Paper form")
        line = partner.with_env(self.env).sms_consent_ids
        self.assertEqual(line.evidence, "Paper form")  # readable
        with self.assertRaises(AccessError):
            line.write({"evidence": "forged"})
        with self.assertRaises(AccessError):
            line.unlink()
        with self.assertRaises(AccessError):
            self.env["sms.marketing.consent"].create(
                {"partner_id": self.partner_cn.id, "action": "opt_in", "source": "manual"}
            )

    def test_even_superuser_cannot_edit_or_delete_ledger_lines(self):
        self.partner_cn._sms_consent_set("opt_in", "manual", evidence="Paper form")
        line = self.partner_cn.sms_consent_ids.sudo()
        with self.assertRaises(UserError):
            line.write({"evidence": "forged"})
        with self.assertRaises(UserError):
            line.unlink()
        with self.assertRaises(UserError):
            self.env["sms.marketing.consent"].sudo().create(
                {"partner_id": self.partner_cn.id, "action": "opt_out", "source": "manual"}
            )
        self.assertEqual(line.evidence, "Paper form")

    def test_database_trigger_refuses_sql_edits_but_keeps_lines_of_deleted_partners(self):
        partner = self.env["res.partner"].create({"name": "Gone", "mobile": "13700137000"})
        partner._sms_consent_set("opt_out", "keyword", evidence="退订")
        line = partner.sms_consent_ids
        self.env.flush_all()
        for query in (
            "UPDATE sms_marketing_consent SET evidence = 'forged' WHERE id = %s",
            "DELETE FROM sms_marketing_consent WHERE id = %s",
        ):
            with (
                self.subTest(query=query),
                mute_logger("odoo.sql_db"),
                self.assertRaises(psycopg2.errors.RaiseException),
                self.env.cr.savepoint(),
            ):
                self.env.cr.execute(query, [line.id])
        partner.unlink()
        line.invalidate_recordset()
        self.assertTrue(line.exists())
        self.assertFalse(line.partner_id)
        self.assertEqual((line.number, line.evidence), ("+8613700137000", "退订"))

    def test_bulk_apply_records_one_line_per_entry(self):
        partners = self.env["res.partner"].create(
            [{"name": f"P{i}", "mobile": f"1380000{i:04d}"} for i in range(50)]
        )
        lines = self.env["res.partner"]._sms_consent_apply(
            [
                {"partner": p, "action": "opt_out" if i % 5 == 0 else "opt_in", "source": "api"}
                for i, p in enumerate(partners)
            ],
            log_blacklist=False,
        )
        self.assertEqual(len(lines), 50)
        self.assertEqual(
            partners.filtered(lambda p: p.sms_consent_state == "opted_out"), partners[::5]
        )
        self.assertEqual(
            self.env["phone.blacklist"]
            .sudo()
            .search_count([("number", "in", partners[::5].mapped("sms_e164"))]),
            10,
        )

    def test_unknown_action_or_source_refused(self):
        with self.assertRaises(UserError):
            self.partner_cn._sms_consent_set("subscribe", "manual")
        with self.assertRaises(UserError):
            self.partner_cn._sms_consent_set("opt_in", "carrier_pigeon")
