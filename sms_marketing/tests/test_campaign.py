import time
from datetime import datetime, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..core import sendtime
from ..core.gateways import base as gateway_base
from ..models import sms_marketing_campaign_prepare as prepare_module
from .common import SmsMarketingDispatchCommon


@tagged("post_install", "-at_install")
class TestCampaignCommon(SmsMarketingDispatchCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"sms_consent_mode": "opt_in", "sms_quiet_hours": False})
        cls.Campaign = cls.env["sms.marketing.campaign"]
        cls.Segment = cls.env["sms.marketing.segment"]
        # campaigns of the demo data are not these tests' business
        cls.Campaign.search([("state", "in", ("scheduled", "sending", "paused"))]).action_cancel()
        cls.partner_cn._sms_consent_set("opt_in", "manual", evidence="test")
        cls.partner_us._sms_consent_set("opt_in", "manual", evidence="test")

    def make_partners(self, count, prefix="Bulk", consent=True, **values):
        partners = self.env["res.partner"].create(
            [
                {"name": f"{prefix} {index}", "mobile": f"+861390000{index:04d}", **values}
                for index in range(count)
            ]
        )
        if consent:
            partners._sms_consent_set("opt_in", "manual", evidence="test")
        return partners

    def segment_of(self, partners, **values):
        return self.Segment.create(
            {"name": "Segment", "domain": repr([("id", "in", partners.ids)]), **values}
        )

    def campaign_for(self, partners, body="Hi {{ first_name }}, sale today.", **values):
        return self.Campaign.create(
            {
                "name": "Spring sale",
                "body": body,
                "segment_ids": [(6, 0, self.segment_of(partners).ids)],
                "link_tracking": False,
                **values,
            }
        )

    def prepare(self, campaign, batch_size=1000):
        """Launch ``campaign`` (if draft) and run the preparation cron until it is done."""
        if campaign.state == "draft":
            campaign.action_launch()
        for _i in range(100):
            self.env.flush_all()
            if not self.Campaign._cron_prepare(batch_size=batch_size):
                break
        self.env.invalidate_all()
        return (
            campaign.with_context(active_test=False)
            .env["sms.marketing.trace"]
            .search([("campaign_id", "=", campaign.id)])
        )


@tagged("post_install", "-at_install")
class TestCampaignAudience(TestCampaignCommon):
    def test_every_exclusion_reason_is_recorded(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        ok = self.partner_cn
        no_consent = self.env["res.partner"].create(
            {"name": "No Consent", "mobile": "+8613900000001"}
        )
        opted_out = self.make_partners(1, "Opted Out")
        opted_out._sms_consent_set("opt_out", "manual", evidence="asked")
        blacklisted = self.env["res.partner"].create({"name": "Black", "mobile": "+8613900000002"})
        blacklisted._sms_consent_set("opt_in", "manual", evidence="test")
        self.env["phone.blacklist"].sudo()._add(["+8613900000002"])
        no_number = self.env["res.partner"].create({"name": "No Number"})
        invalid = self.env["res.partner"].create({"name": "Invalid", "mobile": "12345"})
        fixed = self.env["res.partner"].create(
            {"name": "Fixed Line", "phone": "010 6552 9988", "country_id": self.country_cn.id}
        )
        fixed._sms_consent_set("opt_in", "manual", evidence="test")
        duplicate = self.env["res.partner"].create({"name": "Twin", "mobile": ok.mobile})
        duplicate._sms_consent_set("opt_in", "manual", evidence="test")
        capped = self.make_partners(1, "Capped")
        for _i in range(self.company.sms_frequency_cap_count):
            self.queue(capped, state="sent", sent_at=fields.Datetime.now())
        other = self.env["res.partner"].create(
            {"name": "Other", "mobile": "+8613900000003", "company_id": other_company.id}
        )
        audience = (
            ok
            + no_consent
            + opted_out
            + blacklisted
            + no_number
            + invalid
            + fixed
            + duplicate
            + capped
            + other
        )
        campaign = self.campaign_for(audience)
        # the reachable count applies the same rules as the preparation (one SQL expression),
        # not the campaign's own ones: the frequency cap and the duplicate number
        self.assertEqual(campaign.reachable_count, len(ok + duplicate + capped))
        traces = self.prepare(campaign)
        reasons = {trace.partner_id: trace.exclusion_reason for trace in traces}
        self.assertEqual(len(traces), len(audience), "one trace per contact of the audience")
        self.assertEqual(
            reasons,
            {
                ok: False,
                no_consent: "no_consent",
                opted_out: "opted_out",
                blacklisted: "blacklisted",
                no_number: "no_number",
                invalid: "invalid_number",
                fixed: "not_mobile",
                duplicate: "duplicate",
                capped: "frequency_cap",
                other: "other_company",
            },
        )
        queued = traces.filtered(lambda t: t.state == "queued")
        self.assertEqual(queued.partner_id, ok)
        self.assertEqual(campaign.kpi_targeted, 10)
        self.assertEqual(campaign.kpi_excluded, 9)
        for reason in (
            "no_consent",
            "opted_out",
            "blacklisted",
            "no_number",
            "invalid_number",
            "not_mobile",
            "duplicate",
            "frequency_cap",
            "other_company",
        ):
            self.assertEqual(campaign[f"excluded_{reason}"], 1, reason)
            action = campaign.with_context(reason=reason).action_view_traces()
            self.assertEqual(
                self.env["sms.marketing.trace"].search(action["domain"]).exclusion_reason, reason
            )

    def test_opt_out_mode_sends_without_consent_but_not_to_opted_out(self):
        self.company.sms_consent_mode = "opt_out"
        unknown = self.env["res.partner"].create({"name": "Soft", "mobile": "+8613900000011"})
        opted_out = self.make_partners(1, "Gone")
        opted_out._sms_consent_set("opt_out", "manual", evidence="asked")
        campaign = self.campaign_for(unknown + opted_out)
        self.assertEqual(campaign.reachable_count, 1)
        traces = self.prepare(campaign)
        self.assertEqual(traces.filtered(lambda t: t.partner_id == unknown).state, "queued")
        self.assertEqual(
            traces.filtered(lambda t: t.partner_id == opted_out).exclusion_reason, "opted_out"
        )

    def test_transactional_campaign_skips_consent(self):
        no_consent = self.env["res.partner"].create({"name": "Client", "mobile": "+8613900000012"})
        campaign = self.campaign_for(no_consent, message_class="transactional")
        self.assertEqual(campaign.reachable_count, 1, "counted by the rules of its class")
        traces = self.prepare(campaign.with_user(self.user_manager))
        self.assertEqual(traces.state, "queued")
        self.assertNotIn("TD", traces.body, "no opt-out footer on transactional messages")

    def test_duplicates_across_batches_and_segment_union(self):
        partners = self.make_partners(5)
        twin = self.env["res.partner"].create({"name": "Late Twin", "mobile": partners[0].mobile})
        twin._sms_consent_set("opt_in", "manual", evidence="test")
        seg_a = self.segment_of(partners[:3])
        seg_b = self.segment_of(partners[2:] + twin)
        excluded = self.segment_of(partners[4])
        campaign = self.Campaign.create(
            {
                "name": "Union",
                "body": "Hello",
                "segment_ids": [(6, 0, (seg_a + seg_b).ids)],
                "exclude_segment_ids": [(6, 0, excluded.ids)],
            }
        )
        traces = self.prepare(campaign, batch_size=2)
        self.assertEqual(traces.partner_id, partners[:4] + twin, "union minus exclusion")
        self.assertEqual(
            traces.filtered(lambda t: t.partner_id == twin).exclusion_reason,
            "duplicate",
            "a number queued in an earlier batch is a duplicate",
        )
        self.assertEqual(len(traces.filtered(lambda t: t.state == "queued")), 4)
        self.assertTrue(campaign.prepare_done)
        self.assertEqual(campaign.prepared_count, 5)
        # counted by the second batch, not at launch (the first batch must not wait)
        self.assertEqual(campaign.audience_count, 5)
        self.assertEqual(campaign.prepare_progress, 100.0)
        single = self.Campaign.create(
            {"name": "One batch", "body": "Hello", "segment_ids": [(6, 0, seg_a.ids)]}
        )
        self.prepare(single)
        self.assertEqual((single.audience_count, single.prepare_progress), (3, 100.0))

    def test_segment_counts_and_reachable(self):
        partners = self.make_partners(3) + self.env["res.partner"].create(
            {"name": "No Consent", "mobile": "+8613900000021"}
        )
        tag = self.env["sms.marketing.tag"].create({"name": "Segment test VIP"})
        partners[:2].sms_tag_ids = tag
        segment = self.segment_of(partners)
        self.assertEqual((segment.partner_count, segment.reachable_count), (4, 3))
        segment.tag_ids = tag
        self.assertEqual((segment.partner_count, segment.reachable_count), (2, 2))
        segment.write({"tag_ids": [(5,)], "exclude_tag_ids": [(6, 0, tag.ids)]})
        self.assertEqual(segment.partner_count, 2)
        self.assertEqual(len(segment.sample_partner_ids), 2)
        with self.assertRaises(ValidationError):
            segment.domain = "[('no_such_field', '=', 1)]"


@tagged("post_install", "-at_install")
class TestCampaignCompose(TestCampaignCommon):
    def test_body_footer_per_language_signature_and_placeholders(self):
        self.simulator.sms_signature = "【Brand】"
        campaign = self.campaign_for(
            self.partner_cn + self.partner_us,
            body='{{ first_name | default("friend") }}: {{ company }} sale in '
            '{{ city | default("town") }}',
        )
        traces = self.prepare(campaign)
        cn = traces.filtered(lambda t: t.partner_id == self.partner_cn)
        us = traces.filtered(lambda t: t.partner_id == self.partner_us)
        self.assertEqual(cn.body, f"【Brand】王伟: {self.company.name} sale in town 回复TD退订")
        self.assertEqual(
            us.body, f"【Brand】Jane: {self.company.name} sale in town Reply STOP to opt out"
        )
        self.assertEqual(cn.segments, 1)

    def test_body_with_own_optout_notice_gets_no_footer(self):
        campaign = self.campaign_for(self.partner_us, body="Sale! Reply STOP to end.")
        self.assertEqual(self.prepare(campaign).body, "Sale! Reply STOP to end.")

    def test_placeholder_errors_are_reported_before_sending(self):
        with self.assertRaisesRegex(ValidationError, "Unknown placeholder"):
            self.campaign_for(self.partner_us, body="Hi {{ password }}")
        with self.assertRaisesRegex(ValidationError, "malformed"):
            self.campaign_for(self.partner_us, body="Hi {{ name }")

    def test_untracked_links_are_refused_for_marketing(self):
        campaign = self.campaign_for(self.partner_us, body="See https://shop.example/sale")
        with self.assertRaisesRegex(UserError, "Link Tracking"):
            campaign.action_launch()

    def test_links_become_one_tracker_per_url_with_per_recipient_tokens(self):
        partners = self.make_partners(3)
        campaign = self.campaign_for(
            partners, body="Sale https://shop.example/sale now", link_tracking=True
        )
        traces = self.prepare(campaign)
        trackers = self.env["link.tracker"].search(
            [("campaign_id", "=", campaign.utm_campaign_id.id)]
        )
        self.assertEqual(len(trackers), 1)
        tokens = traces.sudo().mapped("link_token")
        self.assertEqual(len(set(tokens)), 3)
        for trace in traces.sudo():
            self.assertIn(f"{trackers.short_url}/t/{trace.link_token} now", trace.body)
            self.assertNotIn(str(trace.id), trace.link_token)

    def test_counter_preview_and_cost(self):
        self.simulator.cost_per_segment = 0.05
        campaign = self.campaign_for(self.partner_cn + self.partner_us, body="Hi {{ first_name }}")
        campaign.preview_partner_id = self.partner_us
        self.assertEqual(campaign.preview_body, "Hi Jane Reply STOP to opt out")
        self.assertEqual(campaign.counter_encoding, "GSM-7")
        self.assertEqual(campaign.counter_segments, 1)
        self.assertEqual(campaign.reachable_count, 2)
        self.assertAlmostEqual(campaign.estimated_cost, 0.10)
        self.assertIn("adds a segment", campaign.counter_warning)
        campaign.preview_partner_id = self.partner_cn
        self.assertEqual(campaign.preview_body, "Hi 王伟 回复TD退订")
        self.assertEqual(campaign.counter_encoding, "UCS-2")
        campaign.preview_partner_id = self.partner_us
        campaign.body = "x" * 160
        self.assertEqual(campaign.counter_segments, 1 + 1, "the footer pushes it to two parts")
        # the preview is what the preparation sends
        traces = self.prepare(campaign)
        campaign.preview_partner_id = self.partner_us
        self.assertEqual(
            traces.filtered(lambda t: t.partner_id == self.partner_us).body, campaign.preview_body
        )


@tagged("post_install", "-at_install")
class TestCampaignSending(TestCampaignCommon):
    def test_quiet_hours_in_each_recipient_time_zone(self):
        now = datetime.utcnow()
        shanghai_hour = (
            now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Shanghai")).hour
        )
        start = (shanghai_hour + 2) % 22
        self.company.write(
            {"sms_quiet_hours": True, "sms_send_hour_start": start, "sms_send_hour_end": start + 1}
        )
        self.partner_cn.tz = "Asia/Shanghai"
        self.partner_us.tz = "America/New_York"
        traces = self.prepare(self.campaign_for(self.partner_cn + self.partner_us))
        cn = traces.filtered(lambda t: t.partner_id == self.partner_cn)
        us = traces.filtered(lambda t: t.partner_id == self.partner_us)
        local = cn.scheduled_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(
            ZoneInfo("Asia/Shanghai")
        )
        self.assertEqual((local.hour, local.minute), (start, 0))
        self.assertGreater(cn.scheduled_at, now)
        for trace, tz in ((cn, "Asia/Shanghai"), (us, "America/New_York")):
            expected = sendtime.next_allowed(trace.create_date, tz, start, start + 1)
            self.assertEqual(trace.scheduled_at, expected, tz)
        # transactional messages ignore quiet hours
        campaign = self.campaign_for(self.partner_us, message_class="transactional")
        trace = self.prepare(campaign.with_user(self.user_manager))
        self.assertLessEqual(trace.scheduled_at, fields.Datetime.now())

    def test_frequency_cap_counts_the_rolling_window(self):
        self.company.write({"sms_frequency_cap_count": 2, "sms_frequency_cap_days": 7})
        old = fields.Datetime.now() - timedelta(days=8)
        self.queue(self.partner_us, state="delivered", sent_at=old)
        self.queue(self.partner_us, state="delivered", sent_at=old)
        self.queue(self.partner_us, state="sent", sent_at=fields.Datetime.now())
        self.queue(self.partner_us, state="failed", sent_at=fields.Datetime.now())
        self.queue(self.partner_us, state="sent", is_test=True, sent_at=fields.Datetime.now())
        first = self.prepare(self.campaign_for(self.partner_us))
        self.assertEqual(first.state, "queued", "1 message in the window, cap 2")
        second = self.prepare(self.campaign_for(self.partner_us))
        self.assertEqual(second.exclusion_reason, "frequency_cap", "the queued one counts too")
        third = self.prepare(self.campaign_for(self.partner_us, apply_frequency_cap=False))
        self.assertEqual(third.state, "queued")

    def test_send_deliver_and_kpis(self):
        partners = self.make_partners(20)
        campaign = self.campaign_for(partners)
        traces = self.prepare(campaign)
        self.assertEqual(campaign.state, "sending")
        self.dispatch()
        self.apply_events()
        self.assertFalse(traces.filtered(lambda t: t.state in ("queued", "sending")))
        self.Campaign._cron_prepare()
        campaign.invalidate_recordset()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(campaign.kpi_targeted, 20)
        self.assertEqual(
            campaign.kpi_sent,
            len(traces.filtered(lambda t: t.state in ("sent", "delivered", "undelivered"))),
        )
        self.assertEqual(
            campaign.kpi_delivered, len(traces.filtered(lambda t: t.state == "delivered"))
        )
        self.assertGreater(campaign.kpi_delivered, 0)
        self.assertAlmostEqual(campaign.kpi_cost, sum(traces.mapped("cost")), places=4)
        self.assertAlmostEqual(
            campaign.kpi_delivery_rate, 100.0 * campaign.kpi_delivered / campaign.kpi_sent
        )

    def test_finished_campaign_closes_while_another_one_prepares(self):
        finished = self.campaign_for(self.partner_cn)
        trace = self.prepare(finished)
        self.assertEqual(finished.state, "sending", "its message is queued")
        trace.state = "sending"  # claimed by a dispatcher, not yet sent
        self.Campaign._close_finished()
        self.assertEqual(finished.state, "sending", "its message is being sent")
        trace.state = "queued"
        self.dispatch()
        preparing = self.campaign_for(self.make_partners(3))
        preparing.action_launch()
        self.env.flush_all()
        dbname = self.env.cr.dbname
        self.patch(prepare_module, "_finish_checked", {})
        self.assertEqual(self.Campaign._cron_prepare(batch_size=1), 1)
        self.assertEqual(finished.state, "sending", "not before a campaign's first batch")
        # then the preparation's calls look for finished campaigns once a minute
        prepare_module._finish_checked[dbname] = time.monotonic()
        self.assertEqual(self.Campaign._cron_prepare(batch_size=1), 1)
        self.assertEqual(finished.state, "sending", "looked less than a minute ago")
        prepare_module._finish_checked[dbname] -= prepare_module.FINISH_CHECK_SECONDS
        self.assertEqual(self.Campaign._cron_prepare(batch_size=1), 1)
        self.assertEqual(finished.state, "done")
        self.assertTrue(finished.done_at)
        self.assertEqual((preparing.state, preparing.prepared_count), ("sending", 3))

    def test_the_end_of_an_audience_does_not_hold_up_the_next_campaign(self):
        first = self.campaign_for(self.make_partners(2, "First"))
        first.action_launch()
        second = self.campaign_for(self.make_partners(1, "Second"))
        second.action_launch()
        cron = self.env.ref("sms_marketing.ir_cron_sms_marketing_campaign")
        Trigger = self.env["ir.cron.trigger"].sudo()
        self.assertEqual(self.Campaign._cron_prepare(batch_size=2), 2)
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        # the first audience is a multiple of the batch size: the next call finds its end,
        # prepares nothing, and Odoo's runner would stop there
        self.assertEqual(self.Campaign._cron_prepare(batch_size=2), 0)
        self.assertTrue(first.prepare_done)
        self.assertFalse(second.prepare_done)
        due = Trigger.search([("cron_id", "=", cron.id)])
        self.assertTrue(due, "the campaigns still waiting are due at once")
        self.assertLessEqual(min(due.mapped("call_at")), fields.Datetime.now())

    def test_optouts_attributed_within_seven_days(self):
        campaign = self.campaign_for(self.partner_cn + self.partner_us)
        traces = self.prepare(campaign)
        self.dispatch()
        cn = traces.filtered(lambda t: t.partner_id == self.partner_cn)
        self.dispatcher._apply_inbound(
            self.simulator,
            [self._inbound(cn.number, "TD")],
        )
        campaign.invalidate_recordset()
        self.assertEqual(campaign.kpi_optouts, 1)
        self.assertEqual(campaign.kpi_replies, 1)
        self.assertEqual(self.partner_cn.sms_consent_state, "opted_out")

    def _inbound(self, number, text):
        return gateway_base.InboundSms(sender=number, body=text, provider_id=f"in-{number}")

    def test_schedule_cancel_pause_resume(self):
        partners = self.make_partners(4)
        campaign = self.campaign_for(partners)
        campaign.scheduled_at = fields.Datetime.now() + timedelta(hours=2)
        campaign.action_schedule()
        self.assertEqual(campaign.state, "scheduled")
        self.Campaign._cron_prepare()
        self.assertEqual(campaign.state, "scheduled", "not due yet")
        campaign.action_cancel()
        self.assertEqual(campaign.state, "canceled")
        campaign.action_draft()
        campaign.scheduled_at = fields.Datetime.now() - timedelta(minutes=1)
        campaign.action_schedule()
        traces = self.prepare(campaign)
        self.assertEqual(campaign.state, "sending")
        campaign.action_pause()
        self.assertEqual(set(traces.mapped("state")), {"held"})
        self.assertFalse(self.dispatch(), "paused messages are not sent")
        campaign.action_resume()
        self.assertEqual(set(traces.mapped("state")), {"queued"})
        self.dispatch()
        self.assertEqual(
            set(traces.mapped("state")) - {"sent", "delivered", "undelivered", "failed"}, set()
        )
        with self.assertRaises(UserError):
            campaign.body = "changed"

    def test_test_send_goes_once_and_is_not_counted(self):
        campaign = self.campaign_for(self.partner_cn, body="Hi {{ first_name }}")
        wizard = self.env["sms.marketing.campaign.test"].create(
            {
                "campaign_id": campaign.id,
                "numbers": "+1 415 555 0100",
                "partner_ids": self.partner_cn.ids,
            }
        )
        wizard.action_send()
        tests = self.env["sms.marketing.trace"].search([("campaign_id", "=", campaign.id)])
        self.assertEqual(len(tests), 2)
        self.assertTrue(all(tests.mapped("is_test")))
        self.assertIn("Hi 王伟 回复TD退订", tests.mapped("body"))
        self.dispatch()
        self.assertEqual(set(tests.mapped("state")) & {"queued", "sending"}, set())
        attempts = tests.mapped("attempts")
        self.dispatch()
        self.assertEqual(tests.mapped("attempts"), attempts, "never sent again")
        self.assertEqual(campaign.kpi_targeted, 0, "tests are not counted")
        bad = self.env["sms.marketing.campaign.test"].create(
            {"campaign_id": campaign.id, "numbers": "12"}
        )
        with self.assertRaisesRegex(UserError, "no valid number"):
            bad.action_send()


@tagged("post_install", "-at_install")
class TestCampaignAB(TestCampaignCommon):
    def ab_campaign(self, partners, **values):
        return self.campaign_for(
            partners,
            ab_testing=True,
            variant_ids=[
                (0, 0, {"name": "A", "body": "Offer A", "share": 50}),
                (0, 0, {"name": "B", "body": "Offer B", "share": 50}),
            ],
            **values,
        )

    def click(self, traces):
        self.env["sms.marketing.trace"].flush_model()
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET clicked_at = now() at time zone 'utc'"
            " WHERE id = ANY(%s)",
            [traces.ids],
        )
        self.env.invalidate_all()

    def decide(self, campaign):
        self.env["sms.marketing.campaign"].flush_model()
        self.env.cr.execute(
            "UPDATE sms_marketing_campaign"
            " SET ab_decide_at = now() at time zone 'utc' - interval '1 minute' WHERE id = %s",
            [campaign.id],
        )
        self.env.invalidate_all()
        self.Campaign._cron_prepare()
        self.env.invalidate_all()

    def test_best_send_time_leaves_the_test_share_at_once(self):
        """The test share is measured a few hours after it is queued: it is not held for
        the contacts' best hours; the rest is."""
        partners = self.make_partners(40, tz="UTC")
        self.company.sms_quiet_hours = False
        far = (fields.Datetime.now().hour + 12) % 24
        self.env["ir.config_parameter"].set_param("sms_marketing.best_hours", f'{{"*": {far}}}')
        campaign = self.ab_campaign(partners, ab_test_percent=50, best_send_time=True)
        with (
            patch.object(prepare_module, "EXPLORE_SHARE", 0.0),
            patch.object(prepare_module, "EXPLORE_SHARE_NEW", 0.0),
        ):
            tests = self.prepare(campaign)
            soon = fields.Datetime.now() + timedelta(minutes=1)
            self.assertTrue(tests)
            self.assertTrue(all(not t.scheduled_at or t.scheduled_at <= soon for t in tests))
            self.dispatch()
            self.decide(campaign)
            rest = self.prepare(campaign) - tests
        self.assertTrue(rest)
        self.assertTrue(all(t.scheduled_at > soon + timedelta(hours=10) for t in rest))

    def test_significant_winner_goes_to_the_rest(self):
        partners = self.make_partners(500)
        campaign = self.ab_campaign(partners, ab_test_percent=80)
        traces = self.prepare(campaign)
        self.assertEqual(campaign.ab_state, "testing")
        by_variant = {
            v.name: traces.filtered(lambda t, v=v: t.variant_id == v) for v in campaign.variant_ids
        }
        self.assertAlmostEqual(
            len(by_variant["A"]), len(by_variant["B"]), delta=1, msg="exact shares"
        )
        self.assertAlmostEqual(len(traces), 400, delta=40, msg="about 80% in the test group")
        self.dispatch()
        sent_a = by_variant["A"].filtered(lambda t: t.state != "failed")
        sent_b = by_variant["B"].filtered(lambda t: t.state != "failed")
        self.click(sent_a[: len(sent_a) * 30 // 100] + sent_b[: len(sent_b) * 10 // 100])
        self.decide(campaign)
        winner = campaign.variant_ids.filtered(lambda v: v.name == "A")
        self.assertEqual(campaign.ab_state, "decided")
        self.assertEqual(campaign.ab_winner_id, winner)
        self.assertTrue(campaign.ab_significant)
        self.assertLess(campaign.ab_p_value, 0.05)
        self.assertIn("significantly better", campaign.ab_decision)
        rest = self.prepare(campaign) - traces
        self.assertEqual(len(rest) + len(traces), 500, "everyone exactly once")
        self.assertEqual(set(rest.mapped("body")), {"Offer A Reply STOP to opt out"})
        self.assertFalse(set(rest.partner_id.ids) & set(traces.partner_id.ids))

    def test_no_clear_winner_waits_for_a_manager(self):
        partners = self.make_partners(100)
        campaign = self.ab_campaign(partners, ab_test_percent=50, ab_rule="wait")
        traces = self.prepare(campaign)
        self.dispatch()
        self.click(traces[:5] + traces[-5:])
        self.decide(campaign)
        self.assertEqual(campaign.ab_state, "waiting")
        self.assertFalse(campaign.ab_winner_id)
        variant_b = campaign.variant_ids.filtered(lambda v: v.name == "B")
        with self.assertRaises(AccessError):
            variant_b.with_user(self.user_marketing).action_choose_winner()
        variant_b.with_user(self.user_manager).action_choose_winner()
        self.assertEqual(campaign.ab_winner_id, variant_b)
        rest = self.prepare(campaign) - traces
        self.assertEqual(
            set(rest.filtered(lambda t: t.state == "queued").mapped("body")),
            {"Offer B Reply STOP to opt out"},
        )

    def test_no_clear_winner_with_leader_rule_sends_the_leader(self):
        partners = self.make_partners(100)
        campaign = self.ab_campaign(partners, ab_test_percent=50, ab_rule="leader")
        traces = self.prepare(campaign)
        self.dispatch()
        b_traces = traces.filtered(lambda t: t.variant_id.name == "B")
        self.click(b_traces[:3])
        self.decide(campaign)
        self.assertEqual(campaign.ab_state, "decided")
        self.assertFalse(campaign.ab_significant)
        self.assertEqual(campaign.ab_winner_id.name, "B")
        self.assertIn("Rule applied", campaign.ab_decision)


@tagged("post_install", "-at_install")
class TestCampaignRights(TestCampaignCommon):
    def test_user_composes_and_sends_marketing(self):
        partners = self.make_partners(2)
        segment = self.segment_of(partners).with_user(self.user_marketing)
        campaign = self.Campaign.with_user(self.user_marketing).create(
            {"name": "Mine", "body": "Hello", "segment_ids": [(6, 0, segment.ids)]}
        )
        campaign.action_launch()
        self.assertEqual(campaign.state, "sending")
        self.assertEqual(len(self.prepare(campaign)), 2)

    def test_only_managers_send_transactional_or_change_policy(self):
        campaign = self.campaign_for(self.partner_us, message_class="transactional")
        with self.assertRaises(AccessError):
            campaign.with_user(self.user_marketing).action_launch()
        with self.assertRaises(AccessError):
            self.company.with_user(self.user_marketing).sms_consent_mode = "opt_out"
        self.company.with_user(self.user_manager).sms_consent_mode = "opt_out"
        self.assertEqual(self.company.sms_consent_mode, "opt_out")

    def test_employee_without_sms_rights_sees_no_campaign(self):
        with self.assertRaises(AccessError):
            self.Campaign.with_user(self.user_employee).search([])
