import base64
import csv
import io
from datetime import timedelta
from unittest.mock import patch

from openpyxl import load_workbook

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, tagged, users

from ..models import sms_marketing_campaign_prepare as prepare
from .common import SIMULATOR_DELIVERS_ALL, SmsMarketingDispatchCommon


class ReportsCommon(SmsMarketingDispatchCommon):
    """A sent campaign on a deterministic simulator: two contacts delivered, one click,
    one order credited, one excluded contact without consent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"sms_consent_mode": "opt_in", "sms_quiet_hours": False})
        cls.simulator.write(SIMULATOR_DELIVERS_ALL)
        Partner = cls.env["res.partner"]
        cls.vip = cls.env["sms.marketing.tag"].create({"name": "Report VIP"})
        cls.ann = Partner.create({"name": "Ann Report", "mobile": "+8613700010001"})
        cls.bob = Partner.create({"name": "Bob Report", "mobile": "+8613700010002"})
        cls.cid = Partner.create({"name": "Cid Report", "mobile": "+8613700010003"})
        (cls.ann + cls.bob)._sms_consent_set("opt_in", "manual", evidence="test")
        cls.ann.sms_tag_ids = cls.vip
        cls.audience = cls.ann + cls.bob + cls.cid
        cls.segment = cls.env["sms.marketing.segment"].create(
            {"name": "Report audience", "domain": repr([("id", "in", cls.audience.ids)])}
        )

    def send_campaign(self, name="Report sale"):
        campaign = self.env["sms.marketing.campaign"].create(
            {
                "name": name,
                "body": "{{ first_name }}, 20% off today: https://shop.example/r",
                "segment_ids": [(6, 0, self.segment.ids)],
            }
        )
        campaign.action_launch()
        while self.env["sms.marketing.campaign"]._cron_prepare():
            pass
        self.dispatch()
        self.apply_events()
        return campaign

    def trace(self, campaign, partner):
        return self.env["sms.marketing.trace"].search(
            [("campaign_id", "=", campaign.id), ("partner_id", "=", partner.id)]
        )


@tagged("post_install", "-at_install")
class TestTraceReport(ReportsCommon):
    def test_daily_figures_and_rates_of_a_campaign(self):
        campaign = self.send_campaign()
        self.trace(campaign, self.ann)._sms_marketing_record_click()
        self.env["sms.marketing.event"]._ingest(
            [
                {
                    "type": "order",
                    "external_id": "report-1",
                    "amount": 120,
                    "currency": self.company.currency_id.name,
                    "customer": {"phone": self.ann.sms_e164},
                }
            ],
            "api",
            company=self.company,
        )
        self.env["sms.marketing.trace.daily"]._cron_refresh(full=True)
        Report = self.env["sms.marketing.trace.report"]
        groups = Report.read_group(
            [("campaign_id", "=", campaign.id)],
            [
                "targeted:sum",
                "excluded:sum",
                "sent:sum",
                "delivered:sum",
                "clicked:sum",
                "converted:sum",
                "revenue:sum",
                "cost:sum",
                "delivery_rate",
                "click_rate",
                "conversion_rate",
                "roi",
            ],
            ["campaign_id"],
        )
        self.assertEqual(len(groups), 1)
        group = groups[0]
        self.assertEqual(
            (group["targeted"], group["excluded"], group["sent"], group["delivered"]),
            (3, 1, 2, 2),
        )
        self.assertEqual((group["clicked"], group["converted"], group["revenue"]), (1, 1, 120))
        self.assertEqual(group["delivery_rate"], 100)
        self.assertEqual(group["click_rate"], 50, "rates are ratios of the group's sums")
        self.assertAlmostEqual(group["cost"], 0.08)
        self.assertAlmostEqual(group["roi"], (120 - 0.08) * 100 / 0.08)
        # the excluded contact with its reason, and drill-down to the SMS
        excluded = Report.search([("campaign_id", "=", campaign.id), ("reason", "!=", False)])
        self.assertEqual(excluded.reason, "no_consent")
        action = excluded.action_open_traces()
        traces = self.env["sms.marketing.trace"].search(action["domain"])
        self.assertEqual(traces.partner_id, self.cid)
        # every line opens exactly the SMS it counts
        for line in Report.search([("campaign_id", "=", campaign.id)]):
            opened = self.env["sms.marketing.trace"].search(line.action_open_traces()["domain"])
            self.assertEqual(len(opened), line.targeted)
        # by contact tag: Ann only
        tags = self.env["sms.marketing.trace.tag.report"].read_group(
            [("campaign_id", "=", campaign.id)], ["sent:sum", "clicked:sum"], ["tag_id"]
        )
        self.assertEqual([(g["tag_id"][0], g["sent"], g["clicked"]) for g in tags],
                         [(self.vip.id, 1, 1)])  # fmt: skip

    def test_refresh_recomputes_the_last_days_only(self):
        campaign = self.send_campaign()
        Daily = self.env["sms.marketing.trace.daily"]
        Daily._cron_refresh()
        first = Daily.search([("campaign_id", "=", campaign.id)])
        self.assertEqual(sum(first.mapped("sent")), 2)
        # an old day stays as it was summed; a recent one is summed again
        old = Daily.create({"day": "2020-01-01", "company_id": self.company.id, "sent": 7})
        self.trace(campaign, self.bob)._sms_marketing_record_click()
        Daily._cron_refresh()
        self.assertTrue(old.exists())
        self.assertEqual(
            sum(Daily.search([("campaign_id", "=", campaign.id)]).mapped("clicked")), 1
        )
        Daily._cron_refresh(full=True)
        self.assertFalse(old.exists(), "a full refresh starts again from the SMS")

    def test_flow_steps_are_their_own_lines(self):
        flow = self.env["sms.marketing.automation"].create(
            {"name": "Report flow", "trigger": "manual", "reentry": "always"}
        )
        step = self.env["sms.marketing.automation.step"].create(
            {"automation_id": flow.id, "step_type": "send", "body": "Hello from a flow"}
        )
        flow.action_start()
        flow._enroll_manual(self.ann)
        while self.env["sms.marketing.automation"]._cron_run():
            pass
        self.dispatch()
        self.env["sms.marketing.trace.daily"]._cron_refresh(full=True)
        line = self.env["sms.marketing.trace.report"].search([("step_id", "=", step.id)])
        self.assertEqual((line.automation_id, line.sent), (flow, 1))

    def test_dashboard_figures(self):
        campaign = self.send_campaign()
        self.trace(campaign, self.ann)._sms_marketing_record_click()
        self.env["sms.marketing.trace.daily"]._cron_refresh(full=True)
        data = self.env["sms.marketing.dashboard"].get_dashboard(30)
        self.assertGreaterEqual(data["totals"]["sent"], 2)
        self.assertEqual(len(data["series"]), 30)
        today = data["series"][-1]
        self.assertGreaterEqual((today["sent"], today["clicked"]), (2, 1))
        self.assertIn(self.simulator.id, [g["id"] for g in data["gateways"]])
        self.assertTrue(data["labels"]["title"])

    @users("sms_employee")
    def test_reports_need_sms_marketing_rights(self):
        with self.assertRaises(AccessError):
            self.env["sms.marketing.trace.report"].search([])
        with self.assertRaises(AccessError):
            self.env["sms.marketing.dashboard"].get_dashboard(30)


@tagged("post_install", "-at_install")
class TestSegmentExport(ReportsCommon):
    def export(self, file_format, user=None):
        Export = self.env["sms.marketing.segment.export"]
        if user:
            Export = Export.with_user(user)
        wizard = Export.create({"segment_id": self.segment.id, "file_format": file_format})
        wizard.action_export()
        return wizard, base64.b64decode(wizard.file)

    def test_export_csv_with_consent_and_tags_logged_on_the_segment(self):
        self.ann.name = "=HYPERLINK(1)"  # a contact's name is never a formula in the file
        wizard, data = self.export("csv", self.user_manager)
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        self.assertEqual(rows[0][:4], ["Name", "Mobile", "Email", "Consent"])
        self.assertEqual(wizard.exported_count, 3)
        # numbers are written as text ('+86...): spreadsheets keep them whole, run nothing
        self.assertTrue(all(row[1].startswith("'+") for row in rows[1:]))
        by_number = {row[1][1:]: row for row in rows[1:]}
        ann = by_number[self.ann.sms_e164]
        self.assertEqual(ann[0], "'=HYPERLINK(1)")
        self.assertEqual((ann[3], ann[5], ann[6]), ("Opted In", "Manual", "Report VIP"))
        self.assertTrue(ann[4])
        self.assertEqual(by_number[self.cid.sms_e164][3], "No Consent")
        log = self.segment.message_ids[:1]
        self.assertIn("3 contacts exported as CSV", log.body)
        self.assertIn(self.user_manager.name, log.body)

    def test_export_xlsx(self):
        wizard, data = self.export("xlsx", self.user_manager)
        sheet = load_workbook(io.BytesIO(data), read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        self.assertEqual(len(rows), 4)
        self.assertEqual(wizard.file_name, "Report audience.xlsx")
        # characters a sheet's title cannot hold
        self.segment.name = "VIP / 2024: [Spring]?"
        wizard, data = self.export("xlsx", self.user_manager)
        sheet = load_workbook(io.BytesIO(data), read_only=True).active
        self.assertEqual(sheet.title, "VIP   2024   Spring")
        self.assertEqual(len(list(sheet.iter_rows(values_only=True))), 4)

    def test_only_managers_export(self):
        with self.assertRaises(AccessError):
            self.export("csv", self.user_marketing)


@tagged("post_install", "-at_install")
class TestCopyAssistantAndBestTime(ReportsCommon):
    def test_campaign_form_shows_the_copy_checks_in_the_users_language(self):
        form = Form(self.env["sms.marketing.campaign"])
        form.name = "Copy"
        form.body = "WE HAVE NEWS FOR YOU, VISIT US https://bit.ly/abc"
        html = str(form.copy_check_html)
        self.assertIn("Carriers filter public shorteners (bit.ly)", html)
        self.assertIn("Greet the contact by name", html)
        self.assertIn("Too many capitals", html)
        form.body = "{{ first_name }}, 20% off today only: https://shop.example/x"
        html = str(form.copy_check_html)
        self.assertNotIn("fa-lightbulb-o", html.split("o_sms_copy_checks")[1].split("Personal")[0])
        self.assertIn("Personal: first_name.", html)
        chinese = (
            self.env["sms.marketing.campaign"]
            .with_context(lang="zh_CN")
            .new({"name": "中文", "body": "https://bit.ly/abc", "company_id": self.company.id})
        )
        self.assertRegex(str(chinese.copy_check_html), "[\u4e00-\u9fff]")

    def test_best_time_schedules_each_contact_at_their_hour(self):
        """Contacts with a known best hour get the SMS at that local hour within 24 h,
        the others at their RFM group's, inside the company's window."""
        Activity = self.env["sms.marketing.partner.activity"]
        self.ann.tz = "Asia/Shanghai"
        self.bob.tz = "Asia/Shanghai"
        Activity._record(last_click_at={self.ann.id: self.env.cr.now()})
        Activity.search([("partner_id", "=", self.ann.id)]).write({"best_hour": 19})
        self.env["ir.config_parameter"].set_param("sms_marketing.best_hours", '{"*": 10}')
        self.company.write(
            {"sms_quiet_hours": True, "sms_send_hour_start": 9.0, "sms_send_hour_end": 21.0}
        )
        campaign = self.env["sms.marketing.campaign"].create(
            {
                "name": "Best time",
                "body": "{{ first_name }}, news",
                "segment_ids": [(6, 0, self.segment.ids)],
                "best_send_time": True,
            }
        )
        campaign.action_launch()
        # no exploration here: its share is tested on its own (tests/test_sendtime.py)
        with (
            patch.object(prepare, "EXPLORE_SHARE", 0.0),
            patch.object(prepare, "EXPLORE_SHARE_NEW", 0.0),
        ):
            while self.env["sms.marketing.campaign"]._cron_prepare():
                pass
        now = fields.Datetime.now()
        for partner, hour in ((self.ann, 19), (self.bob, 10)):
            trace = self.trace(campaign, partner)
            local = trace.scheduled_at + timedelta(hours=8)  # Shanghai, no DST
            self.assertEqual((local.hour, local.minute), (hour, partner.id % 60))
            self.assertLessEqual(trace.scheduled_at - now, timedelta(hours=24))
            self.assertGreaterEqual(trace.scheduled_at, now)
