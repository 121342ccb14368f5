from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged, users
from odoo.tools import SQL

from .common import SmsMarketingCommon

NOW = datetime(2026, 12, 4, 12, 0, 0)


@tagged("post_install", "-at_install")
class TestEventIngestion(SmsMarketingCommon):
    """Events are recorded once, matched to the right contact, and consent never comes
    from an order alone."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["sms.marketing.event"]
        # the company's own currency (Odoo refuses to change it once accounting has entries)
        cls.cur = cls.company.currency_id.name

    def ingest(self, *events, source="api", **kwargs):
        return self.Event._ingest(list(events), source, now=NOW, **kwargs)

    def order(self, external_id="1001", amount=100.0, **values):
        return {
            "type": "order",
            "external_id": external_id,
            "occurred_at": "2026-12-04T10:00:00Z",
            "amount": amount,
            "currency": self.cur,
            "customer": {"phone": "+8613800138000"},
        } | values

    def test_same_event_twice_creates_one_row_and_answers_the_same(self):
        first = self.ingest(self.order())
        again = self.ingest(self.order(), self.order())
        self.assertEqual(first[0]["status"], "created")
        self.assertEqual([r["status"] for r in again], ["duplicate", "duplicate"])
        self.assertEqual({r["id"] for r in again}, {first[0]["id"]})
        self.assertEqual(self.Event.search_count([("external_id", "=", "1001")]), 1)

    def test_repeat_inside_one_batch_is_a_duplicate_of_the_first(self):
        results = self.ingest(self.order(), self.order(amount=5))
        self.assertEqual([r["status"] for r in results], ["created", "duplicate"])
        self.assertEqual(results[0]["id"], results[1]["id"])
        self.assertEqual(self.Event.browse(results[0]["id"]).amount, 100.0)

    def test_external_ids_are_per_source(self):
        results = self.ingest(self.order()) + self.ingest(self.order(), source="shopify")
        self.assertEqual([r["status"] for r in results], ["created", "created"])

    def test_bad_event_is_rejected_without_rejecting_the_others(self):
        results = self.ingest(
            self.order("1"),
            {"type": "order", "external_id": "2"},
            self.order("3", currency="XXQ"),
            self.order("4", customer={"phone": "12"}),
            self.order("5"),
        )
        self.assertEqual(
            [(r["status"], r.get("code")) for r in results],
            [
                ("created", None),
                ("rejected", "missing_field"),
                ("rejected", "unknown_currency"),
                ("rejected", "invalid_phone"),
                ("created", None),
            ],
        )
        self.assertTrue(all(r["message"] for r in results if r["status"] == "rejected"))

    def test_rejection_message_is_translated(self):
        Event = self.Event.with_context(lang="zh_CN")
        result = Event._ingest([{"type": "nope", "external_id": "1"}], "api", now=NOW)[0]
        self.assertRegex(result["message"], "[\u4e00-\u9fff]")

    def test_partner_matched_by_customer_id_then_number_then_email(self):
        self.partner_us.email = "jane@example.com"
        results = self.ingest(
            self.order("a", customer={"phone": "13800138000"}),
            self.order("b", customer={"email": "JANE@example.com"}),
            self.order("c", customer={"external_id": "c-1", "email": "jane@example.com"}),
            # the customer id now points at Jane, whatever number comes with it
            self.order("d", customer={"external_id": "c-1", "phone": "+8613800138000"}),
        )
        events = self.Event.browse([r["id"] for r in results])
        self.assertEqual(
            [event.partner_id for event in events],
            [self.partner_cn, self.partner_us, self.partner_us, self.partner_us],
        )
        self.assertEqual(
            self.env["sms.marketing.customer.ref"].search([("external_id", "=", "c-1")]).partner_id,
            self.partner_us,
        )

    def test_numbers_of_known_contacts_in_a_large_batch_match_without_parsing(self):
        partners = self.env["res.partner"].create(
            [{"name": f"K{n}", "mobile": f"+86138001{n:05d}"} for n in range(25)]
        )
        self.assertEqual(len(set(partners.mapped("sms_e164"))), 25)
        events = [
            self.order(f"k{n}", customer={"phone": partner.sms_e164})
            for n, partner in enumerate(partners)
        ]
        # written like E.164 but not a number: still parsed, and refused
        events.append(self.order("bad", customer={"phone": "+8612345"}))
        # an unknown number in E.164 is parsed and becomes a new contact
        events.append(self.order("new", customer={"phone": "+8613900139001"}))
        results = self.ingest(*events)
        self.assertEqual([r["status"] for r in results], ["created"] * 25 + ["rejected", "created"])
        self.assertEqual(results[25]["code"], "invalid_phone")
        matched = self.Event.browse([r["id"] for r in results[:25]]).mapped("partner_id")
        self.assertEqual(matched, partners)
        self.assertEqual(self.Event.browse(results[26]["id"]).partner_id.sms_e164, "+8613900139001")

    def test_unknown_customer_becomes_a_contact_without_consent(self):
        result = self.ingest(
            self.order(customer={"phone": "+86 139 0013 9000", "name": "李娜", "lang": "zh_CN"})
        )[0]
        partner = self.Event.browse(result["id"]).partner_id
        self.assertEqual(partner.name, "李娜")
        self.assertEqual(partner.sms_e164, "+8613900139000")
        self.assertEqual(partner.sms_consent_state, "unknown")
        self.assertEqual(partner.company_id, self.company)
        self.assertFalse(partner.sms_consent_ids)

    def test_one_new_contact_for_a_customer_named_twice_in_a_batch(self):
        customer = {"email": "new@example.com"}
        results = self.ingest(
            self.order("x", customer=customer), self.order("y", customer=customer)
        )
        self.assertEqual(len(self.Event.browse([r["id"] for r in results]).partner_id), 1)

    def test_explicit_consent_with_evidence_goes_through_the_ledger(self):
        consent = {"action": "opt_in", "evidence": "Checkout box: SMS offers", "at": "2026-12-04"}
        self.ingest(self.order(customer={"phone": "+8613900139001", "consent": consent}))
        partner = self.env["res.partner"].search([("sms_e164", "=", "+8613900139001")])
        self.assertEqual(partner.sms_consent_state, "opted_in")
        self.assertLedger(partner, [("opt_in", "api")])
        self.assertIn("Checkout box", partner.sms_consent_ids.evidence)

    def test_opt_in_without_evidence_rejects_the_event(self):
        result = self.ingest(
            self.order(customer={"phone": "+8613900139002", "consent": {"action": "opt_in"}})
        )[0]
        self.assertEqual(result["code"], "consent_evidence_required")
        self.assertFalse(self.env["res.partner"].search([("sms_e164", "=", "+8613900139002")]))

    def test_currency_is_converted_at_the_rate_of_the_event_date(self):
        foreign = self.env.ref("base.CNY" if self.cur != "CNY" else "base.USD")
        foreign.active = True
        Rate = self.env["res.currency.rate"]
        Rate.search([("currency_id", "in", (foreign | self.company.currency_id).ids)]).unlink()
        Rate.create({"currency_id": foreign.id, "name": "2026-12-01", "rate": 0.125})
        event = self.Event.browse(
            self.ingest(self.order(amount=10, currency=foreign.name))[0]["id"]
        )
        self.assertEqual(event.currency_id, foreign)
        self.assertAlmostEqual(event.amount_company, 80.0)
        self.assertAlmostEqual(event.revenue, 80.0)

    def test_events_are_append_only(self):
        event = self.Event.browse(self.ingest(self.order())[0]["id"])
        with self.assertRaises(UserError):
            event.write({"amount": 1})
        with self.assertRaises(UserError):
            self.Event.create({"type": "order"})
        with self.assertRaises(UserError):
            event.with_user(self.user_manager).unlink()

    @users("sms_employee")
    def test_employee_without_sms_rights_cannot_ingest(self):
        with self.assertRaises(AccessError):
            self.env["sms.marketing.event"]._ingest([self.order()], "api")

    def test_retention_empties_old_payloads_and_keeps_amounts(self):
        event = self.Event.browse(
            self.ingest(
                self.order(
                    occurred_at="2026-12-01T10:00:00Z",
                    lines=[{"product": "SKU", "quantity": 1, "price": 100}],
                )
            )[0]["id"]
        )
        self.assertEqual(event.payload["lines"][0]["product"], "SKU")
        self.company.sms_event_payload_days = 1
        self.Event._cron_purge_payloads()
        self.assertFalse(event.payload)
        self.assertEqual(event.amount, 100.0)

    def cart(self, external_id, occurred_at, url):
        return {
            "type": "cart_abandoned",
            "external_id": external_id,
            "occurred_at": occurred_at,
            "recovery_url": url,
            "customer": {"phone": "+8613800138000"},
        }

    def test_open_cart_link_follows_carts_and_orders_by_their_date(self):
        self.ingest(self.cart("c1", "2026-12-04T08:00:00Z", "https://shop.example/c/1"))
        partner = self.Event.search([("external_id", "=", "c1")]).partner_id
        self.assertEqual(partner.sms_cart_url, "https://shop.example/c/1")
        # an older cart arriving late does not replace the newer one
        self.ingest(self.cart("c0", "2026-12-04T07:00:00Z", "https://shop.example/c/0"))
        self.assertEqual(partner.sms_cart_url, "https://shop.example/c/1")
        # an order before the cart leaves it open; the order after it closes it
        self.ingest(self.order("o0", occurred_at="2026-12-04T07:30:00Z"))
        self.assertEqual(partner.sms_cart_url, "https://shop.example/c/1")
        self.ingest(self.order("o1", occurred_at="2026-12-04T09:00:00Z"))
        self.assertFalse(partner.sms_cart_url)
        # a cart older than a known order (sent late) never reopens
        self.ingest(self.cart("c2", "2026-12-04T08:30:00Z", "https://shop.example/c/2"))
        self.assertFalse(partner.sms_cart_url)
        # a cart and its order in one batch: closed
        self.ingest(
            self.cart("c3", "2026-12-04T10:00:00Z", "https://shop.example/c/3"),
            self.order("o3", occurred_at="2026-12-04T10:30:00Z"),
        )
        self.assertFalse(partner.sms_cart_url)
        self.ingest(self.cart("c4", "2026-12-04T11:00:00Z", "https://shop.example/c/4"))
        self.assertEqual(partner.sms_cart_url, "https://shop.example/c/4")
        self.assertEqual(partner.sms_cart_at, datetime(2026, 12, 4, 11, 0))


@tagged("post_install", "-at_install")
class TestAttribution(SmsMarketingCommon):
    """Orders credit the last SMS clicked within the click window, else the last delivered
    within the view-through window."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["sms.marketing.event"]
        cls.cur = cls.company.currency_id.name
        cls.campaign_a = cls.env["sms.marketing.campaign"].create({"name": "A", "body": "Hi"})
        cls.campaign_b = cls.env["sms.marketing.campaign"].create({"name": "B", "body": "Hi"})
        cls.company.sms_attribution_click_days = 7
        cls.company.sms_attribution_view_days = 1

    def trace(self, campaign, sent_at, clicked_at=None, partner=None, company=None):
        partner = partner or self.partner_cn
        return self.env["sms.marketing.trace"].create(
            {
                "company_id": (company or self.company).id,
                "partner_id": partner.id,
                "number": partner.sms_e164,
                "body": "Hi",
                "state": "delivered",
                "campaign_id": campaign.id,
                "sent_at": sent_at,
                "clicked_at": clicked_at,
            }
        )

    def order(self, external_id, occurred_at, amount=100.0, **values):
        return {
            "type": "order",
            "external_id": external_id,
            "occurred_at": occurred_at.isoformat(),
            "amount": amount,
            "currency": self.cur,
            "customer": {"phone": self.partner_cn.sms_e164},
        } | values

    def refund(self, external_id, amount=None, customer=True, **values):
        """A refund of order "1" (of the whole order without ``amount``); ``customer``
        False sends it without one (its order's)."""
        refund = {"type": "refund", "external_id": external_id, "refers_to": "1"} | values
        if amount is not None:
            refund.update(amount=amount, currency=self.cur)
        if customer:
            refund["customer"] = {"phone": self.partner_cn.sms_e164}
        return refund

    def ingest(self, *events):
        return self.Event._ingest(list(events), "api", now=NOW)

    def event(self, result):
        return self.Event.browse(result["id"])

    def test_click_then_order_inside_the_window_credits_the_sms(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=3), NOW - timedelta(days=2))
        event = self.event(self.ingest(self.order("1", NOW - timedelta(hours=1)))[0])
        self.assertEqual(event.trace_id, trace)
        self.assertEqual(event.attribution, "last_click")
        self.assertEqual(trace.revenue, 100.0)
        self.assertEqual(trace.converted_at, NOW - timedelta(hours=1))
        self.assertEqual(self.campaign_a.kpi_conversions, 1)
        self.assertEqual(self.campaign_a.kpi_revenue, 100.0)
        self.assertEqual(self.campaign_a.kpi_revenue_per_sms, 100.0)
        self.assertEqual(self.campaign_a.kpi_conversion_rate, 100.0)

    def test_click_outside_the_window_and_no_recent_delivery_gets_no_credit(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=9), NOW - timedelta(days=8))
        event = self.event(self.ingest(self.order("1", NOW))[0])
        self.assertFalse(event.trace_id)
        self.assertFalse(trace.converted_at)
        self.assertEqual(self.campaign_a.kpi_revenue, 0.0)

    def test_last_click_wins_between_two_campaigns(self):
        self.trace(self.campaign_a, NOW - timedelta(days=3), NOW - timedelta(days=3))
        last = self.trace(self.campaign_b, NOW - timedelta(days=2), NOW - timedelta(days=1))
        event = self.event(self.ingest(self.order("1", NOW))[0])
        self.assertEqual(event.trace_id, last)
        self.assertEqual((self.campaign_a.kpi_revenue, self.campaign_b.kpi_revenue), (0, 100))

    def test_a_later_click_on_an_older_sms_counts_from_that_click(self):
        older = self.trace(self.campaign_a, NOW - timedelta(days=10), NOW - timedelta(days=9))
        self.trace(self.campaign_b, NOW - timedelta(days=3), NOW - timedelta(days=3))
        self.env.cr.execute(
            SQL(
                "UPDATE sms_marketing_trace SET last_clicked_at = %s WHERE id = %s",
                NOW - timedelta(days=1),
                older.id,
            )
        )
        event = self.event(self.ingest(self.order("1", NOW))[0])
        self.assertEqual(event.trace_id, older)

    def test_view_through_credits_the_last_delivered_sms_when_nothing_was_clicked(self):
        self.trace(self.campaign_a, NOW - timedelta(hours=30))
        trace = self.trace(self.campaign_b, NOW - timedelta(hours=5))
        event = self.event(self.ingest(self.order("1", NOW))[0])
        self.assertEqual(event.trace_id, trace)
        self.assertEqual(event.attribution, "last_view")

    def test_view_through_turned_off_gives_no_credit(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(hours=5))
        self.assertEqual(self.event(self.ingest(self.order("1", NOW))[0]).trace_id, trace)
        # the company's windows are cached per worker: changing them applies at once
        self.company.sms_attribution_view_days = 0
        event = self.event(self.ingest(self.order("2", NOW))[0])
        self.assertFalse(event.trace_id)

    def test_click_beats_a_more_recent_delivery(self):
        clicked = self.trace(self.campaign_a, NOW - timedelta(days=2), NOW - timedelta(days=2))
        self.trace(self.campaign_b, NOW - timedelta(hours=2))
        self.assertEqual(self.event(self.ingest(self.order("1", NOW))[0]).trace_id, clicked)

    def test_order_before_the_sms_gets_no_credit(self):
        self.trace(self.campaign_a, NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
        event = self.event(self.ingest(self.order("1", NOW - timedelta(hours=2)))[0])
        self.assertFalse(event.trace_id)

    def test_another_companys_sms_gets_no_credit(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1), company=other)
        self.assertFalse(self.event(self.ingest(self.order("1", NOW))[0]).trace_id)

    def test_test_sends_get_no_credit(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        trace.is_test = True
        self.assertFalse(self.event(self.ingest(self.order("1", NOW))[0]).trace_id)

    def test_the_same_order_twice_counts_once(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        self.ingest(self.order("1", NOW))
        self.ingest(self.order("1", NOW))
        self.assertEqual(trace.revenue, 100.0)
        self.assertEqual(self.campaign_a.kpi_conversions, 1)

    def test_refund_takes_back_the_revenue_partly_or_wholly(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        self.ingest(self.order("1", NOW - timedelta(hours=3), amount=100))
        self.ingest(
            self.refund(
                "r1", amount=30, customer=False, occurred_at=(NOW - timedelta(hours=2)).isoformat()
            )
        )
        self.assertEqual(trace.revenue, 70.0)
        refund = self.Event.search([("external_id", "=", "r1")])
        self.assertEqual(refund.trace_id, trace)
        self.assertEqual(refund.partner_id, self.partner_cn)
        self.ingest(self.refund("r2", customer=False))
        # a refund without amount takes back the whole order
        self.assertEqual(trace.revenue, -30.0)

    def test_refund_received_before_its_order_applies_when_the_order_comes(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        results = self.ingest(self.refund("r1", amount=40))
        self.assertEqual(results[0]["status"], "created")
        self.ingest(self.order("1", NOW - timedelta(hours=3), amount=100))
        self.assertEqual(trace.revenue, 60.0)

    def test_order_and_its_refunds_in_one_batch_in_any_order(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        at = (NOW - timedelta(hours=1)).isoformat()
        # a refund sent before its order in the batch, one after it, a payment without
        # customer: each finds the order inserted by the same request
        results = self.ingest(
            self.refund("r1", amount=10, occurred_at=at),
            self.order("1", NOW - timedelta(hours=3), amount=100),
            self.refund("r2", amount=25, customer=False, occurred_at=at),
            {"type": "order_paid", "external_id": "p1", "refers_to": "1"},
        )
        self.assertEqual([r["status"] for r in results], ["created"] * 4)
        r1, order, r2, paid = self.Event.browse([r["id"] for r in results])
        self.assertEqual((r1.refers_event_id, r2.refers_event_id), (order, order))
        self.assertEqual((r1.trace_id, r2.trace_id, order.trace_id), (trace, trace, trace))
        self.assertEqual(paid.refers_event_id, order)
        self.assertFalse(paid.trace_id)
        self.assertEqual((paid.revenue, paid.amount), (0.0, 100.0))
        self.assertEqual(trace.revenue, 65.0)
        self.assertEqual(trace.converted_at, NOW - timedelta(hours=3))

    def test_refund_and_order_received_at_once_are_linked_by_the_cron(self):
        trace = self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        refund = self.event(self.ingest(self.refund("r1", amount=40))[0])
        # the order, inserted by a request that could not see the refund (both were
        # being received at the same moment): nothing linked it
        self.env.flush_all()
        self.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_event (company_id, partner_id, type, occurred_at,
                       amount, currency_id, amount_company, revenue, source, external_id,
                       trace_id, attribution)
                VALUES (%s, %s, 'order', %s, 100, %s, 100, 100, 'api', '1', %s, 'last_click')
             RETURNING id
                """,
                self.company.id,
                self.partner_cn.id,
                NOW - timedelta(hours=3),
                self.company.currency_id.id,
                trace.id,
            )
        )
        order = self.Event.browse(self.cr.fetchone()[0])
        self.Event._credit_traces({trace.id})
        self.assertEqual(trace.revenue, 100.0)
        self.assertFalse(refund.refers_event_id)
        self.assertGreaterEqual(self.Event._cron_link_references(), 1)
        self.assertEqual(refund.refers_event_id, order)
        self.assertEqual(refund.trace_id, trace)
        self.assertEqual(trace.revenue, 60.0)
        # done once: nothing left to link, an unknown order's refund waits
        self.assertEqual(self.Event._cron_link_references(), 0)

    def test_refund_without_customer_or_known_order_is_rejected(self):
        result = self.ingest(self.refund("r9", customer=False, refers_to="404"))[0]
        self.assertEqual(result["code"], "unknown_order")

    def test_late_orders_attribute_by_their_own_date(self):
        first = self.trace(self.campaign_a, NOW - timedelta(days=6), NOW - timedelta(days=6))
        second = self.trace(self.campaign_b, NOW - timedelta(days=2), NOW - timedelta(days=2))
        # the newer order arrives first, the older one afterwards
        self.ingest(self.order("new", NOW))
        self.ingest(self.order("old", NOW - timedelta(days=4), amount=50))
        self.assertEqual((first.revenue, second.revenue), (50.0, 100.0))
        self.assertEqual(first.converted_at, NOW - timedelta(days=4))

    def test_a_batch_is_attributed_in_a_fixed_number_of_queries(self):
        self.trace(self.campaign_a, NOW - timedelta(days=1), NOW - timedelta(days=1))
        self.ingest(self.order("warm", NOW))  # caches (currency rates, ORM metadata)
        counts = []
        for size in (10, 200):
            events = [self.order(f"{size}-{i}", NOW) for i in range(size)]
            self.env.invalidate_all()
            self.env.flush_all()
            before = self.cr.sql_log_count
            results = self.ingest(*events)
            self.env.flush_all()
            counts.append(self.cr.sql_log_count - before)
            self.assertEqual({r["status"] for r in results}, {"created"})
        self.assertEqual(counts[0], counts[1], "queries must not grow with the batch size")
        self.assertEqual(self.campaign_a.kpi_conversions, 1)
        self.assertEqual(self.campaign_a.kpi_revenue, 21100.0)
