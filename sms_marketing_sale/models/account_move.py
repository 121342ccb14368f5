from odoo import models

from .sale_order import PAID_STATES

#: ``cr.precommit.data`` key of the ids of the customer invoices paid in the transaction.
_PAID_KEY = "sms_marketing_sale.paid_invoice_ids"


class AccountMove(models.Model):
    """Customer invoices that become paid make their sale orders ``order_paid`` events.

    Odoo's ``_invoice_paid_hook`` is not enough: it is only called when a reconciliation
    pays an invoice (and for zero-amount invoices), never when a payment without journal
    entry marks it *in payment* or *paid* (payment methods without outstanding account,
    then bank reconciliation, when full accounting is installed). The change of
    ``payment_state`` is therefore watched where it is computed, for every path. As it is
    computed in the middle of a flush, where recording events is not safe, the orders are
    looked at just before the commit (``cr.precommit``), once per transaction, when all of
    its payments and reconciliations are done.
    """

    _inherit = "account.move"

    def _compute_payment_state(self):
        # the stored value, read as Odoo's own compute does, before it changes
        before = {move.id: move.payment_state for move in self if move.id}
        res = super()._compute_payment_state()
        paid = self.filtered(
            lambda move: move.id
            and move.move_type == "out_invoice"
            and move.payment_state in PAID_STATES
            and before.get(move.id) not in PAID_STATES
        )
        if paid:
            paid._sms_marketing_defer_paid()
        return res

    def _sms_marketing_defer_paid(self):
        """Remember the invoices, whose orders :meth:`_sms_marketing_send_paid` looks at
        before the transaction commits."""
        precommit = self.env.cr.precommit
        if _PAID_KEY not in precommit.data:
            precommit.data[_PAID_KEY] = set()
            precommit.add(self._sms_marketing_send_paid)
        precommit.data[_PAID_KEY].update(self.ids)

    def _sms_marketing_send_paid(self):
        """Precommit callback: the sale orders of the invoices paid in the transaction
        become ``order_paid`` events when they are fully paid."""
        ids = self.env.cr.precommit.data.pop(_PAID_KEY, set())
        # sudo: invoices paid by whoever registered the payment (a portal payment, a
        # bank reconciliation); their orders are only read
        invoices = self.env["account.move"].sudo().browse(ids).exists()
        invoices.invoice_line_ids.sale_line_ids.order_id._sms_marketing_send_paid()
        # the commit only flushes what was pending before its precommit callbacks ran
        self.env.flush_all()
