import json
import logging

from odoo import api, fields, models

from odoo.addons.sms_marketing.core import events as core_events

_logger = logging.getLogger(__name__)

#: Event source of everything keyed by a sale order id (orders, payments, cancellations,
#: abandoned carts): one namespace of external ids per company.
SOURCE = "odoo_sale"
#: Invoice payment states that count as paid (``in_payment``: paid, the bank not matched yet).
PAID_STATES = ("paid", "in_payment")
#: Size of ``{"lines": []}``, the payload around the lines.
_PAYLOAD_OVERHEAD = len(json.dumps({"lines": []}))


class SaleOrder(models.Model):
    """Odoo's own sales as SMS marketing customer events, fed to
    ``sms.marketing.event._ingest`` (source ``odoo_sale``, the customer given by its
    ``partner_id``, so no matching by number or email is needed):

    * a confirmation is an ``order`` event (amount, currency, UTM campaign, product lines),
      whose revenue is credited to the SMS the customer last clicked (see ``_attribution_sql``);
    * the moment its last invoice is paid, an ``order_paid`` event;
    * the cancellation of a confirmed order, a ``refund`` of the whole order: the revenue
      credited to the SMS is taken back.

    Every event is keyed by the order id (see :meth:`_sms_marketing_order_ref`), so calling
    a hook twice, or two workers doing it at once, records it once. An order cancelled and
    confirmed again is a new order event under a new key: the first one stays refunded and
    the new confirmation counts. Orders confirmed before this addon was installed have no
    event; their later payment or cancellation is ignored.
    """

    _inherit = "sale.order"

    sms_marketing_cancel_count = fields.Integer(
        string="SMS Marketing Cancellations",
        copy=False,
        readonly=True,
        help="How many times this order was cancelled after being confirmed. Each new "
        "confirmation is a new SMS marketing order event, numbered by it.",
    )

    # ------------------------------------------------------------------------------------
    # Hooks
    # ------------------------------------------------------------------------------------

    def _action_confirm(self):
        res = super()._action_confirm()
        self._sms_marketing_send_orders()
        return res

    def _action_cancel(self):
        # the refund refers to the confirmation being cancelled: its key is read before
        # the state (and the counter) change
        confirmed = self.filtered(lambda order: order.state == "sale")
        refs = {order.id: order._sms_marketing_order_ref() for order in confirmed}
        res = super()._action_cancel()
        cancelled = confirmed.filtered(lambda order: order.state == "cancel")
        if cancelled:
            self._sms_marketing_ingest(
                {
                    company: [
                        {
                            "type": "refund",
                            "external_id": f"{refs[order.id]}:cancel",
                            "refers_to": refs[order.id],
                        }
                        for order in orders
                    ]
                    for company, orders in cancelled.grouped("company_id").items()
                }
            )
            # sudo: the key of the next confirmation, not something salespeople edit
            for order in cancelled.sudo():
                order.sms_marketing_cancel_count += 1
        return res

    # ------------------------------------------------------------------------------------
    # Events
    # ------------------------------------------------------------------------------------

    def _sms_marketing_order_ref(self):
        """The external id of the order event of the order's current confirmation:
        ``"<id>"`` for the first one, ``"<id>:<n>"`` for the n-th after cancellations.
        Payments and cancellations are keyed after it (``<ref>:paid``, ``<ref>:cancel``)."""
        self.ensure_one()
        count = self.sms_marketing_cancel_count
        return f"{self.id}:{count + 1}" if count else str(self.id)

    def _prepare_sms_marketing_lines(self):
        """The order's product lines as event lines, in order:
        ``[{"product": default code or product id, "name", "quantity", "price"}]``.

        Sections, notes, down payments and negative lines (discounts, rewards) are left
        out: an event line is something bought. At most ``MAX_LINES`` lines, and no more
        than fit the event payload: a long order keeps its first lines rather than losing
        its event.
        """
        self.ensure_one()
        lines = []
        size = _PAYLOAD_OVERHEAD
        lang = self.partner_id.lang or None
        for line in self.order_line:
            if (
                line.display_type
                or line.is_downpayment
                or not line.product_id
                or line.product_uom_qty < 0
                or line.price_unit < 0
            ):
                continue
            product = line.product_id.with_context(lang=lang)
            value = {
                "product": (product.default_code or str(product.id))[: core_events.MAX_TEXT],
                "name": product.display_name[: core_events.MAX_TEXT],
                "quantity": line.product_uom_qty,
                "price": line.price_unit,
            }
            size += len(json.dumps(value, ensure_ascii=False).encode()) + 2
            if len(lines) == core_events.MAX_LINES or size > core_events.MAX_PAYLOAD_BYTES:
                break
            lines.append(value)
        return lines

    def _prepare_sms_marketing_order_values(self):
        """The ``order`` event of the order's current confirmation (see ``core/events.py``
        for the format)."""
        self.ensure_one()
        return {
            "type": "order",
            "external_id": self._sms_marketing_order_ref(),
            "occurred_at": self.date_order.isoformat(),
            "amount": self.amount_total,
            "currency": self.currency_id.name,
            "utm_campaign": (self.campaign_id.name or "")[: core_events.MAX_TEXT] or None,
            "customer": {"partner_id": self.partner_id.id},
            "lines": self._prepare_sms_marketing_lines(),
        }

    def _sms_marketing_send_orders(self):
        """Record the confirmed orders among ``self`` as ``order`` events (again: a
        duplicate, answered by the first one)."""
        # sudo: orders are also confirmed by the payment flow as the public user; they are
        # only read to describe them
        orders = self.sudo().filtered(lambda order: order.state == "sale")
        if orders:
            self._sms_marketing_ingest(
                {
                    company: [order._prepare_sms_marketing_order_values() for order in group]
                    for company, group in orders.grouped("company_id").items()
                }
            )

    def _sms_marketing_is_paid(self):
        """Whether the confirmed order is fully invoiced and all its customer invoices are
        posted and paid (or reversed by a credit note, an invoice replaced by another)."""
        self.ensure_one()
        if self.state != "sale" or self.invoice_status not in ("invoiced", "upselling"):
            return False
        # draft invoices count in the invoiced quantities: they must be paid like the others
        invoices = self.invoice_ids.filtered(
            lambda move: move.move_type == "out_invoice" and move.state != "cancel"
        )
        return all(
            move.state == "posted" and move.payment_state in (*PAID_STATES, "reversed")
            for move in invoices
        ) and any(move.payment_state in PAID_STATES for move in invoices)

    def _sms_marketing_send_paid(self):
        """Record the paid orders among ``self`` (see :meth:`_sms_marketing_is_paid`) as
        ``order_paid`` events; the customer is the one of the order event."""
        # sudo: called for invoices paid by whoever registered the payment; the orders and
        # invoices are only read
        orders = self.sudo().filtered(lambda order: order._sms_marketing_is_paid())
        if orders:
            self._sms_marketing_ingest(
                {
                    company: [
                        {
                            "type": "order_paid",
                            "external_id": f"{order._sms_marketing_order_ref()}:paid",
                            "refers_to": order._sms_marketing_order_ref(),
                        }
                        for order in group
                    ]
                    for company, group in orders.grouped("company_id").items()
                }
            )

    @api.model
    def _sms_marketing_ingest(self, events_by_company, source=SOURCE):
        """Hand events to ``sms.marketing.event._ingest``, one call per company.

        :param dict events_by_company: ``{res.company: [event dict]}`` (trusted: the
            customers are given by ``partner_id``)
        :param str source: the events' source (``odoo_sale`` unless told)
        :return: ``{res.company: [result dict]}``, the answers of ``_ingest``
        """
        # sudo: events are only ever created by _ingest; a salesperson confirming an order
        # has no SMS marketing rights, and needs none for the order to count
        Event = self.env["sms.marketing.event"].sudo()
        answers = {}
        for company, events in events_by_company.items():
            if not events:
                continue
            results = Event._ingest(events, source=source, company=company, trusted=True)
            for event, result in zip(events, results, strict=True):
                if result["status"] != "rejected":
                    continue
                # the payment or cancellation of an order confirmed before the addon was
                # installed has no order to refer to: expected, not worth a warning
                log = _logger.debug if result["code"] == "unknown_order" else _logger.warning
                log(
                    "SMS marketing: %s event %s of %s rejected: %s (%s)",
                    event["type"],
                    event["external_id"],
                    company.name,
                    result["code"],
                    result["field"],
                )
            answers[company] = results
        return answers
