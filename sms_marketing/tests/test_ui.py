import functools
import threading
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import HttpCase, tagged

from ..core import gateways as gw
from .common import SIMULATOR_DELIVERS_ALL


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


@tagged("post_install", "-at_install")
class TestCampaignUi(HttpCase):
    """A campaign in the browser, and its short links as phones and bots open them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.write(
            {
                "sms_default_country_id": cls.env.ref("base.cn").id,
                "sms_consent_mode": "opt_in",
                "sms_quiet_hours": False,
            }
        )
        cls.env["sms.marketing.gateway"].search([]).active = False
        cls.env["sms.marketing.trace"].search([("state", "=", "queued")]).action_cancel()
        cls.simulator = cls.env["sms.marketing.gateway"].create(
            {
                "name": "Tour simulator",
                "provider": "simulator",
                "simulator_report_delay": 0,
                "simulator_reply_delay": 0,
                **SIMULATOR_DELIVERS_ALL,
            }
        )
        cls.marketer = cls.env["res.users"].create(
            {
                "name": "Campaign Marketer",
                "login": "campaign_marketer",
                "password": "campaign_marketer",
                "lang": "en_US",
                "groups_id": [(6, 0, [cls.env.ref("sms_marketing.group_sms_marketing_user").id])],
            }
        )
        Partner = cls.env["res.partner"]
        cls.jane = Partner.create(
            {"name": "Jane Tour", "mobile": "+1 415 555 2671", "lang": "en_US"}
        )
        cls.zhao = Partner.create({"name": "Tour Zhao", "mobile": "13800138803", "lang": "en_US"})
        cls.no_consent = Partner.create({"name": "No Consent Tour", "mobile": "13800138804"})
        (cls.jane + cls.zhao)._sms_consent_set("opt_in", "manual", evidence="tour")
        cls.audience = cls.jane + cls.zhao + cls.no_consent
        cls.segment = cls.env["sms.marketing.segment"].create(
            {"name": "Tour Segment", "domain": repr([("id", "in", cls.audience.ids)])}
        )

    def run_queue(self):
        """What the crons do in production: prepare, send, apply the simulator's reports."""
        Campaign = self.env["sms.marketing.campaign"]
        while Campaign._cron_prepare():
            pass
        self.env.flush_all()
        self.env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=10)
        self.env.cr.execute(
            "UPDATE sms_marketing_gateway_event"
            " SET due_at = now() at time zone 'utc' - interval '1 second'"
        )
        self.env["sms.marketing.dispatcher"]._cron_events()
        self.env.invalidate_all()

    def click(self, trace, user_agent):
        url = next(word for word in trace.body.split() if "/r/" in word)
        response = self.url_open(url, allow_redirects=False, headers={"User-Agent": user_agent})
        self.assertEqual(response.status_code, 302)
        return response

    def test_cart_link_leads_each_recipient_to_their_cart_and_counts_the_click(self):
        self.jane.sms_cart_url = "https://shop.example/cart?key=jane"
        campaign = self.env["sms.marketing.campaign"].create(
            {
                "name": "Carts",
                "body": "{{ first_name }}, your cart is waiting: {{ cart_url }}",
                "segment_ids": [(6, 0, self.segment.ids)],
            }
        )
        campaign.invalidate_recordset()
        self.assertIn("/r/_c/", campaign.preview_body)
        campaign.action_launch()
        self.run_queue()
        Trace = self.env["sms.marketing.trace"]
        jane = Trace.search([("campaign_id", "=", campaign.id), ("partner_id", "=", self.jane.id)])
        zhao = Trace.search([("campaign_id", "=", campaign.id), ("partner_id", "=", self.zhao.id)])
        self.assertIn(f"/r/_c/{jane.link_token}", jane.body)
        self.assertNotEqual(jane.link_token, zhao.link_token)
        human = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"
        self.assertFalse(jane.clicked_at)
        response = self.click(jane, "WhatsApp/2.23.20.0")
        self.assertEqual(response.headers["Location"], "https://shop.example/cart?key=jane")
        jane.invalidate_recordset()
        self.assertFalse(jane.clicked_at, "link previews are not clicks")
        response = self.click(jane, human)
        self.assertEqual(response.headers["Location"], "https://shop.example/cart?key=jane")
        jane.invalidate_recordset()
        self.assertTrue(jane.clicked_at and jane.last_clicked_at)
        # without an open cart: the company's website, else this database
        self.env.company.website = "https://shop.example"
        response = self.click(zhao, human)
        self.assertEqual(response.headers["Location"], "https://shop.example")
        response = self.url_open(
            "/r/_c/NoSuchToken", allow_redirects=False, headers={"User-Agent": human}
        )
        self.assertEqual(response.status_code, 404)
        campaign.invalidate_recordset()
        self.assertEqual(campaign.kpi_clicked, 2)

    def test_campaign_tour(self):
        self.start_tour(
            "/odoo/action-sms_marketing.sms_marketing_campaign_action",
            "sms_marketing_campaign_tour",
            login="campaign_marketer",
        )
        campaign = self.env["sms.marketing.campaign"].search([("name", "=", "Tour Sale")])
        self.assertEqual(campaign.state, "sending")
        test_trace = self.env["sms.marketing.trace"].search(
            [("campaign_id", "=", campaign.id), ("is_test", "=", True)]
        )
        self.assertEqual(test_trace.number, "+14155550100")
        self.run_queue()
        traces = self.env["sms.marketing.trace"].search(
            [("campaign_id", "=", campaign.id), ("is_test", "=", False)]
        )
        self.assertEqual(len(traces), 3)
        jane = traces.filtered(lambda t: t.partner_id == self.jane)
        self.assertEqual(jane.state, "delivered")
        self.assertTrue(jane.body.startswith("Hi Jane, our sale: http"))
        self.click(
            jane, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
        )
        self.click(
            jane,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        )
        self.start_tour(
            f"/odoo/action-sms_marketing.sms_marketing_campaign_action/{campaign.id}",
            "sms_marketing_campaign_results_tour",
            login="campaign_marketer",
        )

    def test_campaign_form_follows_the_sending_live(self):
        """An open campaign form shows deliveries and clicks as they happen, no reload."""
        Campaign = self.env["sms.marketing.campaign"]
        # the crons below work for this campaign only (no demo campaign holds them up)
        Campaign.search([("state", "in", ("scheduled", "sending", "paused"))]).action_cancel()
        campaign = Campaign.create(
            {
                "name": "Live Sale",
                "body": "Hi {{ first_name }}, live: https://shop.example/live",
                "segment_ids": [(6, 0, self.segment.ids)],
            }
        )
        campaign.action_launch()
        while Campaign._cron_prepare():
            pass
        self.env.flush_all()
        # What the form shows when it opens: the crons below wait for its first read.
        self.assertEqual(
            (campaign.kpi_queued, campaign.kpi_delivered, campaign.kpi_clicked), (2, 0, 0)
        )
        # Once the browser has read the form (its first web_read), the crons send and the
        # simulator delivers; then a phone opens Jane's link. The tour watches the open form.
        form_read = threading.Event()
        campaign_class = type(Campaign)
        web_read = campaign_class.web_read

        @functools.wraps(web_read)
        def watched_web_read(records, *args, **kwargs):
            form_read.set()
            return web_read(records, *args, **kwargs)

        self.patch(campaign_class, "web_read", watched_web_read)
        errors = []

        def crons():
            try:
                if not form_read.wait(60):
                    return
                # a request thread's test cursor: waits for the form's read to be answered
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=10)
                    cr.execute(
                        "UPDATE sms_marketing_gateway_event"
                        " SET due_at = now() at time zone 'utc' - interval '1 second'"
                    )
                    env["sms.marketing.dispatcher"]._cron_events()
                    jane = env["sms.marketing.trace"].search(
                        [("campaign_id", "=", campaign.id), ("partner_id", "=", self.jane.id)]
                    )
                    url = next(word for word in jane.body.split() if "/r/" in word)
                human = (
                    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                    "Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
                )
                self.url_open(url, allow_redirects=False, headers={"User-Agent": human})
            except Exception as error:  # reported by the test thread below
                errors.append(error)

        worker = threading.Thread(target=crons)
        worker.start()
        try:
            self.start_tour(
                f"/odoo/action-sms_marketing.sms_marketing_campaign_action/{campaign.id}",
                "sms_marketing_campaign_live_tour",
                login="campaign_marketer",
                timeout=120,
            )
        finally:
            form_read.set()
            worker.join()
        self.assertFalse(errors, errors)
        campaign.invalidate_recordset()
        self.assertEqual((campaign.kpi_delivered, campaign.kpi_clicked), (2, 1))

    def test_short_link_clicks_count_humans_once_and_never_bots(self):
        campaign = self.env["sms.marketing.campaign"].create(
            {
                "name": "Clicks",
                "body": "Sale https://shop.example/sale?x=1 now",
                "segment_ids": [(6, 0, self.segment.ids)],
            }
        )
        campaign.action_launch()
        self.run_queue()
        trace = self.env["sms.marketing.trace"].search(
            [("campaign_id", "=", campaign.id), ("partner_id", "=", self.jane.id)]
        )
        human = (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36"
        )
        for bot in (
            "WhatsApp/2.23.20.0",
            "TelegramBot (like TwitterBot)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "",
        ):
            self.click(trace, bot)
        self.assertFalse(trace.clicked_at)
        self.assertFalse(trace.click_ids)
        response = self.click(trace, human)
        location = response.headers["Location"]
        self.assertTrue(location.startswith("https://shop.example/sale?"), location)
        self.assertIn("x=1", location)
        self.assertIn("utm_campaign=", location)
        self.assertIn("utm_medium=", location)
        self.assertIn("utm_source=", location)
        self.click(trace, human)
        trace.invalidate_recordset()
        self.assertTrue(trace.clicked_at)
        self.assertEqual(len(trace.click_ids), 2)
        campaign.invalidate_recordset()
        self.assertEqual(campaign.kpi_clicked, 1, "unique human clicks")
        # a wrong token still redirects but counts nothing
        url = next(word for word in trace.body.split() if "/r/" in word)
        wrong = url.rsplit("/", 1)[0] + "/WrongToken0"
        response = self.url_open(wrong, allow_redirects=False, headers={"User-Agent": human})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(
            self.env["link.tracker.click"].search_count(
                [("link_id.campaign_id", "=", campaign.utm_campaign_id.id)]
            ),
            2,
        )


@tagged("post_install", "-at_install")
class TestAutomationUi(HttpCase):
    """A ready-made flow in the browser, from the gallery to its goal, with a shop
    talking to the integrator API and the crons doing what they do in production."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.write(
            {
                "sms_default_country_id": cls.env.ref("base.cn").id,
                "sms_consent_mode": "opt_in",
                "sms_quiet_hours": False,
                "sms_frequency_cap_count": 0,
            }
        )
        cls.env["sms.marketing.automation"].search([("state", "=", "running")]).action_stop()
        cls.env["sms.marketing.gateway"].search([]).active = False
        cls.env["sms.marketing.trace"].search([("state", "=", "queued")]).action_cancel()
        cls.env["sms.marketing.gateway"].create(
            {
                "name": "Flow tour simulator",
                "provider": "simulator",
                "simulator_report_delay": 0,
                "simulator_reply_delay": 0,
                **SIMULATOR_DELIVERS_ALL,
            }
        )
        cls.env["ir.config_parameter"].sudo().set_param("sms_marketing.api_rate_limit", 0)
        cls.marketer = cls.env["res.users"].create(
            {
                "name": "Flow Marketer",
                "login": "flow_marketer",
                "password": "flow_marketer",
                "lang": "en_US",
                "groups_id": [(6, 0, [cls.env.ref("sms_marketing.group_sms_marketing_user").id])],
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Tour Cart", "mobile": "+86 138 0013 8811", "lang": "en_US"}
        )
        cls.customer._sms_consent_set("opt_in", "form", evidence="checkout checkbox")
        cls.key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.marketer)
            ._generate("sms_marketing", "tour shop", fields.Datetime.now() + timedelta(days=1))
        )

    def test_cart_recovery_flow_from_the_gallery_to_its_goal(self):
        query = f"tour_key={self.key}&tour_currency={self.env.company.currency_id.name}"
        self.start_tour(
            f"/odoo/action-sms_marketing.sms_marketing_automation_action?{query}",
            "sms_marketing_automation_tour",
            login="flow_marketer",
        )
        flow = self.env["sms.marketing.automation"].search(
            [("name", "=", "Abandoned-cart recovery"), ("state", "=", "running")]
        )
        enrollment = flow.enrollment_ids
        self.assertEqual(enrollment.partner_id, self.customer)
        # an hour later (the flow's wait), the crons of production: the flow sends, the
        # dispatcher hands the SMS to the simulator, its delivery report comes back
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE sms_marketing_automation_enrollment"
            " SET due_at = now() at time zone 'utc' - interval '1 second' WHERE id = %s",
            [enrollment.id],
        )
        while self.env["sms.marketing.automation"]._cron_run():
            pass
        self.env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=10)
        self.env.cr.execute(
            "UPDATE sms_marketing_gateway_event"
            " SET due_at = now() at time zone 'utc' - interval '1 second'"
        )
        self.env["sms.marketing.dispatcher"]._cron_events()
        self.env.invalidate_all()
        trace = enrollment.trace_ids
        self.assertEqual(trace.state, "delivered")
        # the customer opens the cart link on their phone
        url = next(word for word in trace.body.split() if "/r/_c/" in word)
        response = self.url_open(
            url,
            allow_redirects=False,
            headers={
                "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari/604.1"
            },
        )
        self.assertEqual(response.headers["Location"], "https://shop.example/cart/recover/tour")
        self.start_tour(
            f"/odoo/action-sms_marketing.sms_marketing_automation_action/{flow.id}?{query}",
            "sms_marketing_automation_goal_tour",
            login="flow_marketer",
        )
        self.env.invalidate_all()
        self.assertEqual((enrollment.state, enrollment.goal_revenue), ("goal", 199))
        # the order is also the cart reminder's conversion: revenue per SMS
        self.assertEqual((trace.revenue, bool(trace.converted_at)), (199, True))
        self.assertEqual(trace.campaign_id.kpi_revenue, 199)


@tagged("post_install", "-at_install")
class TestReportingUi(HttpCase):
    """The dashboard, the analysis, an RFM segment and a conversation, in the browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a company of its own: the dashboard shows exactly its SMS, whatever else the
        # database holds (demo campaigns, other tests' SMS)
        company = cls.env["res.company"].create(
            {
                "name": "Tour Reports Co",
                "sms_default_country_id": cls.env.ref("base.cn").id,
                "sms_consent_mode": "opt_in",
                "sms_quiet_hours": False,
                "sms_frequency_cap_count": 0,
            }
        )
        env = cls.env(context=dict(cls.env.context, allowed_company_ids=[company.id]))
        cls.gateway = env["sms.marketing.gateway"].create(
            {
                "name": "Tour report gateway",
                "provider": "simulator",
                "simulator_report_delay": 0,
                "simulator_reply_delay": 0,
                **SIMULATOR_DELIVERS_ALL,
            }
        )
        cls.marketer = env["res.users"].create(
            {
                "name": "Report Marketer",
                "login": "report_marketer",
                "password": "report_marketer",
                "lang": "en_US",
                "company_id": company.id,
                "company_ids": [(6, 0, company.ids)],
                "groups_id": [(6, 0, [env.ref("sms_marketing.group_sms_marketing_user").id])],
            }
        )
        Partner = env["res.partner"]
        audience = Partner.create(
            [{"name": f"Tour Reader {i}", "mobile": f"+8613700040{i:03d}"} for i in range(3)]
        )
        audience._sms_consent_set("opt_in", "form", evidence="tour")
        campaign = env["sms.marketing.campaign"].create(
            {
                "name": "Tour report campaign",
                "body": "{{ first_name }}, 20% off today: https://shop.example/t",
                "segment_ids": [
                    (0, 0, {"name": "Tour readers", "domain": repr([("id", "in", audience.ids)])})
                ],
            }
        )
        campaign.action_launch()
        while env["sms.marketing.campaign"]._cron_prepare():
            pass
        env.flush_all()
        env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=10)
        env.cr.execute(
            "UPDATE sms_marketing_gateway_event"
            " SET due_at = now() at time zone 'utc' - interval '1 second'"
        )
        env["sms.marketing.dispatcher"]._cron_events()
        env.invalidate_all()
        env["sms.marketing.trace"].search(
            [("campaign_id", "=", campaign.id)], limit=1
        )._sms_marketing_record_click()
        env["sms.marketing.trace.daily"]._cron_refresh(full=True)
        # customers: two champions (many big orders, the latest), eight quiet ones
        Event = env["sms.marketing.event"]
        currency = env.company.currency_id.name
        cls.champions = Partner.create(
            [
                {"name": f"Tour Champ {c}", "mobile": f"+8613700050{i:03d}"}
                for i, c in enumerate("AB")
            ]
        )
        quiet = Partner.create(
            [{"name": f"Tour Quiet {i}", "mobile": f"+8613700051{i:03d}"} for i in range(8)]
        )
        events = []
        for partner in cls.champions:
            events += [
                {"type": "order", "external_id": f"tc-{partner.id}-{n}", "amount": 900,
                 "currency": currency, "customer": {"phone": partner.sms_e164}}
                for n in range(6)
            ]  # fmt: skip
        for partner in quiet:
            events.append(
                {"type": "order", "external_id": f"tq-{partner.id}", "amount": 5,
                 "currency": currency, "customer": {"phone": partner.sms_e164},
                 "occurred_at": "2025-06-01T10:00:00Z"}
            )  # fmt: skip
        Event._ingest(events, "api", company=company)
        env["sms.marketing.partner.activity"]._cron_refresh()
        # a contact asks a question
        cls.talker = Partner.create({"name": "Tour Talk", "mobile": "+8613700060001"})
        cls.talker._sms_consent_set("opt_in", "form", evidence="tour")
        env["sms.marketing.dispatcher"]._apply_inbound(
            cls.gateway,
            [gw.InboundSms(sender=cls.talker.sms_e164, body="Are you open on Sunday?")],
        )

    def test_dashboard_analysis_rfm_segment_and_conversation_tour(self):
        self.start_tour(
            "/odoo/action-sms_marketing.sms_marketing_dashboard_action",
            "sms_marketing_reporting_tour",
            login="report_marketer",
        )
        segment = self.env["sms.marketing.segment"].search([("name", "=", "Tour Champions")])
        self.assertEqual((segment.behaviour, segment.rfm_group), ("rfm", "champions"))
        found = self.env["res.partner"].search(segment._get_partner_domain())
        self.assertEqual(found & self.champions, self.champions)
        reply = self.env["sms.marketing.trace"].search(
            [("partner_id", "=", self.talker.id), ("message_class", "=", "transactional")]
        )
        self.assertEqual(reply.body, "Yes, from 10 to 18. See you!")
