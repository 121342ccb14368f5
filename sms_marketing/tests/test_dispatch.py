from collections import Counter

from odoo.tests import tagged

from ..core.gateways import base as gw
from .common import SmsMarketingDispatchCommon


@tagged("post_install", "-at_install")
class TestDispatchSimulator(SmsMarketingDispatchCommon):
    def test_queued_trace_is_sent_once_with_id_segments_and_cost(self):
        trace = self.queue(self.partner_cn, "Hello 你好")
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(trace.state, "sent")
        self.assertEqual(trace.gateway_id, self.simulator)
        self.assertTrue(trace.provider_id.startswith("SIM"))
        self.assertEqual(trace.segments, 1)
        self.assertAlmostEqual(trace.cost, 0.04)
        self.assertEqual(trace.attempts, 1)
        self.assertEqual(self.dispatch(), 0, "nothing left: never sent twice")

    def test_simulated_reports_move_traces_to_final_states(self):
        partners = self.env["res.partner"].create(
            [{"name": f"P{i}", "mobile": f"+861380013{i:04d}"} for i in range(200)]
        )
        traces = self.env["sms.marketing.trace"].concat(*(self.queue(p) for p in partners))
        self.dispatch()
        self.apply_events()
        states = Counter(traces.mapped("state"))
        self.assertFalse(set(states) - {"delivered", "undelivered", "failed"}, states)
        self.assertGreater(states["delivered"], 150)
        self.assertTrue(traces.filtered("replied_at"), "some recipients reply")

    def test_stop_reply_opts_out_blacklists_and_confirms_once(self):
        client = self.simulator._get_client()
        partner = next(
            p
            for p in self.env["res.partner"].create(
                [
                    {"name": f"S{i}", "mobile": f"+861390013{i:04d}", "lang": "zh_CN"}
                    for i in range(300)
                ]
            )
            if client.outcome(str(self.queue(p).id)) == "reply_stop"
        )
        self.dispatch()
        self.apply_events()
        self.assertEqual(partner.sms_consent_state, "opted_out")
        line = partner.sms_consent_ids
        self.assertEqual((line.action, line.source), ("opt_out", "keyword"))
        self.assertIn("TD", line.evidence)
        self.assertTrue(self.is_blacklisted(partner.sms_e164))
        replies = self.env["sms.marketing.trace"].search(
            [("partner_id", "=", partner.id), ("message_class", "=", "transactional")]
        )
        self.assertEqual(len(replies), 1)
        self.assertEqual(replies.body, "您已成功退订，将不再收到营销短信。回复Y可重新订阅。")

    def test_invalid_number_fails_permanently_at_once(self):
        trace = self.queue("12345", "x")
        self.dispatch()
        self.assertEqual(
            (trace.state, trace.error_code, trace.attempts), ("failed", "invalid_number", 1)
        )

    def test_no_gateway_keeps_trace_queued_with_reason_then_fails(self):
        self.simulator.active = False
        trace = self.queue(self.partner_cn)
        self.dispatch()
        self.assertEqual((trace.state, trace.error_code), ("queued", "no_gateway"))
        self.assertGreater(trace.scheduled_at, trace.create_date)

    def test_routing_by_country_class_and_priority(self):
        Gateway = self.env["sms.marketing.gateway"]
        china = Gateway.create(
            {
                "name": "China",
                "provider": "simulator",
                "sequence": 1,
                "country_ids": [(4, self.country_cn.id)],
            }
        )
        transactional = Gateway.create(
            {
                "name": "Transactional",
                "provider": "simulator",
                "sequence": 2,
                "use_marketing": False,
            }
        )
        company = self.env.company
        self.assertEqual(Gateway._route(company, "marketing", "CN"), china)
        self.assertEqual(Gateway._route(company, "marketing", "US"), self.simulator)
        self.assertEqual(Gateway._route(company, "transactional", "US"), transactional)
        china._record_health(False, "boom")
        self.assertEqual(Gateway._route(company, "marketing", "CN"), china, "one failure")
        for _i in range(4):
            china._record_health(False, "boom")
        self.assertEqual(
            Gateway._route(company, "marketing", "CN"),
            self.simulator,
            "a failing gateway leaves routing",
        )
        china._record_health(True)
        self.assertEqual(Gateway._route(company, "marketing", "CN"), china)

    def test_lease_expiry_makes_interrupted_traces_unknown_never_queued(self):
        trace = self.queue(self.partner_cn)
        claimed = self.dispatcher._claim(10)
        self.assertEqual([c.id for c in claimed], [trace.id])
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET claimed_at = claimed_at - interval '1 hour'"
            " WHERE id = %s",
            [trace.id],
        )
        with self.assertLogs(
            "odoo.addons.sms_marketing.models.sms_marketing_dispatcher", "WARNING"
        ):
            self.dispatch()
        self.assertEqual((trace.state, trace.error_code), ("unknown", "lease_expired"))
        self.assertEqual(self.dispatch(), 0)

    def test_report_never_moves_backwards_and_replays_change_nothing(self):
        trace = self.queue(self.partner_cn)
        self.dispatch()
        report = gw.StatusReport(provider_id=trace.provider_id, status="delivered")
        self.assertEqual(self.dispatcher._apply_status_reports(self.simulator, [report]), 1)
        self.assertEqual(self.dispatcher._apply_status_reports(self.simulator, [report]), 0)
        late = gw.StatusReport(provider_id=trace.provider_id, status="sent")
        self.assertEqual(self.dispatcher._apply_status_reports(self.simulator, [late]), 0)
        self.env.invalidate_all()
        self.assertEqual(trace.state, "delivered")

    def test_report_by_reference_settles_an_unknown_trace(self):
        trace = self.queue(self.partner_cn)
        self.dispatcher._claim(10)
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET state = 'unknown' WHERE id = %s", [trace.id]
        )
        report = gw.StatusReport(provider_id="X-1", status="delivered", ref=str(trace.id))
        self.dispatcher._apply_status_reports(self.simulator, [report])
        self.env.invalidate_all()
        self.assertEqual((trace.state, trace.provider_id), ("delivered", "X-1"))

    def test_report_before_send_result_is_deferred_then_applied(self):
        report = gw.StatusReport(provider_id="LATE-1", status="delivered")
        self.dispatcher._apply_status_reports(self.simulator, [report])
        event = self.env["sms.marketing.gateway.event"].search([("kind", "=", "status")])
        self.assertEqual(event.payload["provider_id"], "LATE-1")
        trace = self.queue(self.partner_cn)
        self.env.cr.execute(
            "UPDATE sms_marketing_trace SET state = 'sent', provider_id = 'LATE-1',"
            " gateway_id = %s WHERE id = %s",
            [self.simulator.id, trace.id],
        )
        self.apply_events()
        self.assertEqual(trace.state, "delivered")
        self.assertFalse(event.exists())

    def test_outcomes_are_stored_exactly_as_the_provider_gave_them(self):
        # Outcome columns go to PostgreSQL as array texts: quotes, backslashes, commas,
        # braces, "NULL" and a NUL byte (which PostgreSQL text cannot hold) must not shift
        # or merge values between traces, whether a batch has a failure (NULL provider ids)
        # or not; a provider's numeric id is stored as its text.
        odd_ids = ['a"b', "c\\d", "e,{f}", "NULL"]
        cases = [
            (odd_ids, True),
            (odd_ids, False),
            (["plain-1", "plain-2", "plain-3", "plain-4"], True),
            ([12, "x", 7, "y"], False),
        ]
        for accepted, with_failure in cases:
            traces = [self.queue(self.partner_cn, f"Hi {i}") for i in range(5)]
            self.env.flush_all()
            claimed = sorted(self.dispatcher._claim(10), key=lambda item: item.id)
            self.assertEqual([item.id for item in claimed], [t.id for t in traces])
            results = [
                gw.SendResult.ok(item, provider_id=pid)
                for item, pid in zip(claimed[:4], accepted, strict=True)
            ]
            if with_failure:
                results.append(
                    gw.SendResult.error(
                        claimed[4], gw.PERMANENT, gw.ERR_REJECTED, 'bad "number" \\ here\x00, {x}'
                    )
                )
            else:
                results.append(gw.SendResult.ok(claimed[4], provider_id='last"one'))
            self.dispatcher._write_outcomes([(self.simulator, claimed, results)])
            self.env.invalidate_all()
            expected = [("sent", str(pid)) for pid in accepted]
            if with_failure:
                expected.append(("failed", False))
                self.assertEqual(traces[4].error_message, 'bad "number" \\ here, {x}')
                self.assertEqual(traces[4].error_code, "rejected")
            else:
                expected.append(("sent", 'last"one'))
            self.assertEqual([(t.state, t.provider_id) for t in traces], expected)

    def test_canceled_trace_is_not_sent(self):
        trace = self.queue(self.partner_cn)
        trace.action_cancel()
        self.assertEqual(self.dispatch(), 0)
        self.assertEqual(trace.state, "canceled")


@tagged("post_install", "-at_install")
class TestInbound(SmsMarketingDispatchCommon):
    def inbound(self, body, sender=None, provider_id=None):
        return self.dispatcher._apply_inbound(
            self.simulator,
            [
                gw.InboundSms(
                    sender=sender or self.partner_cn.sms_e164, body=body, provider_id=provider_id
                )
            ],
        )

    def replies(self, partner):
        return self.env["sms.marketing.trace"].search(
            [("partner_id", "=", partner.id), ("message_class", "=", "transactional")]
        )

    def test_stop_keyword_opts_out_with_inbound_as_evidence(self):
        self.partner_cn._sms_consent_set("opt_in", "form", evidence="web")
        inbound = self.inbound("退订", provider_id="MO-1")
        self.assertEqual(inbound.keyword_class, "stop")
        self.assertEqual(self.partner_cn.sms_consent_state, "opted_out")
        self.assertIn("退订", self.partner_cn.sms_consent_ids.sorted("id")[-1].evidence)
        self.assertEqual(len(self.replies(self.partner_cn)), 1)
        self.assertFalse(self.inbound("退订", provider_id="MO-1"), "a replayed webhook")
        self.inbound("STOP", provider_id="MO-2")
        self.assertEqual(len(self.replies(self.partner_cn)), 1, "one confirmation only")

    def test_start_keyword_confirms_pending_double_opt_in(self):
        self.partner_cn.action_sms_request_double_optin()
        self.assertEqual(self.partner_cn.sms_consent_state, "pending")
        request = self.replies(self.partner_cn)
        self.assertEqual(request.body, "回复Y确认接收我们的优惠短信，回复TD退订。")
        self.inbound("Y")
        self.assertEqual(self.partner_cn.sms_consent_state, "opted_in")
        self.assertEqual(
            self.partner_cn.sms_consent_ids.sorted("id").mapped("action"), ["request", "confirm"]
        )

    def test_help_keyword_gets_help_text(self):
        self.inbound("HELP", sender=self.partner_us.sms_e164)
        self.assertEqual(
            self.replies(self.partner_us).body,
            "Offers and news by SMS. Reply STOP to opt out, START to subscribe.",
        )

    def test_other_reply_is_stored_linked_and_posted_on_chatter(self):
        trace = self.queue(self.partner_cn, "Sale this weekend")
        self.dispatch()
        inbound = self.inbound("周六几点开门？")
        self.assertEqual(inbound.keyword_class, "other")
        self.assertEqual(inbound.partner_id, self.partner_cn)
        self.assertEqual(inbound.trace_id, trace)
        self.assertTrue(trace.replied_at)
        message = self.partner_cn.message_ids[:1]
        self.assertIn("周六几点开门？", message.body)
        self.assertEqual(message.message_type, "sms")
        self.assertEqual(self.partner_cn.sms_consent_state, "unknown")

    def test_stop_from_unknown_number_blacklists_it(self):
        self.inbound("STOP", sender="+447400123456")
        self.assertTrue(self.is_blacklisted("+447400123456"))
