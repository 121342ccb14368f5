from unittest.mock import patch

from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import SmsMarketingSaleCommon


@tagged("post_install", "-at_install")
class TestSaleEvents(SmsMarketingSaleCommon):
    """Confirmed, paid and cancelled orders are recorded once each, and the revenue goes to
    (and comes back from) the SMS the customer clicked."""

    def test_confirmed_order_is_one_order_event_with_amount_partner_and_lines(self):
        utm = self.env["utm.campaign"].create({"name": "spring-tea"})
        order = self.create_order(quantity=3, price=40.0, campaign_id=utm.id)
        order.action_confirm()
        event = self.events(order)
        self.assertEqual(len(event), 1)
        self.assertRecordValues(
            event,
            [
                {
                    "type": "order",
                    "external_id": str(order.id),
                    "partner_id": self.customer.id,
                    "amount": 120.0,
                    "currency_id": order.currency_id.id,
                    "occurred_at": order.date_order,
                    "utm_campaign": "spring-tea",
                    "company_id": self.company.id,
                }
            ],
        )
        self.assertEqual(
            event.payload["lines"],
            [
                {
                    "product": "TEA-1",
                    "name": "[TEA-1] Oolong Tea",
                    "quantity": 3.0,
                    "price": 40.0,
                }
            ],
        )

    def test_quotation_is_no_event(self):
        order = self.create_order()
        order.action_quotation_sent()
        self.assertFalse(self.events(order))

    def test_order_after_a_click_credits_the_campaign_sms_with_its_revenue(self):
        trace = self.clicked_trace()
        order = self.create_order(quantity=2, price=50.0)
        order.action_confirm()
        event = self.events(order)
        self.assertEqual(event.trace_id, trace)
        self.assertEqual(event.attribution, "last_click")
        self.assertEqual(trace.revenue, 100.0)
        self.assertEqual(trace.converted_at, order.date_order)
        self.assertEqual(self.campaign.kpi_revenue, 100.0)

    def test_confirmed_by_a_salesperson_without_sms_rights(self):
        salesman = new_test_user(
            self.env,
            login="sms_sale_salesman",
            groups="sales_team.group_sale_salesman",
            company_id=self.company.id,
        )
        trace = self.clicked_trace()
        order = self.create_order(user_id=salesman.id).with_user(salesman)
        order.action_confirm()
        self.assertEqual(self.events(order).type, "order")
        self.assertEqual(trace.revenue, 100.0)

    def test_cancelled_order_is_a_refund_that_takes_the_revenue_back(self):
        trace = self.clicked_trace()
        order = self.create_order()
        order.action_confirm()
        order._action_cancel()
        order_event, refund = self.events(order)
        self.assertRecordValues(
            refund,
            [
                {
                    "type": "refund",
                    "external_id": f"{order.id}:cancel",
                    "refers_to": str(order.id),
                    "refers_event_id": order_event.id,
                    "partner_id": self.customer.id,
                    "amount": 100.0,
                    "revenue": -100.0,
                    "trace_id": trace.id,
                }
            ],
        )
        self.assertEqual(trace.revenue, 0.0)

    def test_cancelled_quotation_is_no_event(self):
        order = self.create_order()
        order._action_cancel()
        self.assertFalse(self.events(order))
        self.assertEqual(order.sms_marketing_cancel_count, 0)

    def test_order_confirmed_again_after_cancellation_is_a_new_order(self):
        trace = self.clicked_trace()
        order = self.create_order()
        order.action_confirm()
        order._action_cancel()
        order.action_draft()
        order.order_line.product_uom_qty = 3
        order.action_confirm()
        self.assertEqual(
            [(e.type, e.external_id, e.refers_to or None) for e in self.events(order)],
            [
                ("order", str(order.id), None),
                ("refund", f"{order.id}:cancel", str(order.id)),
                ("order", f"{order.id}:2", None),
            ],
        )
        self.assertEqual(trace.revenue, 150.0)
        # and its cancellation and payment refer to the new confirmation
        order._action_cancel()
        self.assertEqual(self.events(order)[-1].external_id, f"{order.id}:2:cancel")
        self.assertEqual(self.events(order)[-1].refers_to, f"{order.id}:2")
        self.assertEqual(trace.revenue, 0.0)

    def test_hooks_called_twice_record_each_event_once(self):
        trace = self.clicked_trace()
        order = self.create_order()
        order.action_confirm()
        order._sms_marketing_send_orders()
        order._action_confirm()
        self.assertEqual(len(self.events(order)), 1)
        order._action_cancel()
        order._action_cancel()
        self.assertEqual(
            self.events(order).mapped("external_id"), [str(order.id), f"{order.id}:cancel"]
        )
        self.assertEqual(order.sms_marketing_cancel_count, 1)
        self.assertEqual(trace.revenue, 0.0)

    def test_fully_paid_order_is_one_order_paid_event(self):
        order = self.create_order()
        order.action_confirm()
        invoice = self.invoice(order)
        self.pay(invoice)
        self.commit_hooks()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        paid = self.events(order).filtered(lambda event: event.type == "order_paid")
        self.assertRecordValues(
            paid,
            [
                {
                    "external_id": f"{order.id}:paid",
                    "refers_to": str(order.id),
                    "refers_event_id": self.events(order)[0].id,
                    "partner_id": self.customer.id,
                    "revenue": 0.0,
                }
            ],
        )
        order._sms_marketing_send_paid()
        self.assertEqual(len(self.events(order)), 2)

    def test_partly_paid_or_partly_invoiced_order_is_not_paid(self):
        order = self.create_order()
        order.action_confirm()
        invoice = self.invoice(order)
        self.pay(invoice, amount=30.0)
        self.commit_hooks()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(self.events(order).mapped("type"), ["order"])
        # a paid down payment: the order is not fully invoiced
        other = self.create_order()
        other.action_confirm()
        self.env["sale.advance.payment.inv"].with_context(
            active_model="sale.order", active_ids=other.ids
        ).create({"advance_payment_method": "percentage", "amount": 50}).create_invoices()
        down_payment = other.invoice_ids
        down_payment.action_post()
        self.pay(down_payment)
        self.commit_hooks()
        self.assertIn(down_payment.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.events(other).mapped("type"), ["order"])

    def test_payment_without_journal_entry_is_seen_too(self):
        """With full accounting, a payment method without outstanding account pays an
        invoice without a reconciliation (Odoo's ``_invoice_paid_hook`` is not called)."""
        self.inbound_payment_method_line.payment_account_id = False
        order = self.create_order()
        order.action_confirm()
        invoice = self.invoice(order)
        AccountMove = self.registry["account.move"]
        with patch.object(AccountMove, "_get_invoice_in_payment_state", lambda self: "in_payment"):
            self.pay(invoice)
            self.commit_hooks()
            self.assertEqual(invoice.payment_state, "in_payment")
            self.assertFalse(invoice.matched_payment_ids.move_id)
        self.assertEqual(self.events(order).mapped("type"), ["order", "order_paid"])

    def test_foreign_currency_order_is_converted_to_the_company_currency(self):
        code = "EUR" if self.company.currency_id.name != "EUR" else "USD"
        currency = self.setup_other_currency(code, rates=[("2000-01-01", 4.0)])
        pricelist = self.env["product.pricelist"].create(
            {"name": code, "currency_id": currency.id, "company_id": self.company.id}
        )
        order = self.create_order(quantity=2, price=100.0, pricelist_id=pricelist.id)
        self.assertEqual(order.currency_id, currency)
        order.action_confirm()
        event = self.events(order)
        self.assertEqual((event.amount, event.currency_id), (200.0, currency))
        self.assertAlmostEqual(event.amount_company, 50.0)
        self.assertAlmostEqual(event.revenue, 50.0)

    def test_event_lines_are_what_was_bought_and_fit_the_event(self):
        lines = [
            Command.create({"display_type": "line_section", "name": "Teas"}),
            Command.create({"product_id": self.tea.id, "product_uom_qty": 1, "price_unit": 50}),
            Command.create({"display_type": "line_note", "name": "Gift wrap"}),
            Command.create({"product_id": self.tea.id, "product_uom_qty": 1, "price_unit": -10}),
        ]
        order = self.env["sale.order"].create({"partner_id": self.customer.id, "order_line": lines})
        self.assertEqual([line["price"] for line in order._prepare_sms_marketing_lines()], [50.0])
        # a long order keeps its first lines instead of losing its event
        long_name = self._create_product(
            name="茶" * 300, default_code=False, lst_price=1.0, taxes_id=[Command.clear()]
        )
        order.order_line = [
            Command.create({"product_id": long_name.id, "product_uom_qty": 1}) for _ in range(40)
        ]
        order.action_confirm()
        event = self.events(order)
        self.assertEqual(event.amount, order.amount_total)
        kept = event.payload["lines"]
        self.assertLess(len(kept), 41)
        self.assertEqual(kept[1]["product"], str(long_name.id))
        self.assertEqual(len(kept[1]["name"]), 256)

    def test_events_of_more_orders_take_no_more_queries(self):
        counts = []
        for size in (1, 2, 8):  # the first one warms the caches up
            orders = self.env["sale.order"].browse(
                [self.create_order(quantity=index + 1).id for index in range(size)]
            )
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            events = [order._prepare_sms_marketing_order_values() for order in orders]
            counts.append(self.cr.sql_log_count - before)
            self.assertEqual(len(events), size)
        self.assertEqual(counts[1], counts[2], "queries must not grow with the orders")
