import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time

import odoo
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, tagged, users
from odoo.tools import SQL, config

from ..models.sms_marketing_automation_run import SmsMarketingAutomation as FlowEngine
from .common import SIMULATOR_DELIVERS_ALL, SmsMarketingDispatchCommon


class AutomationCommon(SmsMarketingDispatchCommon):
    """Flows on a simulator gateway, with no quiet hours unless a test sets them, and
    helpers to build flows, run the cron and let time pass."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"sms_consent_mode": "opt_in", "sms_quiet_hours": False, "sms_frequency_cap_count": 0}
        )
        # every SMS delivered, no reply: the flows' tests decide who clicks and replies
        cls.simulator.write(SIMULATOR_DELIVERS_ALL)
        cls.Flow = cls.env["sms.marketing.automation"]
        cls.Step = cls.env["sms.marketing.automation.step"]
        cls.Enrollment = cls.env["sms.marketing.automation.enrollment"]
        cls.Event = cls.env["sms.marketing.event"]
        # flows of other data (demo) are not these tests' business
        cls.Flow.search([("state", "=", "running")]).action_stop()
        cls.cur = cls.company.currency_id.name
        Partner = cls.env["res.partner"]
        cls.ann = Partner.create(
            {"name": "Ann Li", "mobile": "+8613700000001", "tz": "Asia/Shanghai"}
        )
        cls.bob = Partner.create(
            {"name": "Bob Wu", "mobile": "+8613700000002", "tz": "Asia/Shanghai"}
        )
        cls.cid = Partner.create(
            {"name": "Cid Ma", "mobile": "+8613700000003", "tz": "Asia/Shanghai"}
        )
        cls.contacts = cls.ann + cls.bob + cls.cid
        cls.contacts._sms_consent_set("opt_in", "manual", evidence="test")
        cls.sequence = itertools.count()

    def make_flow(self, steps, start=True, **values):
        """A flow with ``steps`` (dicts; a branch's own steps under "yes" and "no")."""
        values = {"name": "Flow", "trigger": "manual", "reentry": "always", **values}
        flow = self.Flow.create(values)
        self.add_steps(flow, steps)
        if start:
            flow.action_start()
        return flow

    def add_steps(self, flow, steps, parent=None, side=False):
        created = self.Step
        for spec in steps:
            spec = dict(spec)
            yes, no = spec.pop("yes", []), spec.pop("no", [])
            sequence = (
                max(flow.with_context(active_test=False).step_ids.mapped("sequence") or [0])
            ) + 10
            step = self.Step.create(
                {
                    "automation_id": flow.id,
                    "sequence": sequence,
                    "parent_id": parent.id if parent else False,
                    "branch": side,
                    **spec,
                }
            )
            created |= step
            self.add_steps(flow, yes, step, "yes")
            self.add_steps(flow, no, step, "no")
        return created

    def run_flows(self, batch_size=10000):
        """What the cron runner does: call until nothing is done."""
        total = 0
        for _call in range(200):
            done = self.Flow._cron_run(batch_size)
            total += done
            if not done:
                break
        self.env.invalidate_all()
        return total

    def elapse(self, **delta):
        """Let time pass: every stored moment of flows, SMS and events moves back."""
        seconds = timedelta(**delta).total_seconds()
        self.env.flush_all()
        cr = self.env.cr
        shift = SQL("make_interval(secs => %s)", seconds)
        for table, columns in (
            ("sms_marketing_automation_enrollment", ("entered_at", "step_at", "due_at")),
            (
                "sms_marketing_trace",
                ("create_date", "scheduled_at", "sent_at", "clicked_at", "last_clicked_at"),
            ),
            ("sms_marketing_event", ("occurred_at",)),
            ("sms_marketing_partner_activity", ("last_order_at", "last_click_at")),
            ("sms_marketing_automation", ("last_scan_at",)),
        ):
            cr.execute(
                SQL(
                    "UPDATE %s SET %s",
                    SQL.identifier(table),
                    SQL(", ").join(
                        SQL("%s = %s - %s", SQL.identifier(c), SQL.identifier(c), shift)
                        for c in columns
                    ),
                )
            )
        self.env.invalidate_all()

    def enroll(self, flow, partners):
        return flow._enroll_manual(partners)

    def traces(self, flow, **domain):
        return self.env["sms.marketing.trace"].search(
            [("campaign_id", "in", flow.with_context(active_test=False).step_ids.campaign_id.ids)]
            + [(k, "=", v) for k, v in domain.items()],
            order="id",
        )

    def enrollment(self, flow, partner):
        return self.Enrollment.search(
            [("automation_id", "=", flow.id), ("partner_id", "=", partner.id)],
            order="id desc",
            limit=1,
        )

    def passed(self, enrollment):
        names = dict(
            self.Step.with_context(active_test=False)
            .search([])
            .mapped(lambda step: (step.id, step.name))
        )
        return [(names[step_id], outcome) for step_id, outcome, _at in enrollment.history or []]

    def outcome(self, enrollment):
        """The outcome of the last step the enrollment passed."""
        return (enrollment.history or [[None, None, None]])[-1][1]

    def event(self, partner, type_="order", external_id=None, amount=100.0, **values):
        raw = {
            "type": type_,
            "external_id": external_id or f"{type_}-{partner.id}-{next(self.sequence)}",
            "customer": {"phone": partner.sms_e164},
            **values,
        }
        if type_ in ("order", "refund", "order_paid"):
            raw.update(amount=amount, currency=self.cur)
        result = self.Event._ingest([raw], "api", company=self.company)[0]
        self.assertEqual(result["status"], "created", result)
        return self.Event.browse(result["id"])

    def click(self, trace):
        trace._sms_marketing_record_click()
        self.env.invalidate_all()


@tagged("post_install", "-at_install")
class TestAutomationTriggers(AutomationCommon):
    """Every trigger enrolls the right contacts once per entry."""

    def test_contact_created_enrolls_new_contacts(self):
        flow = self.make_flow(
            [{"step_type": "send", "body": "Welcome {{ first_name }}"}],
            trigger="contact_created",
            reentry="once",
        )
        new = self.env["res.partner"].create(
            [
                {"name": "New One", "mobile": "+8613700000011"},
                {"name": "New Two", "mobile": "+8613700000012"},
            ]
        )
        self.assertEqual(flow.enrollment_ids.partner_id, new)
        self.run_flows()
        traces = self.traces(flow)
        self.assertEqual(traces.partner_id, new)
        # a contact created is no consent: the SMS is recorded as excluded, with its reason
        self.assertEqual(set(traces.mapped("exclusion_reason")), {"no_consent"})
        self.assertEqual(set(flow.enrollment_ids.mapped("state")), {"done"})

    def test_consent_given_enrolls_and_the_welcome_is_queued(self):
        flow = self.make_flow(
            [{"step_type": "send", "body": "Welcome {{ first_name }}, code {{ coupon }}"}],
            trigger="consent",
            reentry="once",
            coupon_code="HELLO10",
        )
        partner = self.env["res.partner"].create({"name": "Dan Yu", "mobile": "+8613700000021"})
        self.assertFalse(flow.enrollment_ids)
        partner._sms_consent_set("opt_in", "form", evidence="signed up on the website")
        self.assertEqual(flow.enrollment_ids.partner_id, partner)
        self.run_flows()
        trace = self.traces(flow)
        self.assertEqual(trace.state, "queued")
        self.assertTrue(trace.body.startswith("Welcome Dan, code HELLO10"), trace.body)
        # opting out and in again: once ever
        partner._sms_consent_set("opt_out", "manual", evidence="asked")
        partner._sms_consent_set("opt_in", "manual", evidence="asked back")
        self.assertEqual(len(flow.enrollment_ids), 1)

    def test_event_trigger_filters_type_amount_and_product(self):
        flow = self.make_flow(
            [{"step_type": "send", "body": "Thanks for your order"}],
            trigger="event",
            trigger_event_type="order",
            trigger_min_amount=50,
            trigger_product="SKU-TEA",
        )
        tea = [{"product": "SKU-TEA", "quantity": 1, "price": 80}]
        self.event(self.ann, amount=80, lines=tea)
        self.event(self.bob, amount=20, lines=tea)  # too small
        self.event(self.cid, amount=80, lines=[{"product": "SKU-CUP", "quantity": 1, "price": 80}])
        self.event(self.cid, "cart_abandoned", lines=tea)  # another type
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)
        enrollment = flow.enrollment_ids
        self.assertEqual(enrollment.trigger_event_id.amount, 80)
        # the same order sent again is the same event: no second enrollment
        self.Event._ingest(
            [
                {
                    "type": "order",
                    "external_id": enrollment.trigger_event_id.external_id,
                    "amount": 80,
                    "currency": self.cur,
                    "customer": {"phone": self.ann.sms_e164},
                    "lines": tea,
                }
            ],
            "api",
            company=self.company,
        )
        self.assertEqual(len(flow.enrollment_ids), 1)

    def test_events_reach_a_flow_started_after_the_listeners_were_read(self):
        # the flows' listeners are cached per worker: starting or pausing a flow clears them
        self.event(self.bob, amount=80)
        self.assertNotIn("order", self.Flow._event_listeners()[2])
        flow = self.make_flow([{"step_type": "exit"}], trigger="event", trigger_event_type="order")
        self.assertIn("order", self.Flow._event_listeners()[2])
        self.event(self.ann, amount=80)
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)
        flow.action_pause()
        self.assertNotIn("order", self.Flow._event_listeners()[2])
        self.event(self.cid, amount=80)
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)

    def test_custom_event_trigger_matches_its_name(self):
        flow = self.make_flow(
            [{"step_type": "exit"}],
            trigger="event",
            trigger_event_type="custom",
            trigger_event_name="webinar",
        )
        self.event(self.ann, "custom", name="webinar")
        self.event(self.bob, "custom", name="newsletter")
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)

    def test_birthday_enrolls_on_the_local_day_once_a_year(self):
        flow = self.make_flow([{"step_type": "send", "body": "Happy birthday!"}], trigger="date")
        self.assertEqual(flow.trigger_date_field_id.name, "sms_birthday")
        ny = self.env["res.partner"].create(
            {"name": "Ny Lee", "mobile": "+14155550123", "tz": "America/New_York"}
        )
        self.ann.sms_birthday = date(1990, 12, 8)
        ny.sms_birthday = date(1985, 12, 8)
        self.bob.sms_birthday = date(1990, 12, 9)
        # 2026-12-07 17:00 UTC: already Dec 8 in Shanghai, still Dec 7 in New York
        with freeze_time("2026-12-07 17:00:00"):
            self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)
        with freeze_time("2026-12-08 06:00:00"):  # Dec 8, 01:00 in New York
            flow.last_scan_at = False
            self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann + ny)
        with freeze_time("2026-12-08 12:00:00"):
            flow.last_scan_at = False
            self.run_flows()
        self.assertEqual(len(flow.enrollment_ids), 2, "once a year")
        with freeze_time("2027-12-08 01:00:00"):
            flow.last_scan_at = False
            self.run_flows()
        self.assertEqual(len(flow.enrollment_ids.filtered(lambda e: e.partner_id == self.ann)), 2)

    def test_feb_29_birthdays_are_on_feb_28_in_other_years(self):
        flow = self.make_flow([{"step_type": "exit"}], trigger="date")
        self.ann.sms_birthday = date(2000, 2, 29)
        self.bob.sms_birthday = date(2000, 2, 28)
        with freeze_time("2027-02-28 04:00:00"):
            self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann + self.bob)
        with freeze_time("2028-02-28 04:00:00"):  # a leap year: Ann waits for the 29th
            flow.last_scan_at = False
            self.run_flows()
        self.assertEqual(len(flow.enrollment_ids), 3)
        with freeze_time("2028-02-29 04:00:00"):
            flow.last_scan_at = False
            self.run_flows()
        self.assertEqual(len(flow.enrollment_ids), 4)

    def test_entering_a_segment_enrolls_newcomers_only(self):
        tag = self.env["sms.marketing.tag"].create({"name": "Flow VIP"})
        segment = self.env["sms.marketing.segment"].create(
            {"name": "VIPs", "tag_ids": [(6, 0, tag.ids)]}
        )
        flow = self.make_flow(
            [{"step_type": "exit"}], trigger="segment", trigger_segment_id=segment.id
        )
        self.ann.sms_tag_ids = tag
        self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann, "members at start enter")
        self.bob.sms_tag_ids = tag
        self.run_flows()
        self.assertEqual(len(flow.enrollment_ids), 1, "scanned at most hourly")
        self.elapse(hours=1, minutes=1)
        self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann + self.bob)
        # staying in the segment is not entering it again; leaving and coming back is
        self.ann.sms_tag_ids = False
        self.elapse(hours=1, minutes=1)
        self.run_flows()
        self.ann.sms_tag_ids = tag
        self.elapse(hours=1, minutes=1)
        self.run_flows()
        self.assertEqual(len(flow.enrollment_ids.filtered(lambda e: e.partner_id == self.ann)), 2)
        self.assertEqual(len(flow.enrollment_ids), 3)

    def test_keyword_reply_enrolls_its_sender(self):
        flow = self.make_flow(
            [{"step_type": "send", "body": "You are in the draw!"}],
            trigger="keyword",
            trigger_keyword="参与",
        )
        self.dispatcher._apply_inbound(
            self.simulator,
            [self.inbound_sms(self.ann, " 参 与 "), self.inbound_sms(self.bob, "参与活动吗")],
        )
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann)
        self.run_flows()
        self.assertEqual(self.traces(flow).partner_id, self.ann)

    def inbound_sms(self, partner, body):
        from ..core import gateways as gw

        return gw.InboundSms(sender=partner.sms_e164, body=body)

    def test_dormant_customers_enroll_when_their_last_order_and_click_are_old(self):
        flow = self.make_flow(
            [{"step_type": "exit"}], trigger="dormant", trigger_days=90, reentry="once"
        )
        self.event(self.ann)
        self.event(self.bob)
        self.elapse(days=100)
        self.event(self.bob)  # ordered again: active
        self.env["res.partner"].browse(self.cid.id)  # never ordered: not a dormant customer
        self.run_flows()
        # (other customers of the database may be dormant too: only ours are looked at)
        self.assertEqual(flow.enrollment_ids.partner_id & self.contacts, self.ann)
        # a recent click keeps a customer active; when it is old too, they are dormant
        trace = self.queue(self.bob, "hi")
        self.elapse(days=85)
        self.click(trace)
        self.elapse(days=10)
        self.run_flows()
        self.assertEqual(
            flow.enrollment_ids.partner_id & self.contacts, self.ann, "Bob clicked 10 days ago"
        )
        self.elapse(days=81)
        self.run_flows()
        self.assertEqual(flow.enrollment_ids.partner_id & self.contacts, self.ann + self.bob)

    def test_manual_enrollment_respects_reentry_and_opt_out(self):
        flow = self.make_flow(
            [{"step_type": "wait", "wait_amount": 1, "wait_unit": "days"}], reentry="once"
        )
        self.cid._sms_consent_set("opt_out", "manual", evidence="asked")
        wizard = (
            self.env["sms.marketing.automation.enroll"]
            .with_context(active_model="res.partner", active_ids=self.contacts.ids)
            .create({"automation_id": flow.id})
        )
        wizard.action_enroll()
        self.assertEqual((wizard.enrolled_count, wizard.skipped_count), (2, 1))
        self.assertEqual(flow.enrollment_ids.partner_id, self.ann + self.bob)
        self.assertFalse(self.enroll(flow, self.ann), "once ever")
        flow.action_stop()
        with self.assertRaises(UserError):
            self.enroll(flow, self.bob)

    def test_a_trigger_wakes_the_cron_at_once(self):
        cron = self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")
        flow = self.make_flow([{"step_type": "exit"}])
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        before = self.env.cr.now()
        self.enroll(flow, self.ann)
        new = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers
        self.assertTrue(new)
        self.assertLessEqual(min(new.mapped("call_at")), before + timedelta(seconds=1))


@tagged("post_install", "-at_install")
class TestAutomationSteps(AutomationCommon):
    """Every step does its work once per enrollment, in bulk."""

    def test_wait_for_a_duration_then_send(self):
        flow = self.make_flow(
            [
                {"step_type": "wait", "name": "Two hours", "wait_amount": 2, "wait_unit": "hours"},
                {"step_type": "send", "name": "Hello", "body": "Hello {{ first_name }}"},
            ]
        )
        self.enroll(flow, self.contacts)
        self.run_flows()
        self.assertFalse(self.traces(flow))
        self.elapse(hours=1, minutes=59)
        self.run_flows()
        self.assertFalse(self.traces(flow))
        self.elapse(minutes=2)
        self.run_flows()
        self.assertEqual(self.traces(flow).partner_id, self.contacts)
        self.assertEqual(
            self.passed(self.enrollment(flow, self.ann)),
            [("Two hours", "passed"), ("Hello", "passed")],
        )
        # the step's SMS are the flow's own campaign: one per contact, in the one queue
        self.assertEqual(set(self.traces(flow).mapped("state")), {"queued"})
        self.assertEqual(self.traces(flow).automation_enrollment_id, flow.enrollment_ids)
        self.dispatch()
        self.assertEqual(set(self.traces(flow).mapped("state")), {"sent"})

    def test_wait_until_a_time_of_day_in_the_contacts_zone(self):
        flow = self.make_flow(
            [{"step_type": "wait", "wait_mode": "time_of_day", "wait_hour": 10.0}]
        )
        ny = self.env["res.partner"].create(
            {"name": "Ny Lee", "mobile": "+14155550123", "tz": "America/New_York"}
        )
        ny._sms_consent_set("opt_in", "manual", evidence="test")
        with freeze_time("2026-12-07 03:00:00"):  # 11:00 in Shanghai, 22:00 in New York
            self.enroll(flow, self.ann + ny)
        self.assertEqual(self.enrollment(flow, self.ann).due_at, datetime(2026, 12, 8, 2, 0))
        self.assertEqual(self.enrollment(flow, ny).due_at, datetime(2026, 12, 7, 15, 0))

    def test_wait_until_days_before_a_date_field(self):
        flow = self.make_flow(
            [
                {
                    "step_type": "wait",
                    "wait_mode": "date",
                    "wait_date_field_id": self.env.ref(
                        "sms_marketing.field_res_partner__sms_birthday"
                    ).id,
                    "wait_offset_days": -3,
                }
            ]
        )
        self.company.sms_send_hour_start = 9.0
        self.ann.sms_birthday = date(1990, 12, 20)
        self.bob.sms_birthday = date(1990, 12, 8)  # 3 days before is already past: at once
        with freeze_time("2026-12-07 03:00:00"):
            self.enroll(flow, self.ann + self.bob)
        # Dec 17 at 09:00 in Shanghai
        self.assertEqual(self.enrollment(flow, self.ann).due_at, datetime(2026, 12, 17, 1, 0))
        self.assertEqual(self.enrollment(flow, self.bob).due_at, datetime(2026, 12, 7, 3, 0))

    def test_branch_on_click_goes_yes_at_once_and_no_at_its_time_out(self):
        flow = self.make_flow(
            [
                {"step_type": "send", "name": "Offer", "body": "Offer https://shop.example/o"},
                {
                    "step_type": "branch",
                    "name": "Clicked?",
                    "condition": "clicked",
                    "window_hours": 24,
                    "yes": [
                        {
                            "step_type": "tag_add",
                            "name": "Tag clicker",
                            "tag_id": self.env["sms.marketing.tag"].create({"name": "Clicker"}).id,
                        }
                    ],
                    "no": [{"step_type": "send", "name": "Reminder", "body": "Last chance"}],
                },
                {"step_type": "send", "name": "After", "body": "Thanks"},
            ]
        )
        self.enroll(flow, self.ann + self.bob)
        self.run_flows()
        self.dispatch()
        offer = self.traces(flow, partner_id=self.ann.id)
        self.click(offer)
        self.run_flows()
        ann, bob = self.enrollment(flow, self.ann), self.enrollment(flow, self.bob)
        self.assertEqual(
            self.passed(ann),
            [
                ("Offer", "passed"),
                ("Clicked?", "yes"),
                ("Tag clicker", "passed"),
                ("After", "passed"),
            ],
        )
        self.assertEqual(ann.state, "done")
        self.assertIn("Clicker", self.ann.sms_tag_ids.mapped("name"))
        self.assertEqual(bob.step_id.name, "Clicked?", "waits for its time-out")
        self.elapse(hours=23)
        self.run_flows()
        self.assertEqual(bob.step_id.name, "Clicked?")
        self.elapse(hours=1, minutes=1)
        self.run_flows()
        self.assertEqual(
            self.passed(bob),
            [("Offer", "passed"), ("Clicked?", "no"), ("Reminder", "passed"), ("After", "passed")],
        )
        self.assertEqual(len(self.traces(flow, partner_id=self.bob.id)), 3)

    def test_branch_conditions(self):
        tag = self.env["sms.marketing.tag"].create({"name": "Gold"})
        segment = self.env["sms.marketing.segment"].create(
            {"name": "Gold", "tag_ids": [(6, 0, tag.ids)]}
        )
        self.ann.sms_tag_ids = tag
        cases = {
            "has_tag": {"tag_id": tag.id},
            "in_segment": {"segment_id": segment.id},
            "opted_in": {},
        }
        self.bob._sms_consent_set("opt_out", "manual", evidence="no")
        for condition, values in cases.items():
            with self.subTest(condition=condition):
                flow = self.make_flow(
                    [
                        {
                            "step_type": "branch",
                            "name": "B",
                            "condition": condition,
                            "window_hours": 0,
                            **values,
                        }
                    ],
                    message_class="marketing",
                )
                self.enroll(flow, self.ann + self.cid)
                self.run_flows()
                outcomes = {e.partner_id: self.outcome(e) for e in flow.enrollment_ids}
                expected = "yes" if condition == "opted_in" else "no"
                self.assertEqual(outcomes, {self.ann: "yes", self.cid: expected})

    def test_branch_on_amount_ordered_and_replied(self):
        flow = self.make_flow(
            [
                {
                    "step_type": "branch",
                    "name": "Big order?",
                    "condition": "amount_above",
                    "amount": 500,
                    "window_hours": 0,
                },
            ],
            trigger="event",
            trigger_event_type="order",
        )
        self.event(self.ann, amount=800)
        self.event(self.bob, amount=100)
        self.run_flows()
        self.elapse(minutes=1)  # the orders above are before entering the flows below
        self.assertEqual(
            {e.partner_id: self.outcome(e) for e in flow.enrollment_ids},
            {self.ann: "yes", self.bob: "no"},
        )
        ordered = self.make_flow(
            [
                {"step_type": "send", "body": "Come back"},
                {
                    "step_type": "branch",
                    "name": "Ordered?",
                    "condition": "ordered",
                    "window_hours": 48,
                },
            ]
        )
        replied = self.make_flow(
            [
                {"step_type": "send", "body": "Tell us what you think"},
                {
                    "step_type": "branch",
                    "name": "Replied?",
                    "condition": "replied",
                    "window_hours": 48,
                },
            ]
        )
        self.enroll(ordered, self.ann + self.bob)
        self.enroll(replied, self.cid)
        self.run_flows()
        self.dispatch()
        self.event(self.ann, external_id="late-order")
        self.dispatcher._apply_inbound(
            self.simulator,
            [TestAutomationTriggers.inbound_sms(self, self.cid, "Great shop")],
        )
        self.run_flows()
        self.assertEqual(self.outcome(self.enrollment(ordered, self.ann)), "yes")
        self.assertEqual(self.enrollment(ordered, self.bob).state, "active")
        self.assertEqual(self.outcome(self.enrollment(replied, self.cid)), "yes")

    def test_tags_activity_and_exit_steps(self):
        vip = self.env["sms.marketing.tag"].create({"name": "Flow VIP"})
        new = self.env["sms.marketing.tag"].create({"name": "New"})
        self.contacts.sms_tag_ids = new
        self.ann.user_id = self.user_marketing
        flow = self.make_flow(
            [
                {"step_type": "tag_add", "tag_id": vip.id},
                {"step_type": "tag_remove", "tag_id": new.id},
                {"step_type": "activity", "activity_summary": "Call them"},
                {"step_type": "exit", "name": "Stop here"},
                {"step_type": "send", "body": "never"},
            ]
        )
        self.enroll(flow, self.ann + self.bob)
        self.run_flows()
        self.assertEqual((self.ann + self.bob).sms_tag_ids, vip)
        self.assertEqual(self.cid.sms_tag_ids, new)
        activity = self.env["mail.activity"].search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", self.ann.id),
                ("summary", "=", "Call them"),
            ]
        )
        self.assertEqual(activity.user_id, self.user_marketing, "the contact's salesperson")
        self.assertEqual(set(flow.enrollment_ids.mapped("state")), {"exited"})
        self.assertEqual(set(flow.enrollment_ids.mapped("exit_reason")), {"exit_step"})
        self.assertFalse(self.traces(flow))

    def test_double_opt_in_step_asks_contacts_without_consent(self):
        flow = self.make_flow(
            [
                {"step_type": "double_optin"},
                {
                    "step_type": "branch",
                    "name": "Confirmed?",
                    "condition": "opted_in",
                    "window_hours": 48,
                    "no": [{"step_type": "exit"}],
                },
            ]
        )
        new = self.env["res.partner"].create({"name": "Eve", "mobile": "+8613700000031"})
        self.enroll(flow, new + self.ann)
        self.run_flows()
        self.assertEqual(new.sms_consent_state, "pending")
        request = self.env["sms.marketing.trace"].search([("partner_id", "=", new.id)])
        self.assertEqual(len(request), 1)
        self.assertEqual(self.enrollment(flow, self.ann).state, "done", "already opted in")
        self.dispatcher._apply_inbound(
            self.simulator, [TestAutomationTriggers.inbound_sms(self, new, "Y")]
        )
        self.assertEqual(new.sms_consent_state, "opted_in")
        self.run_flows()
        self.assertEqual(self.passed(self.enrollment(flow, new))[-1], ("Confirmed?", "yes"))

    def test_send_step_follows_consent_opt_out_and_frequency_cap(self):
        self.company.write({"sms_frequency_cap_count": 1, "sms_frequency_cap_days": 7})
        no_consent = self.env["res.partner"].create({"name": "Nc", "mobile": "+8613700000041"})
        campaign = self.env["sms.marketing.campaign"].create(
            {
                "name": "Sale",
                "body": "Sale!",
                "segment_ids": [
                    (0, 0, {"name": "Bob", "domain": repr([("id", "=", self.bob.id)])})
                ],
            }
        )
        campaign.action_launch()
        while self.env["sms.marketing.campaign"]._cron_prepare():
            pass
        flow = self.make_flow([{"step_type": "send", "body": "Flow hello"}])
        self.enroll(flow, self.ann + self.bob + no_consent)
        self.run_flows()
        reasons = {t.partner_id: t.exclusion_reason for t in self.traces(flow)}
        self.assertEqual(
            reasons, {self.ann: False, self.bob: "frequency_cap", no_consent: "no_consent"}
        )
        # the flow's SMS count for campaigns' cap too
        second = self.make_flow([{"step_type": "send", "body": "Again"}])
        self.enroll(second, self.ann)
        self.run_flows()
        self.assertEqual(self.traces(second).exclusion_reason, "frequency_cap")

    def test_ab_variants_split_the_contacts_by_share(self):
        flow = self.make_flow([{"step_type": "send", "name": "AB", "body": "Default"}], start=False)
        step = flow.step_ids
        step.write(
            {
                "ab_testing": True,
                "variant_ids": [
                    (0, 0, {"name": "A", "body": "Variant A", "share": 1}),
                    (0, 0, {"name": "B", "body": "Variant B", "share": 1}),
                ],
            }
        )
        self.assertEqual(step.campaign_id.variant_ids.mapped("body"), ["Variant A", "Variant B"])
        flow.action_start()
        partners = self.env["res.partner"].create(
            [{"name": f"P{i}", "mobile": f"+86137000001{i:02d}"} for i in range(10)]
        )
        partners._sms_consent_set("opt_in", "manual", evidence="test")
        self.enroll(flow, partners)
        self.run_flows()
        traces = self.traces(flow)
        self.assertEqual(len(traces), 10)
        self.assertEqual([body[:9] for body in traces.mapped("body")].count("Variant A"), 5)
        self.assertEqual(traces.variant_id, step.variant_ids)
        self.dispatch()
        step.variant_ids.invalidate_recordset()
        self.assertEqual(step.variant_ids.mapped("kpi_sent"), [5, 5])


@tagged("post_install", "-at_install")
class TestAutomationExits(AutomationCommon):
    """Goals, opt-outs, blacklist and removed contacts end enrollments at once."""

    def test_goal_ends_the_enrollment_with_its_revenue(self):
        flow = self.make_flow(
            [
                {"step_type": "wait", "wait_amount": 1, "wait_unit": "hours"},
                {"step_type": "send", "body": "Your cart: {{ cart_url }}"},
            ],
            trigger="event",
            trigger_event_type="cart_abandoned",
            goal_event_type="order",
        )
        self.event(self.ann, "cart_abandoned", recovery_url="https://shop.example/cart/1")
        self.event(self.bob, "cart_abandoned", recovery_url="https://shop.example/cart/2")
        self.event(self.ann, amount=250)
        ann, bob = self.enrollment(flow, self.ann), self.enrollment(flow, self.bob)
        self.assertEqual((ann.state, ann.goal_revenue), ("goal", 250))
        self.elapse(hours=2)
        self.run_flows()
        self.assertEqual(self.traces(flow).partner_id, self.bob, "no cart SMS after the order")
        self.assertEqual(bob.state, "done")
        flow.invalidate_recordset()
        self.assertEqual((flow.kpi_enrolled, flow.kpi_goal, flow.kpi_revenue), (2, 1, 250))
        self.assertEqual(flow.kpi_conversion_rate, 50)

    def test_opt_out_and_blacklist_end_marketing_flows_not_transactional_ones(self):
        steps = [
            {"step_type": "wait", "wait_amount": 1, "wait_unit": "days"},
            {"step_type": "send", "body": "Hi"},
        ]
        marketing = self.make_flow(steps)
        transactional = self.make_flow(steps, message_class="transactional")
        self.enroll(marketing, self.contacts)
        self.enroll(transactional, self.contacts)
        self.ann._sms_consent_set("opt_out", "keyword", evidence="TD")
        self.env["phone.blacklist"]._add([self.bob.sms_e164])
        self.assertEqual(self.enrollment(marketing, self.ann).exit_reason, "opted_out")
        self.assertEqual(self.enrollment(marketing, self.bob).exit_reason, "blacklisted")
        self.assertEqual(self.enrollment(marketing, self.cid).state, "active")
        self.assertEqual(set(transactional.enrollment_ids.mapped("state")), {"active"})
        self.elapse(days=1, minutes=1)
        self.run_flows()
        self.assertEqual(self.traces(marketing).partner_id, self.cid)
        self.assertEqual(self.traces(transactional).partner_id, self.contacts)

    def test_archived_or_deleted_contact_leaves_every_flow(self):
        flow = self.make_flow(
            [{"step_type": "wait", "wait_amount": 1, "wait_unit": "days"}],
            message_class="transactional",
        )
        extra = self.env["res.partner"].create({"name": "Gone", "mobile": "+8613700000051"})
        self.enroll(flow, self.ann + extra)
        self.ann.active = False
        self.assertEqual(self.enrollment(flow, self.ann).exit_reason, "contact_removed")
        extra.unlink()
        self.assertEqual(len(flow.enrollment_ids), 1)

    def test_flow_figures_follow_every_move(self):
        """The flow's counted figures equal what its enrollments say, whatever moved them:
        steps, goals, opt-outs, blacklist, a user, a deleted contact, stopping."""
        flow = self.make_flow(
            [
                {"step_type": "wait", "name": "Hour", "wait_amount": 1, "wait_unit": "hours"},
                {"step_type": "exit", "name": "Out"},
            ],
            goal_event_type="order",
        )
        extra = self.env["res.partner"].create(
            [{"name": f"Fig {i}", "mobile": f"+86137000003{i:02d}"} for i in range(6)]
        )
        extra._sms_consent_set("opt_in", "manual", evidence="test")
        self.enroll(flow, self.contacts + extra[:5])
        self.event(self.ann, amount=40)  # goal
        self.bob._sms_consent_set("opt_out", "keyword", evidence="TD")
        self.env["phone.blacklist"]._add([extra[0].sms_e164])
        self.enrollment(flow, extra[1]).action_exit()
        extra[2].unlink()
        self.elapse(hours=2)
        self.run_flows()  # cid and extra 3 reach the exit step
        flow.test_partner_ids = extra[4]
        flow.action_test()  # a test run is not counted
        self.enroll(flow, extra[5])  # in progress when the flow stops
        self.env.flush_all()
        flow.invalidate_recordset()
        figures = (
            flow.kpi_enrolled,
            flow.kpi_active,
            flow.kpi_done,
            flow.kpi_goal,
            flow.kpi_exited,
            flow.kpi_optouts,
            flow.kpi_revenue,
        )
        self.assertEqual(figures, (9, 1, 0, 1, 7, 1, 40))
        flow.action_stop()
        flow.invalidate_recordset()
        self.assertEqual((flow.kpi_active, flow.kpi_exited), (0, 8))
        # the same as counting the enrollments (the deleted contact's went with it)
        self.env.cr.execute(
            """SELECT count(*) FILTER (WHERE state = 'exited'),
                      count(*) FILTER (WHERE state = 'goal')
                 FROM sms_marketing_automation_enrollment
                WHERE automation_id = %s AND NOT is_test""",
            [flow.id],
        )
        self.assertEqual(self.env.cr.fetchone(), (7, 1))
        self.Flow._fold_step_counts()
        flow.invalidate_recordset()
        self.assertEqual((flow.kpi_enrolled, flow.kpi_exited, flow.kpi_revenue), (9, 8, 40))

    def test_user_removes_a_contact_from_a_flow(self):
        flow = self.make_flow([{"step_type": "wait", "wait_amount": 1, "wait_unit": "days"}])
        enrollment = self.enroll(flow, self.ann)
        enrollment.with_user(self.user_marketing).action_exit()
        self.assertEqual((enrollment.state, enrollment.exit_reason), ("exited", "manual"))
        with self.assertRaises(AccessError):
            enrollment.with_user(self.user_marketing).write({"state": "active"})


@tagged("post_install", "-at_install")
class TestAutomationRules(AutomationCommon):
    """Re-entry, quiet hours, transactional flows, tests, editing and pausing."""

    def test_reentry_once_per_period_and_every_time(self):
        results = {}
        for rule in ("once", "period", "always"):
            flow = self.make_flow(
                [{"step_type": "exit"}],
                trigger="event",
                trigger_event_type="order",
                reentry=rule,
                reentry_days=30,
            )
            results[rule] = flow
        self.event(self.ann)
        self.event(self.ann)
        self.elapse(days=31)
        self.event(self.ann)
        counts = {rule: len(flow.enrollment_ids) for rule, flow in results.items()}
        self.assertEqual(counts, {"once": 1, "period": 2, "always": 3})

    def test_quiet_hours_hold_a_flow_sms_until_morning_in_the_contacts_zone(self):
        self.company.write(
            {"sms_quiet_hours": True, "sms_send_hour_start": 8.0, "sms_send_hour_end": 20.0}
        )
        flow = self.make_flow([{"step_type": "send", "body": "Good morning"}])
        with freeze_time("2026-12-07 15:30:00"):  # 23:30 in Shanghai
            self.enroll(flow, self.ann)
            self.run_flows()
        trace = self.traces(flow)
        self.assertEqual(trace.state, "queued")
        self.assertEqual(trace.scheduled_at, datetime(2026, 12, 8, 0, 0))  # 08:00 local
        transactional = self.make_flow(
            [{"step_type": "send", "body": "Your code"}], message_class="transactional"
        )
        with freeze_time("2026-12-07 15:30:00"):
            self.enroll(transactional, self.ann)
            self.run_flows()
        self.assertEqual(self.traces(transactional).scheduled_at, datetime(2026, 12, 7, 15, 30))

    def test_only_managers_make_a_flow_transactional(self):
        Flow = self.Flow.with_user(self.user_marketing)
        with self.assertRaises(UserError):
            Flow.create({"name": "Receipts", "trigger": "manual", "message_class": "transactional"})
        flow = Flow.create({"name": "Receipts", "trigger": "manual"})
        with self.assertRaises(UserError):
            flow.message_class = "transactional"
        flow.with_user(self.user_manager).message_class = "transactional"
        self.assertEqual(flow.message_class, "transactional")

    @users("sms_user")
    def test_marketer_builds_and_runs_a_flow(self):
        flow = self.make_flow([{"step_type": "send", "body": "Hi {{ first_name }}"}])
        self.enroll(flow, self.env["res.partner"].browse(self.ann.id))
        self.assertEqual(flow.kpi_enrolled, 1)
        with self.assertRaises(ValidationError):
            self.Step.create(
                {"automation_id": flow.id, "step_type": "send", "body": "Hi {{ password }}"}
            )

    def test_test_run_shortens_waits_and_marks_sms_as_tests(self):
        flow = self.make_flow(
            [
                {"step_type": "wait", "wait_amount": 3, "wait_unit": "days"},
                {"step_type": "send", "body": "Hello"},
            ],
            start=False,
        )
        flow.test_partner_ids = self.ann
        flow.action_test()
        self.run_flows()
        enrollment = flow.enrollment_ids
        self.assertTrue(enrollment.is_test)
        self.assertLessEqual(
            enrollment.due_at,
            self.env.cr.now().replace(tzinfo=None) + timedelta(minutes=1, seconds=5),
        )
        self.assertFalse(self.traces(flow), "a draft flow does not run yet")
        flow.action_start()
        self.elapse(minutes=1, seconds=1)
        self.run_flows()
        trace = self.traces(flow)
        self.assertTrue(trace.is_test)
        flow.invalidate_recordset()
        self.assertEqual((flow.kpi_enrolled, flow.kpi_sent), (0, 0), "tests are not counted")

    def test_editing_a_running_flow_never_resends_a_passed_step(self):
        flow = self.make_flow(
            [
                {"step_type": "send", "name": "First", "body": "One"},
                {"step_type": "wait", "name": "Wait", "wait_amount": 1, "wait_unit": "days"},
                {"step_type": "send", "name": "Second", "body": "Two"},
            ]
        )
        self.enroll(flow, self.ann)
        self.run_flows()
        first = flow.step_ids.filtered(lambda s: s.name == "First")
        wait = flow.step_ids.filtered(lambda s: s.name == "Wait")
        # the message changes, and the first step moves after the wait
        first.write({"body": "One, improved", "sequence": 25})
        self.elapse(days=1, minutes=1)
        self.run_flows()
        enrollment = self.enrollment(flow, self.ann)
        # after the wait comes "First" again: already passed, it is skipped
        self.assertEqual(
            self.passed(enrollment),
            [("First", "passed"), ("Wait", "passed"), ("First", "skipped"), ("Second", "passed")],
        )
        self.assertEqual(
            [body.split()[0] for body in self.traces(flow).mapped("body")], ["One", "Two"]
        )
        self.assertEqual(enrollment.state, "done")
        self.assertEqual(wait.count_passed, 1)

    def test_removing_a_step_moves_its_enrollments_to_the_next(self):
        flow = self.make_flow(
            [
                {"step_type": "wait", "name": "Long wait", "wait_amount": 30, "wait_unit": "days"},
                {"step_type": "send", "name": "Hello", "body": "Hello"},
            ]
        )
        self.enroll(flow, self.ann + self.bob)
        self.run_flows()
        wait = flow.step_ids.filtered(lambda s: s.name == "Long wait")
        wait.unlink()
        self.run_flows()
        self.assertEqual(self.traces(flow).partner_id, self.ann + self.bob)
        self.assertFalse(wait.exists(), "a wait without history is deleted")

    def test_pause_holds_everything_and_resume_continues(self):
        flow = self.make_flow(
            [
                {"step_type": "wait", "wait_amount": 1, "wait_unit": "hours"},
                {"step_type": "send", "body": "Hi"},
            ]
        )
        self.enroll(flow, self.ann)
        flow.action_pause()
        self.elapse(hours=2)
        self.run_flows()
        self.assertFalse(self.traces(flow))
        self.enroll(flow, self.bob)  # a paused flow still takes contacts, who wait
        flow.action_start()
        self.elapse(hours=2)
        self.run_flows()
        self.assertEqual(self.traces(flow).partner_id, self.ann + self.bob)
        flow.action_stop()
        self.assertEqual(set(flow.enrollment_ids.mapped("state")), {"done"})


@tagged("post_install", "-at_install")
class TestAutomationEngine(AutomationCommon):
    """The cron: bounded batches, set-based steps, isolation of failures, no double work."""

    def test_batches_are_bounded_and_report_progress(self):
        flow = self.make_flow([{"step_type": "send", "body": "Hi"}])
        self.enroll(flow, self.contacts)
        progress = []
        with patch.object(
            type(self.env["ir.cron"]),
            "_notify_progress",
            lambda self, done, remaining, **kw: progress.append((done, remaining)),
        ):
            self.assertEqual(self.Flow._cron_run(batch_size=2), 2)
            self.assertEqual(self.Flow._cron_run(batch_size=2), 1)
            self.assertEqual(self.Flow._cron_run(batch_size=2), 0)
        self.assertEqual(progress, [(2, 1), (1, 0), (0, 0)])
        self.assertEqual(len(self.traces(flow)), 3)

    def test_a_step_costs_the_same_queries_for_3_or_30_contacts(self):
        tag = self.env["sms.marketing.tag"].create({"name": "T"})
        partners = self.env["res.partner"].create(
            [{"name": f"Q{i}", "mobile": f"+86137000002{i:02d}"} for i in range(30)]
        )
        counts = []
        for group in (partners[:3], partners[3:]):
            flow = self.make_flow(
                [
                    {"step_type": "tag_add", "tag_id": tag.id},
                    {"step_type": "wait", "wait_amount": 1, "wait_unit": "days"},
                ]
            )
            self.enroll(flow, group)
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            self.Flow._cron_run()
            counts.append(self.cr.sql_log_count - before)
            flow.action_stop()
        self.assertEqual(counts[0], counts[1])

    def test_one_failing_enrollment_is_set_aside_never_the_batch(self):
        flow = self.make_flow([{"step_type": "activity", "activity_summary": "Call"}])
        self.enroll(flow, self.contacts)
        original = FlowEngine._step_activity

        def failing(flow_self, step, rows):
            if any(row[1] == self.bob.id for row in rows):
                raise ValueError("broken activity type")
            return original(flow_self, step, rows)

        with (
            patch.object(FlowEngine, "_step_activity", failing),
            self.assertLogs(
                "odoo.addons.sms_marketing.models.sms_marketing_automation_run", "WARNING"
            ),
        ):
            self.run_flows()
        self.assertEqual(self.enrollment(flow, self.ann).state, "done")
        self.assertEqual(self.enrollment(flow, self.cid).state, "done")
        bob = self.enrollment(flow, self.bob)
        self.assertEqual(bob.state, "active")
        self.assertIn("broken activity type", bob.error)
        self.assertGreater(bob.due_at, self.env.cr.now().replace(tzinfo=None))
        self.elapse(hours=1, minutes=1)
        self.run_flows()
        self.assertEqual((bob.state, bob.error), ("done", False))

    def test_a_crash_mid_batch_changes_nothing_and_the_next_run_sends_once(self):
        flow = self.make_flow(
            [
                {"step_type": "send", "body": "Once"},
                {
                    "step_type": "tag_add",
                    "tag_id": self.env["sms.marketing.tag"].create({"name": "X"}).id,
                },
            ]
        )
        self.enroll(flow, self.contacts)
        self.env.flush_all()

        def crash(*args, **kwargs):
            raise KeyboardInterrupt("worker killed")

        # the worker dies after queueing the SMS, before the enrollments move on and the
        # batch commits
        with (
            self.assertRaises(KeyboardInterrupt),
            self.env.cr.savepoint(),
            patch.object(FlowEngine, "_write_moves", crash),
        ):
            self.Flow._cron_run()
        self.env.invalidate_all()
        self.assertFalse(self.traces(flow))
        self.assertEqual(set(flow.enrollment_ids.mapped("step_id.step_type")), {"send"})
        self.run_flows()
        self.assertEqual(len(self.traces(flow)), 3)
        self.assertEqual(set(flow.enrollment_ids.mapped("state")), {"done"})

    def test_diagram_counts_and_contact_form(self):
        flow = self.make_flow(
            [
                {"step_type": "send", "name": "Offer", "body": "Offer https://shop.example/x"},
                {
                    "step_type": "branch",
                    "name": "Clicked?",
                    "condition": "clicked",
                    "window_hours": 24,
                    "no": [{"step_type": "exit", "name": "Bye"}],
                },
            ]
        )
        self.enroll(flow, self.ann + self.bob)
        self.run_flows()
        self.dispatch()
        self.apply_events()
        self.click(self.traces(flow, partner_id=self.ann.id))
        self.run_flows()
        diagram = flow.get_diagram()
        offer, branch = diagram["steps"]
        counts = {c["key"]: c["value"] for c in offer["counts"]}
        self.assertEqual((counts["passed"], counts["sent"], counts["clicked"]), (2, 2, 1))
        self.assertEqual({c["key"]: c["value"] for c in branch["counts"]}["waiting"], 1)
        self.assertEqual([box["name"] for box in branch["no"]], ["Bye"])
        action = (
            flow.step_ids.filtered(lambda s: s.name == "Clicked?")
            .with_context(count="waiting")
            .action_view_enrollments()
        )
        self.assertEqual(self.Enrollment.search(action["domain"]).partner_id, self.bob)
        self.bob.invalidate_recordset()
        self.assertEqual(self.bob.sms_flow_count, 1)
        self.assertEqual(self.ann.sms_flow_count, 0)
        self.assertEqual(self.bob.sms_enrollment_ids.step_id.name, "Clicked?")


@tagged("post_install", "-at_install")
class TestAutomationGallery(AutomationCommon):
    def test_every_ready_made_flow_installs_starts_and_runs(self):
        Gallery = self.env["sms.marketing.automation.gallery"]
        for code, _label in Gallery._fields["template"].selection:
            with self.subTest(template=code):
                action = Gallery.create({"template": code}).action_install()
                flow = self.Flow.browse(action["res_id"])
                self.assertEqual(flow.state, "draft")
                self.assertEqual(flow.message_class, "marketing")
                flow.action_start()
                self.assertTrue(flow.step_ids)
                for step in flow.step_ids.filtered(lambda s: s.step_type == "send"):
                    campaign = step.campaign_id
                    self.assertEqual(campaign.message_class, "marketing")
                    self.assertTrue(
                        campaign.add_footer
                        and campaign.respect_quiet_hours
                        and campaign.apply_frequency_cap
                    )
                    self.assertIn("STOP", step.preview_body, "the opt-out footer is added")
                flow.action_stop()

    def test_ready_made_flows_speak_chinese(self):
        Gallery = self.env["sms.marketing.automation.gallery"].with_context(lang="zh_CN")
        flow = self.Flow.browse(
            Gallery.create({"template": "cart_recovery"}).action_install()["res_id"]
        )
        self.assertRegex(flow.name, "[\u4e00-\u9fff]")
        self.assertRegex(flow.step_ids.filtered("body")[0].body, "[\u4e00-\u9fff]")
        self.assertIn("{{ cart_url }}", flow.step_ids.filtered("body")[0].body)


FLOW_WORKER = """
import sys, odoo
from odoo.tools import config
config.parse_config(["--addons-path=" + sys.argv[1], "--database=" + sys.argv[2],
                     "--log-level=warn"])
from odoo.modules.registry import Registry
registry = Registry(sys.argv[2])
# what Odoo's cron runner does: call again while work is done, each call one transaction
while True:
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        done = env["sms.marketing.automation"]._cron_run(batch_size=int(sys.argv[3]))
    if not done:
        break
"""


@tagged("post_install", "-at_install")
class TestAutomationProcesses(TransactionCase):
    """Real cron processes on committed data: one killed in the middle of a batch, two
    sharing the queue. The test transaction itself writes nothing (its locks would block
    the processes); what the test commits is deleted afterwards."""

    COUNT = 1000

    def setUp(self):
        super().setUp()
        self.real_cr = odoo.sql_db.db_connect(self.env.cr.dbname).cursor()
        self.addCleanup(self.real_cr.close)
        env = odoo.api.Environment(self.real_cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        # other flows (demo data) would be advanced by these processes too
        env["sms.marketing.automation"].search([("state", "=", "running")]).action_pause()
        self.paused = env["sms.marketing.automation"].search([("state", "=", "paused")]).ids
        self.tag = env["sms.marketing.tag"].create({"name": "Flow processes"})
        flow = env["sms.marketing.automation"].create(
            {"name": "Processes", "trigger": "manual", "message_class": "transactional"}
        )
        for sequence, values in enumerate(
            (
                {"step_type": "send", "body": "Hello from a process"},
                {"step_type": "tag_add", "tag_id": self.tag.id},
                {"step_type": "wait", "wait_amount": 1, "wait_unit": "days"},
            )
        ):
            env["sms.marketing.automation.step"].create(
                {"automation_id": flow.id, "sequence": sequence, **values}
            )
        partners = env["res.partner"].create(
            [{"name": f"Proc {i}", "mobile": f"+86136{i:08d}"} for i in range(self.COUNT)]
        )
        flow.action_start()
        flow._enroll_partners(partners.ids, "processes")
        self.flow_id, self.partner_ids = flow.id, partners.ids
        self.real_cr.commit()
        self.addCleanup(self.cleanup_committed)

    def cleanup_committed(self):
        self.real_cr.rollback()
        env = odoo.api.Environment(self.real_cr, odoo.SUPERUSER_ID, {})
        flow = env["sms.marketing.automation"].browse(self.flow_id)
        campaigns = flow.with_context(active_test=False).step_ids.campaign_id
        self.real_cr.execute(
            "DELETE FROM sms_marketing_trace WHERE campaign_id = ANY(%s)", [campaigns.ids]
        )
        flow.unlink()
        campaigns.with_context(active_test=False).exists().unlink()
        env["res.partner"].browse(self.partner_ids).unlink()
        self.tag.with_env(env).unlink()
        env["sms.marketing.automation"].browse(self.paused).action_start()
        self.real_cr.commit()

    def start_worker(self, batch_size):
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                FLOW_WORKER,
                config["addons_path"],
                self.env.cr.dbname,
                str(batch_size),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def count(self, query):
        self.real_cr.execute(query, [self.flow_id])
        return self.real_cr.fetchone()[0]

    def passages(self):
        """Steps passed by the flow's enrollments, from their histories."""
        return self.count(
            "SELECT COALESCE(sum(jsonb_array_length(history)), 0)"
            " FROM sms_marketing_automation_enrollment WHERE automation_id = %s"
        )

    def test_killed_worker_and_two_workers_advance_each_enrollment_once(self):
        worker = self.start_worker(batch_size=40)
        deadline = time.monotonic() + 120
        while self.passages() < 300 and time.monotonic() < deadline:
            self.real_cr.rollback()
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        self.real_cr.rollback()
        at_kill = self.passages()
        self.assertGreaterEqual(at_kill, 300)
        self.assertLess(at_kill, 2 * self.COUNT, "killed before the end")
        finishers = [self.start_worker(batch_size=40), self.start_worker(batch_size=40)]
        for finisher in finishers:
            self.assertEqual(finisher.wait(timeout=300), 0)
        self.real_cr.rollback()
        # every enrollment passed the send and tag steps once, and waits at the last one
        self.assertEqual(self.passages(), 2 * self.COUNT)
        self.real_cr.execute(
            """SELECT count(*), count(DISTINCT t.automation_enrollment_id)
                 FROM sms_marketing_trace t
                 JOIN sms_marketing_automation_enrollment e ON e.id = t.automation_enrollment_id
                WHERE e.automation_id = %s""",
            [self.flow_id],
        )
        self.assertEqual(self.real_cr.fetchone(), (self.COUNT, self.COUNT), "one SMS each")
        self.assertEqual(
            self.count(
                "SELECT count(*) FROM sms_marketing_automation_enrollment e"
                " JOIN sms_marketing_automation_step s ON s.id = e.step_id"
                " WHERE e.automation_id = %s AND s.step_type = 'wait' AND e.state = 'active'"
            ),
            self.COUNT,
        )
        self.real_cr.execute(
            "SELECT count(*) FROM res_partner_sms_marketing_tag_rel WHERE tag_id = %s",
            [self.tag.id],
        )
        self.assertEqual(self.real_cr.fetchone()[0], self.COUNT)
