import base64
import csv
import io
from unittest.mock import patch

import openpyxl

from odoo.exceptions import UserError
from odoo.tests import tagged, users

from .common import SmsMarketingCommon

HEADER = "Name,Phone,Email,Tags,Consent,Consent Source,Consent Date\n"


@tagged("post_install", "-at_install")
class TestImport(SmsMarketingCommon):
    def run_import(self, content, filename="contacts.csv", **values):
        data = content.encode() if isinstance(content, str) else content
        wizard = self.env["sms.marketing.import"].create(
            {"file": base64.b64encode(data), "filename": filename, **values}
        )
        wizard.action_import()
        return wizard

    def rejected_rows(self, wizard):
        text = base64.b64decode(wizard.rejected_file).decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    def find(self, number):
        return self.env["res.partner"].search([("sms_e164", "=", number)])

    @users("sms_user")
    def test_import_creates_partners_with_tags_and_consent_evidence(self):
        wizard = self.run_import(
            HEADER
            + "张伟,138 0013 8001,zhang@example.com,VIP;Shanghai Store,opt-in,website,2024-03-01\n"
            + "李娜,+86 139 1234 5678,,VIP,退订,,\n"
            + "王芳,008613700137000,wang@example.com,,,,\n"
        )
        self.assertEqual(
            (wizard.created_count, wizard.updated_count, wizard.rejected_count), (3, 0, 0)
        )
        zhang = self.find("+8613800138001")
        self.assertEqual(zhang.name, "张伟")
        self.assertEqual(sorted(zhang.sms_tag_ids.mapped("name")), ["Shanghai Store", "VIP"])
        self.assertEqual(zhang.sms_consent_state, "opted_in")
        self.assertEqual(zhang.sms_consent_source, "import")
        evidence = zhang.sms_consent_ids.evidence
        self.assertIn("contacts.csv", evidence)
        self.assertIn("line 2", evidence)
        self.assertIn("website", evidence)
        self.assertEqual(zhang.sms_consent_date.date().isoformat(), "2024-03-01")
        li = self.find("+8613912345678")
        self.assertEqual(li.sms_consent_state, "opted_out")
        self.assertTrue(self.is_blacklisted("+8613912345678"))
        self.assertEqual(self.find("+8613700137000").sms_consent_state, "unknown")
        self.assertEqual(wizard.consent_count, 2)

    def test_import_matches_by_number_then_email_and_updates(self):
        by_email = self.env["res.partner"].create(
            {"name": "Email Only", "email": "only@example.com"}
        )
        tag = self.env["sms.marketing.tag"].create({"name": "Existing"})
        self.partner_cn.sms_tag_ids = tag
        wizard = self.run_import(
            HEADER
            + "Wang Wei renamed,+86 138 0013 8000,wangwei@example.com,existing;New,,,\n"
            + "Email Person,13500135000,ONLY@example.com,,opt-in,,\n"
        )
        self.assertEqual((wizard.created_count, wizard.updated_count), (0, 2))
        self.assertEqual(self.partner_cn.name, "王伟", "names are kept unless asked")
        self.assertEqual(self.partner_cn.email, "wangwei@example.com", "empty email filled")
        self.assertEqual(
            sorted(self.partner_cn.sms_tag_ids.mapped("name")),
            ["Existing", "New"],
            "tags matched case-insensitively and added",
        )
        self.assertEqual(by_email.sms_e164, "+8613500135000", "number set on email match")
        self.assertEqual(by_email.sms_consent_state, "opted_in")

    def test_overwrite_updates_names_and_emails(self):
        self.partner_cn.email = "old@example.com"
        self.run_import(HEADER + "Wang Wei,13800138000,new@example.com,,,,\n", overwrite=True)
        self.assertEqual(self.partner_cn.name, "Wang Wei")
        self.assertEqual(self.partner_cn.email, "new@example.com")

    def test_reimport_is_idempotent(self):
        content = HEADER + "A,13800138011,a@example.com,T1,opt-in,,2024-01-01\n"
        self.run_import(content)
        partner = self.find("+8613800138011")
        wizard = self.run_import(content)
        self.assertEqual((wizard.created_count, wizard.updated_count), (0, 1))
        self.assertEqual(self.find("+8613800138011"), partner)
        self.assertEqual(len(partner.sms_consent_ids), 1, "same consent is not logged twice")

    def test_rejected_rows_are_counted_and_downloadable_with_reason(self):
        wizard = self.run_import(
            HEADER
            + "Good,13800138021,,,,,\n"
            + "Bad number,12345,,,,,\n"
            + '=HYPERLINK("http://evil"),13800138022,,,maybe,,\n'
            + "Twin A,13800138023,,,opt-in,,\n"
            + "Twin B,13800138023,,,opt-out,,\n"
            + "Same,13800138024,,,,,\n"
            + "Same,13800138024,,,,,\n"
            + "Future,13800138025,,,opt-in,,2999-01-01\n"
        )
        self.assertEqual(wizard.created_count, 2)  # Good + Same (merged)
        self.assertEqual(wizard.merged_count, 1)
        self.assertEqual(wizard.rejected_count, 5)
        reasons = {line.code: line.count for line in wizard.result_line_ids}
        self.assertEqual(
            reasons,
            {"invalid_number": 1, "unknown_consent": 1, "conflict": 2, "future_date": 1},
        )
        rows = self.rejected_rows(wizard)
        self.assertEqual([row["Line"] for row in rows], ["3", "4", "5", "6", "9"])
        self.assertEqual(rows[1]["Name"], '\'=HYPERLINK("http://evil")', "formula neutralised")
        self.assertIn("maybe", rows[1]["Reason"])
        self.assertIn("6", rows[2]["Reason"])
        self.assertFalse(self.find("+8613800138023"), "conflicting rows are not imported")

    def test_gb18030_csv_with_chinese_headers(self):
        content = (
            "姓名,手机号,邮箱,标签,同意,同意来源,同意日期\n"
            "陈静,13800138031,,会员,同意,门店,2024年5月1日\n"
        )
        wizard = self.run_import(content.encode("gb18030"), filename="会员.csv")
        self.assertEqual(wizard.created_count, 1)
        partner = self.find("+8613800138031")
        self.assertEqual(partner.name, "陈静")
        self.assertEqual(partner.sms_tag_ids.name, "会员")
        self.assertEqual(partner.sms_consent_state, "opted_in")
        self.assertIn("会员.csv", partner.sms_consent_ids.evidence)

    def test_xlsx_with_numeric_phone_cells(self):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(["Name", "Mobile", "Consent"])
        sheet.append(["Excel Person", 13800138041, "yes"])
        buffer = io.BytesIO()
        workbook.save(buffer)
        wizard = self.run_import(buffer.getvalue(), filename="contacts.xlsx")
        self.assertEqual(wizard.created_count, 1)
        self.assertEqual(self.find("+8613800138041").sms_consent_state, "opted_in")

    def test_imported_contacts_follow_their_number_not_the_importer(self):
        """Quiet hours use the contact's zone: an import by a user in Paris must not give
        American contacts the Paris time zone (Odoo's default for new contacts)."""
        self.env.user.tz = "Europe/Paris"
        self.run_import("Name,Phone\nSF,+1 650 253 0000\nPudong,+86 138 0013 8071\n")
        sf = self.find("+16502530000")
        self.assertFalse(sf.tz)
        self.assertEqual(sf.sms_tz, "America/Los_Angeles")
        self.assertEqual(sf.sms_number_country_id, self.country_us)
        self.assertEqual(self.find("+8613800138071").sms_tz, "Asia/Shanghai")

    def test_imported_contacts_have_consistent_empty_images(self):
        """The import skips computing the resized copies of an image nobody gave: they must
        still read as empty, nothing is left to compute, and a photo added later is resized
        as usual."""
        self.run_import("Name,Phone\nNo Photo,+86 138 0013 8072\n")
        self.env.flush_all()
        partner = self.find("+8613800138072")
        self.env.invalidate_all()
        self.assertFalse(partner.image_1920)
        self.assertFalse(partner.image_128)
        self.assertFalse(partner.image_1024)
        self.assertFalse(
            self.env["ir.attachment"].search_count(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
            )
        )
        self.assertTrue(partner.avatar_128, "the placeholder avatar is still generated")
        # 1x1 PNG
        pixel = (
            b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
            b"hKmMIQAAAABJRU5ErkJggg=="
        )
        partner.image_1920 = pixel
        self.env.flush_all()
        self.env.invalidate_all()
        self.assertTrue(partner.image_128)
        self.assertTrue(partner.image_1024)

    def test_default_country_of_wizard_reads_national_numbers(self):
        self.run_import(
            "Name,Phone\nParis,06 12 34 56 78\n", default_country_id=self.env.ref("base.fr").id
        )
        self.assertTrue(self.find("+33612345678"))

    def test_existing_duplicates_in_database_are_not_guessed(self):
        self.env["res.partner"].create({"name": "Twin", "mobile": "13800138000"})
        wizard = self.run_import("Name,Phone\nWho,13800138000\n")
        self.assertEqual((wizard.updated_count, wizard.rejected_count), (0, 1))
        self.assertEqual(wizard.result_line_ids.code, "ambiguous_match")

    def test_unreadable_files_raise_clear_errors_and_change_nothing(self):
        before = self.env["res.partner"].search_count([])
        cases = [
            ("Name,Email\nA,a@example.com\n", "bad.csv", "phone"),
            ("Name,Phone\n", "bad.csv", "no data"),
            (b"Name,Phone\n\xff\xff\xff,1\n", "bad.csv", "UTF-8"),
            (b"PK\x03\x04broken zip", "bad.xlsx", "cannot be read"),
        ]
        for content, filename, message in cases:
            with self.subTest(message=message), self.assertRaises(UserError) as error:
                self.run_import(content, filename=filename)
            self.assertIn(message, str(error.exception))
        self.env["ir.config_parameter"].sudo().set_param("sms_marketing.import_max_mb", "0.0001")
        with self.assertRaises(UserError) as error:
            self.run_import(HEADER + "A,13800138051,,,,,\n" * 20)
        self.assertIn("too large", str(error.exception))
        self.assertEqual(self.env["res.partner"].search_count([]), before)

    def test_failure_midway_rolls_back_everything(self):
        """A crash after partners were created (here: a consent date the ledger refuses)
        leaves no partner, tag or ledger line behind: the import is one transaction."""
        before = (
            self.env["res.partner"].search_count([]),
            self.env["sms.marketing.tag"].search_count([]),
            self.env["sms.marketing.consent"].sudo().search_count([]),
        )
        with (
            patch.object(
                type(self.env["res.partner"]), "_sms_consent_apply", side_effect=UserError("boom")
            ),
            self.assertRaises(UserError),
            self.env.cr.savepoint(),
        ):
            self.run_import(HEADER + "X,13800138061,,NewTag,opt-in,,\n")
        after = (
            self.env["res.partner"].search_count([]),
            self.env["sms.marketing.tag"].search_count([]),
            self.env["sms.marketing.consent"].sudo().search_count([]),
        )
        self.assertEqual(after, before)
