from datetime import datetime, time, timedelta
from uuid import uuid4

from odoo import fields
from odoo.tests import tagged

from ..models.website_track import CURSOR_PARAM
from .common import SmsMarketingWebsiteSaleCommon


@tagged("post_install", "-at_install")
class TestProductViews(SmsMarketingWebsiteSaleCommon):
    """Product pages viewed by known visitors become one event per contact, product and
    day, each track read once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Visitor = cls.env["website.visitor"]
        # a logged-in visitor's token is its partner id (website.visitor._compute_partner_id)
        cls.visitor = Visitor.create(
            {"access_token": str(cls.customer.id), "website_id": cls.website.id}
        )
        cls.anonymous = Visitor.create({"access_token": uuid4().hex, "website_id": cls.website.id})
        cls.day = (fields.Datetime.now() - timedelta(days=2)).date()
        cls.next_day = cls.day + timedelta(days=1)

    def setUp(self):
        super().setUp()
        # whatever was tracked before the test (demo data) is not its business
        self.env.cr.execute("SELECT COALESCE(max(id), 0) FROM website_track")
        self.params = self.env["ir.config_parameter"].sudo()
        self.params.set_param(CURSOR_PARAM, str(self.env.cr.fetchone()[0]))
        self.Track = self.env["website.track"]

    def at(self, day, hour, minute=0):
        return datetime.combine(day, time(hour, minute))

    def track(self, when, product=None, visitor=None):
        return self.Track.create(
            {
                "visitor_id": (visitor or self.visitor).id,
                "product_id": (product or self.tea).id,
                "visit_datetime": when,
                "url": "/shop/oolong-tea",
            }
        )

    def events(self):
        return self.Event.search(
            [
                ("source", "=", "website"),
                ("type", "=", "product_view"),
                ("partner_id", "=", self.customer.id),
            ],
            order="occurred_at, id",
        )

    def test_views_are_one_event_per_contact_product_and_day(self):
        self.track(self.at(self.day, 10))
        last = self.track(self.at(self.day, 11, 30))
        self.track(self.at(self.day, 9), product=self.cake)
        self.track(self.at(self.next_day, 8))
        # neither an anonymous visitor's views nor pages that are not products count
        self.track(self.at(self.day, 10), visitor=self.anonymous)
        page = self.Track.create(
            {"visitor_id": self.visitor.id, "url": "/about", "visit_datetime": last.visit_datetime}
        )
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 3)
        partner = self.customer.id
        self.assertRecordValues(
            self.events(),
            [
                {
                    "external_id": f"view:{partner}:{self.cake.id}:{self.day}",
                    "product_ref": str(self.cake.id),
                    "occurred_at": self.at(self.day, 9),
                    "payload": {"data": {"views": 1}},
                },
                {
                    "external_id": f"view:{partner}:{self.tea.id}:{self.day}",
                    "product_ref": "TEA-1",
                    "occurred_at": last.visit_datetime,
                    "payload": {"data": {"views": 2}},
                },
                {
                    "external_id": f"view:{partner}:{self.tea.id}:{self.next_day}",
                    "product_ref": "TEA-1",
                    "occurred_at": self.at(self.next_day, 8),
                    "payload": {"data": {"views": 1}},
                },
            ],
        )
        self.assertEqual(self.params.get_param(CURSOR_PARAM), str(page.id))

    def test_each_run_reads_only_the_new_tracks(self):
        self.track(self.at(self.day, 10))
        self.Track._cron_sms_marketing_product_views()
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 0)
        # a later view the same day finds the day's event recorded (documented: one event
        # per contact, product and day, counted by the first run that saw the day)
        self.track(self.at(self.day, 18))
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 0)
        self.assertEqual(self.events().payload, {"data": {"views": 1}})
        self.track(self.at(self.next_day, 9), product=self.cake)
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 1)
        self.assertEqual(len(self.events()), 2)

    def test_views_still_being_written_wait_for_the_next_run(self):
        recent = self.track(fields.Datetime.now())
        before = self.params.get_param(CURSOR_PARAM)
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 0)
        self.assertEqual(self.params.get_param(CURSOR_PARAM), before)
        self.env.cr.execute(
            "UPDATE website_track SET visit_datetime = visit_datetime - interval '10 minutes'"
            " WHERE id = %s",
            [recent.id],
        )
        self.assertEqual(self.Track._cron_sms_marketing_product_views(), 1)

    def test_tracks_are_read_in_bounded_batches(self):
        for hour in (8, 9, 10):
            self.track(self.at(self.day, hour))
        self.track(self.at(self.day, 9), product=self.cake)
        self.assertEqual(self.Track._cron_sms_marketing_product_views(batch_size=2), 1)
        self.assertEqual(self.events().payload, {"data": {"views": 2}})
        self.assertEqual(self.Track._cron_sms_marketing_product_views(batch_size=2), 1)
        self.assertEqual(len(self.events()), 2)

    def test_first_run_reads_the_recent_days_only(self):
        self.track(fields.Datetime.now() - timedelta(days=30))
        self.track(self.at(self.day, 10), product=self.cake)
        self.params.set_param(CURSOR_PARAM, False)
        self.Track._cron_sms_marketing_product_views()
        self.assertEqual(self.events().mapped("product_ref"), [str(self.cake.id)])

    def test_cron_runs_its_code(self):
        self.track(self.at(self.day, 10))
        self.env.ref(
            "sms_marketing_website_sale.ir_cron_sms_marketing_product_views"
        ).method_direct_trigger()
        self.assertEqual(len(self.events()), 1)
