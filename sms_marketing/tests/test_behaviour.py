import itertools
from datetime import date, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .common import SmsMarketingCommon


@tagged("post_install", "-at_install")
class TestBehaviourSegments(SmsMarketingCommon):
    """Behaviour presets: set-based rules on events, SMS and the contacts' activity."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Segment = cls.env["sms.marketing.segment"]
        cls.Event = cls.env["sms.marketing.event"]
        cls.sequence = itertools.count()
        cls.people = cls.env["res.partner"].create(
            [{"name": f"B{i}", "mobile": f"+86137000200{i:02d}"} for i in range(12)]
        )
        cls.people._sms_consent_set("opt_in", "manual", evidence="test")

    def event(self, partner, type_, days_ago=0, amount=None, **values):
        raw = {
            "type": type_,
            "external_id": f"{type_}-{next(self.sequence)}",
            "occurred_at": fields.Datetime.to_string(
                fields.Datetime.now() - timedelta(days=days_ago)
            ).replace(" ", "T")
            + "Z",
            "customer": {"phone": partner.sms_e164},
            **values,
        }
        if amount is not None:
            raw.update(amount=amount, currency=self.company.currency_id.name)
        result = self.Event._ingest([raw], "api", company=self.company)[0]
        self.assertEqual(result["status"], "created", result)

    def members(self, people=None, **values):
        segment = self.Segment.create({"name": "Behaviour", **values})
        found = self.env["res.partner"].search(segment._get_partner_domain())
        segment.invalidate_recordset()
        self.assertEqual(segment.partner_count, len(found))
        return found & (people or self.people)

    def test_rfm_groups_from_orders(self):
        p = self.people + self.env["res.partner"].create(
            [{"name": f"B{i}", "mobile": f"+86137000200{i:02d}"} for i in range(12, 15)]
        )
        # five groups of three, from the oldest and least to the latest and most:
        # hibernating (one small order long ago), at risk (frequent, long ago), promising,
        # new (one recent order), champions (frequent, big, the latest)
        plans = [
            (p[0:3], [400], 10),
            (p[3:6], [300, 301, 302, 303, 304], 300),
            (p[6:9], [100, 101], 50),
            (p[9:12], [3], 40),
            (p[12:15], [0, 1, 2, 3, 4, 5], 500),
        ]
        # the quintiles are over every customer: only these ones here (demo orders and
        # other tests' are gone with this test's transaction)
        self.env.cr.execute("DELETE FROM sms_marketing_event")
        for people, days, amount in plans:
            for person in people:
                for days_ago in days:
                    self.event(person, "order", days_ago=days_ago, amount=amount)
        self.env["sms.marketing.partner.activity"]._cron_refresh()
        for group, people in (
            ("hibernating", p[0:3]),
            ("at_risk", p[3:6]),
            ("promising", p[6:9]),
            ("new", p[9:12]),
            ("champions", p[12:15]),
        ):
            with self.subTest(group=group):
                self.assertEqual(self.members(behaviour="rfm", rfm_group=group, people=p), people)
        self.assertEqual(self.members(behaviour="churn", people=p), p[3:6])
        p[12].invalidate_recordset()
        self.assertEqual(p[12].sms_rfm_group, "champions")
        self.assertEqual(p[12].sms_rfm_score[:2], "55")

    def test_browsed_but_did_not_buy_and_open_carts(self):
        p = self.people
        self.event(p[0], "product_view", days_ago=2, product="SKU-1")
        self.event(p[1], "product_view", days_ago=2, product="SKU-1")
        self.event(p[1], "order", days_ago=1, amount=20)  # bought after
        self.event(p[2], "product_view", days_ago=20, product="SKU-1")  # too old
        self.event(p[5], "product_view", days_ago=5, product="SKU-1")
        self.event(p[5], "order", days_ago=3, amount=20)
        self.event(p[5], "product_view", days_ago=1, product="SKU-2")  # browsing again
        self.assertEqual(self.members(behaviour="browsed", behaviour_days=7), p[0] | p[5])
        # the nightly refresh keeps the same answer (it recomputes the last views)
        self.env["sms.marketing.partner.activity"]._cron_refresh()
        self.assertEqual(self.members(behaviour="browsed", behaviour_days=7), p[0] | p[5])
        self.event(p[3], "cart_abandoned", days_ago=1, recovery_url="https://shop.example/c/3")
        self.event(p[4], "cart_abandoned", days_ago=2, recovery_url="https://shop.example/c/4")
        self.event(p[4], "order", days_ago=1, amount=30)  # recovered
        self.assertEqual(self.members(behaviour="cart", behaviour_days=7), p[3])

    def test_dormant_engaged_and_never_clicked(self):
        p = self.people
        self.event(p[0], "order", days_ago=120, amount=50)
        self.event(p[1], "order", days_ago=10, amount=50)
        self.assertEqual(self.members(behaviour="dormant", behaviour_days=90), p[0])
        Trace = self.env["sms.marketing.trace"]
        for person in p[2:4]:
            for _n in range(5):
                Trace.create(
                    {"partner_id": person.id, "number": person.sms_e164, "body": "x",
                     "state": "delivered"}
                )  # fmt: skip
        Trace.search([("partner_id", "=", p[3].id)], limit=1)._sms_marketing_record_click()
        self.env["sms.marketing.partner.activity"]._cron_refresh()
        self.assertEqual(self.members(behaviour="never_clicked", behaviour_sends=5), p[2])
        self.assertEqual(self.members(behaviour="engaged", behaviour_days=30), p[3])

    def test_best_hours_from_the_hours_contacts_engage(self):
        """A contact's best hour is the local hour at which its SMS are engaged with at the
        best rate (one engagement is enough); without any, none of its own. The groups'
        fallback is the hour with everyone's best rate, not the hour most SMS went at."""
        p = self.people
        Trace = self.env["sms.marketing.trace"]
        Activity = self.env["sms.marketing.partner.activity"]
        base = fields.Datetime.now().replace(minute=0, second=0) - timedelta(days=3)
        local = base.replace(hour=0) - timedelta(hours=8)  # 00:00 in Shanghai, in UTC
        plans = {
            # contact: [(local hour, clicked)]
            p[0]: [(10, False)] * 4 + [(19, True)],
            p[1]: [(10, False)] * 5,
            p[2]: [(12, True), (12, False), (15, False)],
            p[3]: [(10, True)] + [(10, False)] * 5,
        }
        for person, sends in plans.items():
            self.assertEqual(person.sms_tz, "Asia/Shanghai")
            for n, (hour, clicked) in enumerate(sends):
                at = local + timedelta(hours=hour, days=-n)
                trace = Trace.create(
                    {"partner_id": person.id, "number": person.sms_e164, "body": "x",
                     "state": "delivered"}
                )  # fmt: skip
                trace.flush_recordset()
                self.env.cr.execute(
                    "UPDATE sms_marketing_trace SET sent_at = %s, clicked_at = %s WHERE id = %s",
                    [at, at + timedelta(minutes=5) if clicked else None, trace.id],
                )
        Activity._cron_refresh()
        rows = {a.partner_id: a for a in Activity.search([("partner_id", "in", p.ids)])}
        self.assertEqual(rows[p[0]].best_hour, 19)
        self.assertFalse(rows[p[1]].best_hour)
        self.assertEqual(rows[p[2]].best_hour, 12)
        self.assertEqual(rows[p[3]].best_hour, 10)
        sent_at_19 = local + timedelta(hours=19, days=-4)
        weekday = (sent_at_19 + timedelta(hours=8)).weekday()
        self.assertEqual(rows[p[0]].best_hour_of_week, weekday * 24 + 19)
        # 10:00: 1 click in 15 SMS; 12:00: 1 in 2; 19:00: 1 in 1; 15:00: none in 1
        self.assertEqual(Activity._fallback_best_hours(), {"*": 19})
        # a year later, p[3]'s click no longer says anything: its hour goes
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET sent_at = sent_at - interval '400 days'"
            " WHERE partner_id = %s",
            [p[3].id],
        )
        Activity._cron_refresh()
        self.assertFalse(rows[p[3]].best_hour)
        self.assertFalse(rows[p[3]].best_hour_of_week)
        self.assertEqual(rows[p[0]].best_hour, 19)

    @freeze_time("2027-02-20 04:00:00")
    def test_birthdays_in_the_next_days(self):
        p = self.people
        p[0].sms_birthday = date(1990, 2, 25)
        p[1].sms_birthday = date(2000, 2, 29)  # on Feb 28 in 2027
        p[2].sms_birthday = date(1990, 3, 10)
        self.assertEqual(self.members(behaviour="birthday", behaviour_days=10), p[0] | p[1])

    def test_a_behaviour_segment_is_a_campaign_audience(self):
        p = self.people
        self.event(p[5], "product_view", days_ago=1, product="SKU-9")
        segment = self.Segment.create(
            {"name": "Browsers", "behaviour": "browsed", "behaviour_days": 7}
        )
        # the web client gets a plain domain (no SQL) and the same contacts
        action = segment.action_view_partners()
        self.assertIn(("sms_segment_ids", "in", [segment.id]), action["domain"])
        self.assertIn(p[5], self.env["res.partner"].search(action["domain"]))
        campaign = self.env["sms.marketing.campaign"].create(
            {"name": "Come back", "body": "Still thinking about it?",
             "segment_ids": [(6, 0, segment.ids)]}
        )  # fmt: skip
        campaign.action_launch()
        while self.env["sms.marketing.campaign"]._cron_prepare():
            pass
        traces = self.env["sms.marketing.trace"].search([("campaign_id", "=", campaign.id)])
        self.assertIn(p[5], traces.partner_id)
        self.assertNotIn(p[4], traces.partner_id)
