import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

#: Carts abandoned longer ago than this are not recorded: installing the addon, or a
#: cron stopped for a while, must not make months-old carts look freshly abandoned.
CART_LOOKBACK = timedelta(days=7)
#: Carts read per query, and at most per cron call (the cron runner calls again, after a
#: commit, while some remain).
CART_BATCH = 500
CART_CALL_LIMIT = 5000


class SaleOrder(models.Model):
    """Abandoned website carts as ``cart_abandoned`` SMS marketing events.

    A cart is abandoned in Odoo's own sense (``is_abandoned_cart``: a website quotation
    with lines, of a known customer, older than its website's *Abandoned Delay*). Each one
    is recorded once (external id ``<order id>:abandoned``, source ``odoo_sale``), with its
    amount, its lines and the link back to it that Odoo's cart recovery email gives.
    """

    _inherit = "sale.order"

    @api.model
    def _cron_sms_marketing_abandoned_carts(self, batch_size=CART_BATCH, limit=CART_CALL_LIMIT):
        """Record the carts abandoned (within :data:`CART_LOOKBACK`) that have no event yet,
        ``batch_size`` per query and at most ``limit`` per call; reports progress to the
        cron runner when more remain.

        :return: the number of carts recorded (new events)
        """
        now = fields.Datetime.now()
        after, done, recorded = 0, 0, 0
        more = True
        while more and done < limit:
            rows = self._sms_marketing_abandoned_cart_rows(now, after, batch_size + 1)
            more = len(rows) > batch_size
            rows = rows[:batch_size]
            if not rows:
                break
            after = rows[-1][0]
            done += len(rows)
            # sudo: the cron reads carts of every website and company
            carts = self.sudo().browse([cart_id for cart_id, _at in rows])
            abandoned_at = dict(rows)
            # the link of the recovery email needs the cart's portal token
            for cart in carts:
                cart._portal_ensure_token()
            answers = self._sms_marketing_ingest(
                {
                    company: [
                        cart._prepare_sms_marketing_cart_values(abandoned_at[cart.id])
                        for cart in group
                    ]
                    for company, group in carts.grouped("company_id").items()
                }
            )
            recorded += sum(
                result["status"] == "created" for results in answers.values() for result in results
            )
        if recorded:
            _logger.info("SMS marketing: %s abandoned carts recorded", recorded)
        # a call that recorded nothing does not ask again: the carts left are ones whose
        # event is rejected (logged), tried again at the next run
        self.env["ir.cron"]._notify_progress(done=done, remaining=int(more and recorded > 0))
        return recorded

    @api.model
    def _sms_marketing_abandoned_cart_rows(self, now, after, limit):
        """``[(order id, abandoned at)]`` of abandoned carts without event, ids above
        ``after``, in id order: Odoo's own ``is_abandoned_cart`` search, restricted in SQL
        to the carts abandoned within :data:`CART_LOOKBACK` and not recorded yet. The moment
        a cart is abandoned is its date plus its website's delay (``cart_abandoned_delay``,
        one hour when unset, as in ``_compute_abandoned_cart``)."""
        # sudo: carts of every website and company, whatever the cron user's companies
        carts = self.sudo()._search([("is_abandoned_cart", "=", True)])
        # read in SQL below
        self.flush_model(["date_order", "company_id", "website_id"])
        self.env["website"].flush_model(["cart_abandoned_delay"])
        self.env["sms.marketing.event"].flush_model(["company_id", "source", "external_id"])
        self.env.cr.execute(
            SQL(
                """
                SELECT so.id, so.date_order + make_interval(
                           secs => COALESCE(NULLIF(w.cart_abandoned_delay, 0), 1.0) * 3600)
                  FROM sale_order so
                  JOIN website w ON w.id = so.website_id
                 WHERE so.id IN %(carts)s
                   AND so.id > %(after)s
                   AND so.date_order + make_interval(
                           secs => COALESCE(NULLIF(w.cart_abandoned_delay, 0), 1.0) * 3600)
                       >= %(since)s
                   AND NOT EXISTS (
                        SELECT 1 FROM sms_marketing_event e
                         WHERE e.company_id = so.company_id AND e.source = 'odoo_sale'
                           AND e.external_id = so.id::varchar || ':abandoned')
              ORDER BY so.id
                 LIMIT %(limit)s
                """,
                carts=carts.subselect(),
                after=after,
                since=now - CART_LOOKBACK,
                limit=limit,
            )
        )
        return self.env.cr.fetchall()

    def _sms_marketing_recovery_url(self):
        """The link back to the cart, as Odoo's cart recovery email builds it
        (``website_sale.mail_template_sale_cart_recovery``); the cart needs its token."""
        self.ensure_one()
        return f"{self.get_base_url()}/shop/cart?access_token={self.access_token}"

    def _prepare_sms_marketing_cart_values(self, abandoned_at):
        """The ``cart_abandoned`` event of the cart (see ``core/events.py``): what its order
        event would say, dated when it was abandoned, with the link back to it."""
        self.ensure_one()
        return self._prepare_sms_marketing_order_values() | {
            "type": "cart_abandoned",
            "external_id": f"{self.id}:abandoned",
            "occurred_at": min(abandoned_at, fields.Datetime.now()).isoformat(),
            "recovery_url": self._sms_marketing_recovery_url(),
        }
