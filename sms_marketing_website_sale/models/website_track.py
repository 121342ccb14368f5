import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.sms_marketing.core import events as core_events

_logger = logging.getLogger(__name__)

#: ``ir.config_parameter`` holding the id of the last ``website.track`` row read.
CURSOR_PARAM = "sms_marketing_website_sale.last_track_id"
#: Views younger than this are left for the next run. A row gets its id when inserted
#: but is seen when its request commits: reading up to the newest id could pass over a
#: lower id still being committed, for good. Requests take seconds, not minutes.
SETTLE_DELAY = timedelta(minutes=5)
#: Views older than this are not recorded (the past is not news): on the first run, after
#: a cron stopped for long, or tracks moved to a contact's visitor long after.
VIEW_LOOKBACK = timedelta(days=7)
#: Tracks read per cron call (the cron runner calls again, after a commit, while some
#: remain), and events handed to ``_ingest`` at once.
TRACK_BATCH = 20000
INGEST_CHUNK = 1000


class WebsiteTrack(models.Model):
    """Product pages viewed by known visitors as ``product_view`` SMS marketing events,
    one per contact, product and UTC day.

    website_sale tracks a product page view (``website.track`` with ``product_id``, at most
    one per visitor and product every 30 minutes: the count is of those); a visitor is
    known when linked to a contact (a logged-in customer). The cron reads the tracks added
    since its last run (a cursor on their id), counts them per contact, product and day in
    SQL, and records one event per group (source ``website``), external id
    ``view:<partner id>:<product id>:<YYYY-MM-DD>``, dated at the last view, with
    ``data = {"views": <count>}``.

    Known limitations, accepted for a bounded cost per run:

    * views of a day read by a later run than the first one for that contact and product
      find their event already recorded (a duplicate, ignored): the count is the one of
      the first run that saw the day;
    * views made anonymously, then moved to the contact's visitor at login after a run
      read them, stay anonymous;
    * views older than :data:`VIEW_LOOKBACK` when read are not recorded.
    """

    _inherit = "website.track"

    @api.model
    def _cron_sms_marketing_product_views(self, batch_size=TRACK_BATCH):
        """Record the product views tracked since the last run (at most ``batch_size``
        tracks, the settled ones: see :data:`SETTLE_DELAY`) and move the cursor past them;
        reports progress to the cron runner when more remain.

        :return: the number of new events
        """
        cr = self.env.cr
        now = fields.Datetime.now()
        settled = now - SETTLE_DELAY
        # the counts are read in SQL
        self.flush_model()
        self.env["website.visitor"].flush_model(["partner_id", "website_id"])
        self.env["res.partner"].flush_model(["active"])
        self.env["product.product"].flush_model(["default_code"])
        # sudo: the cursor is the cron's bookkeeping, not a setting
        params = self.env["ir.config_parameter"].sudo()
        after = params.get_param(CURSOR_PARAM)
        if after:
            after = int(after)
        else:
            # first run: from the views of the last days, not the whole history
            cr.execute(
                SQL(
                    """
                    SELECT COALESCE(
                        (SELECT min(id) - 1 FROM website_track WHERE visit_datetime >= %s),
                        (SELECT max(id) FROM website_track),
                        0)
                    """,
                    now - VIEW_LOOKBACK,
                )
            )
            after = cr.fetchone()[0]
        cr.execute(
            SQL(
                """
                SELECT max(id), count(*) FROM (
                    SELECT id FROM website_track
                     WHERE id > %(after)s AND visit_datetime < %(settled)s
                  ORDER BY id
                     LIMIT %(limit)s) batch
                """,
                after=after,
                settled=settled,
                limit=batch_size,
            )
        )
        upto, count = cr.fetchone()
        if not upto:
            params.set_param(CURSOR_PARAM, str(after))
            return 0
        created = self._sms_marketing_record_views(after, upto)
        params.set_param(CURSOR_PARAM, str(upto))
        _logger.info(
            "SMS marketing: product views of tracks %s-%s recorded, %s new events",
            after + 1,
            upto,
            created,
        )
        if count == batch_size:
            cr.execute(
                SQL(
                    "SELECT EXISTS(SELECT 1 FROM website_track"
                    " WHERE id > %s AND visit_datetime < %s)",
                    upto,
                    settled,
                )
            )
            more = cr.fetchone()[0]
        else:
            more = False
        self.env["ir.cron"]._notify_progress(done=count, remaining=int(more))
        return created

    @api.model
    def _sms_marketing_record_views(self, after, upto):
        """Record the product views of the tracks ``after < id <= upto``, one event per
        contact, product and UTC day (see the class docstring).

        :return: the number of new events
        """
        self.env.cr.execute(
            SQL(
                """
                SELECT COALESCE(w.company_id, %(company)s) AS company_id,
                       v.partner_id,
                       t.product_id,
                       COALESCE(NULLIF(p.default_code, ''), p.id::varchar) AS product,
                       t.visit_datetime::date AS day,
                       count(*) AS views,
                       max(t.visit_datetime) AS last_view
                  FROM website_track t
                  JOIN website_visitor v ON v.id = t.visitor_id
                  JOIN res_partner rp ON rp.id = v.partner_id AND rp.active
                  JOIN product_product p ON p.id = t.product_id
             LEFT JOIN website w ON w.id = v.website_id
                 WHERE t.id > %(after)s AND t.id <= %(upto)s AND t.product_id IS NOT NULL
                   AND t.visit_datetime >= %(since)s
              GROUP BY 1, 2, 3, 4, 5
              ORDER BY 1, 2, 3, 5
                """,
                company=self.env.company.id,
                after=after,
                upto=upto,
                since=fields.Datetime.now() - VIEW_LOOKBACK,
            )
        )
        events_by_company = {}
        for (
            company_id,
            partner_id,
            product_id,
            product,
            day,
            views,
            last_view,
        ) in self.env.cr.fetchall():
            events_by_company.setdefault(company_id, []).append(
                {
                    "type": "product_view",
                    "external_id": f"view:{partner_id}:{product_id}:{day.isoformat()}",
                    "occurred_at": last_view.isoformat(),
                    "product": product[: core_events.MAX_TEXT],
                    "customer": {"partner_id": partner_id},
                    "data": {"views": views},
                }
            )
        created = 0
        SaleOrder = self.env["sale.order"]
        for company_id, events in events_by_company.items():
            company = self.env["res.company"].browse(company_id)
            for start in range(0, len(events), INGEST_CHUNK):
                answers = SaleOrder._sms_marketing_ingest(
                    {company: events[start : start + INGEST_CHUNK]}, source="website"
                )
                created += sum(result["status"] == "created" for result in answers[company])
        return created
