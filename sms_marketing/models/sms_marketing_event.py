import logging
import re
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize, float_round

from ..core import events as core_events
from ..core import phone as core_phone
from .sms_marketing_dispatcher import _array_literal, _int_array

_logger = logging.getLogger(__name__)

EVENT_TYPES = [
    ("signup", "Signup"),
    ("order", "Order"),
    ("order_paid", "Order Paid"),
    ("refund", "Refund"),
    ("cart", "Cart"),
    ("cart_abandoned", "Abandoned Cart"),
    ("product_view", "Product View"),
    ("custom", "Custom"),
]

EVENT_SOURCES = [
    ("odoo_sale", "Odoo Sales"),
    ("website", "Website"),
    ("api", "API"),
    ("import", "Import"),
    ("shopify", "Shopify"),
    ("woocommerce", "WooCommerce"),
]

ATTRIBUTIONS = [
    ("last_click", "Last Click"),
    ("last_view", "Last Delivered (View-through)"),
]

#: Ledger source of a consent carried by an event, per event source.
CONSENT_SOURCE = {
    "odoo_sale": "order",
    "website": "form",
    "api": "api",
    "import": "import",
    "shopify": "order",
    "woocommerce": "order",
}

#: A number as E.164 writes it; from this many in a batch, the known ones skip parsing.
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
KNOWN_NUMBERS_MIN = 20

#: Event types carrying a cart (its recovery link is the contact's open cart).
CART_TYPES = ("cart", "cart_abandoned")

#: Columns written by ``_ingest`` (one ``unnest`` array each).
INSERT_COLUMNS = {
    "company_id": "int",
    "partner_id": "int",
    "type": "varchar",
    "name": "varchar",
    "occurred_at": "timestamp",
    "amount": "numeric",
    "currency_id": "int",
    "amount_company": "numeric",
    "revenue": "numeric",
    "source": "varchar",
    "external_id": "varchar",
    "refers_to": "varchar",
    "product_ref": "varchar",
    "recovery_url": "varchar",
    "utm_campaign": "varchar",
    "payload": "jsonb",
}


class SmsMarketingEvent(models.Model):
    """What a customer did: signed up, ordered, paid, was refunded, left a cart, viewed a
    product, or a custom event named by the integrator.

    Events come from the integrator API, the shop webhooks and Odoo's own sales, always
    through :meth:`_ingest`, which guarantees:

    * idempotency: ``(company, source, external_id)`` is unique, so an event sent twice,
      or twice at once by two workers, is one row and gets the same answer;
    * partners matched by the shop's customer id, then E.164 number, then email; an
      unknown customer becomes a contact without consent (an order is not consent), unless
      the event carries an explicit consent with its evidence, written to the ledger;
    * attribution in set-based SQL: an order is credited to the last SMS the partner
      clicked within the company's click window, else to the last one delivered within its
      view window; a refund takes back the revenue of the order it refers to, whichever
      arrives first. The trace carries ``converted_at`` and the net ``revenue``.

    Events are append-only for users (no edit, no deletion); the payload retention of the
    company empties old payloads (order lines), never amounts.
    """

    _name = "sms.marketing.event"
    _description = "Customer Event"
    _order = "occurred_at desc, id desc"
    _rec_name = "type"
    # written by the thousand per request by _ingest; who sent them is the API user, kept
    # in create_uid; nothing is ever written again by users
    _log_access = False

    # no index of their own: the unique (company, source, external id) and the
    # (partner, type, occurred at) indexes below lead with them (each index is one more
    # write per event)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True, ondelete="cascade")
    type = fields.Selection(EVENT_TYPES, required=True, readonly=True)
    name = fields.Char(string="Custom Name", readonly=True)
    occurred_at = fields.Datetime(required=True, readonly=True)
    create_date = fields.Datetime(string="Received On", readonly=True)
    create_uid = fields.Many2one("res.users", string="Received From", readonly=True)
    amount = fields.Monetary(currency_field="currency_id", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    amount_company = fields.Monetary(
        string="Amount (Company Currency)",
        currency_field="company_currency_id",
        readonly=True,
        help="The amount converted at the rate of its date, for reports.",
    )
    revenue = fields.Monetary(
        currency_field="company_currency_id",
        readonly=True,
        help="What the event adds to revenue in company currency: the amount of an order, "
        "minus the amount of a refund, nothing for other events.",
    )
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company Currency"
    )
    source = fields.Selection(EVENT_SOURCES, required=True, readonly=True)
    external_id = fields.Char(
        string="External ID", required=True, readonly=True, help="The sender's id of the event."
    )
    refers_to = fields.Char(
        readonly=True, help="External ID of the order a refund or payment refers to."
    )
    refers_event_id = fields.Many2one(
        "sms.marketing.event", string="Order", readonly=True, index="btree_not_null"
    )
    product_ref = fields.Char(string="Product", readonly=True)
    recovery_url = fields.Char(string="Cart Recovery Link", readonly=True)
    utm_campaign = fields.Char(string="UTM Campaign", readonly=True)
    payload = fields.Json(readonly=True)
    trace_id = fields.Many2one(
        "sms.marketing.trace",
        string="Attributed SMS",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    campaign_id = fields.Many2one(related="trace_id.campaign_id", string="Attributed Campaign")
    attribution = fields.Selection(ATTRIBUTIONS, readonly=True)

    _sql_constraints = [
        (
            "external_id_unique",
            "UNIQUE(company_id, source, external_id)",
            "An event with this external ID was already received from this source.",
        ),
    ]

    def init(self):
        # refunds find their order, orders the refunds that came first
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_event_refers_idx
                ON sms_marketing_event (company_id, source, refers_to)
             WHERE refers_to IS NOT NULL;
            CREATE INDEX IF NOT EXISTS sms_marketing_event_partner_type_idx
                ON sms_marketing_event (partner_id, type, occurred_at);
            CREATE INDEX IF NOT EXISTS sms_marketing_event_unlinked_idx
                ON sms_marketing_event (id)
             WHERE refers_to IS NOT NULL AND refers_event_id IS NULL;
            DROP INDEX IF EXISTS sms_marketing_event__company_id_index;
            DROP INDEX IF EXISTS sms_marketing_event__partner_id_index;
            """
        )

    # ------------------------------------------------------------------------------------
    # Append-only
    # ------------------------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):  # pylint: disable=method-required-super
        self.check_access("create")
        raise UserError(
            self.env._(
                "Customer events are received from the integrator API, the shop webhooks "
                "and Odoo's sales; they cannot be created by hand."
            )
        )

    def write(self, vals):
        if not vals:
            return super().write(vals)
        self.check_access("write")
        raise UserError(self.env._("Customer events cannot be changed."))

    @api.ondelete(at_uninstall=False)
    def _unlink_except_events(self):
        if not self.env.su:
            raise UserError(self.env._("Customer events cannot be deleted."))

    # ------------------------------------------------------------------------------------
    # Ingestion
    # ------------------------------------------------------------------------------------

    def _error_message(self, code, field):
        """The translated message of a core ``EventError`` code."""
        messages = {
            "invalid_type": self.env._("%s has the wrong type.", field),
            "missing_field": self.env._("%s is required.", field),
            "too_long": self.env._("%s is too long.", field),
            "invalid_text": self.env._("%s contains characters that cannot be stored.", field),
            "invalid_event_type": self.env._(
                "Unknown event type; use one of: %s.", ", ".join(core_events.EVENT_TYPES)
            ),
            "invalid_date": self.env._("%s is not an ISO 8601 date.", field),
            "date_out_of_range": self.env._(
                "%s is in the future or more than ten years ago.", field
            ),
            "invalid_amount": self.env._("%s must be a positive number.", field),
            "invalid_currency": self.env._("%s must be an ISO 4217 code such as CNY.", field),
            "unknown_currency": self.env._("Unknown currency %s.", field),
            "invalid_name": self.env._(
                "A custom event name uses letters, digits and _ . : - only."
            ),
            "invalid_reference": self.env._("A refund cannot refer to itself."),
            "invalid_url": self.env._("%s must be an http(s) link.", field),
            "missing_customer": self.env._(
                "The customer needs an external_id, a phone number or an email."
            ),
            "invalid_email": self.env._("%s is not an email address.", field),
            "invalid_country": self.env._("%s must be an ISO country code such as CN.", field),
            "invalid_lang": self.env._("%s must be a language code such as zh_CN.", field),
            "invalid_consent": self.env._("The consent action must be opt_in, opt_out or request."),
            "consent_evidence_required": self.env._(
                "An opt-in needs its evidence (the consent text shown, the form, the IP...)."
            ),
            "too_many_lines": self.env._(
                "An event has at most %s order lines.", core_events.MAX_LINES
            ),
            "payload_too_large": self.env._(
                "The event's lines and data exceed %s KB.", core_events.MAX_PAYLOAD_BYTES // 1024
            ),
            "invalid_phone": self.env._("%s is not a valid phone number.", field),
            "unknown_order": self.env._(
                "Give the customer, or send the order this event refers to first."
            ),
        }
        return messages.get(code) or self.env._("Invalid event (%s).", code)

    @api.model
    def _ingest(self, raw_events, source, company=None, now=None, trusted=False):
        """Record customer events, idempotently, and attribute their revenue.

        :param list raw_events: event dicts as documented in ``core/events.py`` (the API
            format); anything else is answered as rejected
        :param str source: a key of ``EVENT_SOURCES``; with the company, the namespace of
            the events' external ids
        :param company: ``res.company`` the events belong to (default: the environment's)
        :param bool trusted: read ``customer.partner_id`` (Odoo's own sales, which know
            the contact; never the API)
        :return: one dict per input event, in order: ``{"index", "status"}`` with status
            ``created`` or ``duplicate`` (and ``id``, the event's id) or ``rejected`` (and
            ``code``, ``field``, ``message``). A duplicate answers the id of the first one.
        """
        self.check_access("create")
        company = company or self.env.company
        now = now or fields.Datetime.now()
        results = [None] * len(raw_events)
        parsed = {}  # index -> ParsedEvent
        for index, raw in enumerate(raw_events):
            try:
                parsed[index] = core_events.parse_event(raw, now=now, allow_partner_id=trusted)
            except core_events.EventError as exc:
                results[index] = self._rejected(index, exc.code, exc.field)
        # unknown currencies
        codes = {event.currency for event in parsed.values() if event.currency}
        currencies = {}
        settings = company._sms_marketing_event_settings(company.id)
        if codes == {settings.currency_name}:  # a shop selling in the company's currency
            currencies[settings.currency_name] = self.env["res.currency"].browse(
                settings.currency_id
            )
        elif codes:
            for currency in (
                self.env["res.currency"]
                .with_context(active_test=False)
                .sudo()
                .search([("name", "in", list(codes))])
            ):
                currencies[currency.name] = currency
        for index, event in list(parsed.items()):
            if event.currency and event.currency not in currencies:
                results[index] = self._rejected(index, "unknown_currency", event.currency)
                del parsed[index]
        # the same external id twice in one request: the first counts, the others answer
        # like it (duplicates)
        first_of = {}
        repeats = {}
        for index in sorted(parsed):
            key = parsed[index].external_id
            if key in first_of:
                repeats[index] = first_of[key]
                del parsed[index]
            else:
                first_of[key] = index
        # already received (a retry): answered without touching anything
        existing, awaited = self._lookup(
            company,
            source,
            [event.external_id for event in parsed.values()],
            [event.external_id for event in parsed.values() if event.type == "order"],
        )
        for index, event in list(parsed.items()):
            if event.external_id in existing:
                results[index] = {
                    "index": index,
                    "status": "duplicate",
                    "id": existing[event.external_id],
                }
                del parsed[index]
        if parsed:
            partners = self._match_partners(company, source, parsed, results)
            for index in list(parsed):
                if results[index]:  # rejected while matching (invalid phone...)
                    del parsed[index]
            created = self._insert(company, source, parsed, partners, currencies, now)
            for index, event in parsed.items():
                event_id, is_new, _trace_id = created[event.external_id]
                results[index] = {
                    "index": index,
                    "status": "created" if is_new else "duplicate",
                    "id": event_id,
                }
            self._after_insert(
                [
                    (event, partners[index], created[event.external_id])
                    for index, event in parsed.items()
                    if created[event.external_id][1]
                ],
                awaited,
            )
        for index, first in repeats.items():
            result = dict(results[first])
            if result["status"] == "created":
                result["status"] = "duplicate"
            result["index"] = index
            results[index] = result
        return results

    def _rejected(self, index, code, field):
        return {
            "index": index,
            "status": "rejected",
            "code": code,
            "field": field,
            "message": self._error_message(code, field),
        }

    def _lookup(self, company, source, external_ids, orders=()):
        """What is already known of these external ids, in one statement: ``({external id:
        id} of the events already received, {those of ``orders`` that refunds or payments
        received earlier are waiting for})``."""
        if not external_ids:
            return {}, set()
        self.env.cr.execute(
            SQL(
                """
                SELECT external_id, id FROM sms_marketing_event
                 WHERE company_id = %(company)s AND source = %(source)s
                   AND external_id = ANY(%(ids)s::varchar[])
                 UNION ALL
                SELECT DISTINCT refers_to, NULL::int FROM sms_marketing_event
                 WHERE company_id = %(company)s AND source = %(source)s
                   AND refers_to = ANY(%(orders)s::varchar[]) AND refers_event_id IS NULL
                """,
                company=company.id,
                source=source,
                ids=_array_literal(list(external_ids)),
                orders=_array_literal(list(orders)),
            )
        )
        existing, awaited = {}, set()
        for external_id, event_id in self.env.cr.fetchall():
            if event_id is None:
                awaited.add(external_id)
            else:
                existing[external_id] = event_id
        return existing, awaited

    def _match_partners(self, company, source, parsed, results):
        """Partner id per event index: by the sender's customer id, then E.164 number, then
        email, among the company's contacts and shared ones; unknown customers are created
        (without consent). Consent carried by events goes to the ledger. Invalid phone
        numbers reject their event (set in ``results``)."""
        default_region = company._sms_marketing_event_settings(company.id).country_code
        phones, emails, refs = {}, {}, {}
        found = {}
        orphans = {}  # refunds and payments without a customer: their order's
        known = self._known_numbers(parsed)
        for index, event in parsed.items():
            customer = event.customer
            if customer.partner_id:
                found[index] = customer.partner_id
                continue
            if customer.is_empty:
                orphans[index] = event.refers_to
                continue
            if customer.phone in known:
                phones[index] = customer.phone
            elif customer.phone:
                info = core_phone.normalize(customer.phone, customer.country or default_region)
                if not info or not info.e164:
                    results[index] = self._rejected(index, "invalid_phone", "customer.phone")
                    continue
                phones[index] = info.e164
            if customer.email:
                emails[index] = email_normalize(customer.email) or customer.email
            if customer.external_id:
                refs[index] = customer.external_id
        Partner = self.env["res.partner"].sudo()
        if orphans:
            self.env.cr.execute(
                SQL(
                    "SELECT external_id, partner_id FROM sms_marketing_event"
                    " WHERE company_id = %s AND source = %s AND type = 'order'"
                    " AND external_id = ANY(%s)",
                    company.id,
                    source,
                    list(set(orphans.values())),
                )
            )
            order_partners = dict(self.env.cr.fetchall())
            for index, order_ref in list(orphans.items()):
                if order_partners.get(order_ref):
                    found[index] = order_partners[order_ref]
                    del orphans[index]
        found.update(self._find_partners(company, source, refs, phones, emails))
        # one customer id, one contact, also inside a batch (the first match wins)
        by_ref = {}
        for index in sorted(refs):
            if index in found:
                by_ref.setdefault(refs[index], found[index])
        for index, ref in refs.items():
            if ref in by_ref:
                found[index] = by_ref[ref]
        missing = [
            index
            for index in parsed
            if index not in found and not results[index] and index not in orphans
        ]
        if missing:
            # Two requests creating the same new customer at once: serialise on its
            # identity (transaction-scoped locks, taken in a fixed order so two batches
            # never wait on each other crosswise), then look again.
            identities = sorted(
                {self._identity(company, source, refs, phones, emails, i) for i in missing}
            )
            self.env.cr.execute(
                SQL(
                    "SELECT bool_and(pg_try_advisory_xact_lock(hashtextextended(key, 0)))"
                    " FROM (SELECT key FROM unnest(%s::text[]) AS key ORDER BY key) k",
                    identities,
                )
            )
            if not self.env.cr.fetchone()[0]:
                # Another transaction is creating one of these customers. Odoo's requests
                # read a snapshot (REPEATABLE READ): once it commits, its contact is still
                # invisible here. Wait for it, then fail with a serialisation error, which
                # Odoo's request and cron runners retry with a fresh snapshot that sees it.
                self.env.cr.execute(
                    SQL(
                        "SELECT pg_advisory_xact_lock(hashtextextended(key, 0))"
                        " FROM unnest(%s::text[]) AS key ORDER BY key",
                        identities,
                    )
                )
                self.env.cr.execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'concurrent creation of the same customer'"
                    " USING ERRCODE = 'serialization_failure'; END $$"
                )
            found.update(
                self._find_partners(
                    company,
                    source,
                    {i: refs[i] for i in missing if i in refs},
                    {i: phones[i] for i in missing if i in phones},
                    {i: emails[i] for i in missing if i in emails},
                )
            )
            missing = [index for index in missing if index not in found]
        if missing:
            # one contact per identity, even when the batch names it several times
            indexes_by_identity = defaultdict(list)
            for index in missing:
                identity = self._identity(company, source, refs, phones, emails, index)
                indexes_by_identity[identity].append(index)
            new_partners = Partner.with_context(tracking_disable=True).create(
                [
                    self._partner_values(company, parsed[indexes[0]].customer)
                    for indexes in indexes_by_identity.values()
                ]
            )
            for partner, indexes in zip(new_partners, indexes_by_identity.values(), strict=True):
                for index in indexes:
                    found[index] = partner.id
        # refunds and payments of orders in the same batch; the rest is unknown
        batch_orders = {
            event.external_id: index for index, event in parsed.items() if event.type == "order"
        }
        for index, order_ref in orphans.items():
            if batch_orders.get(order_ref) in found:
                found[index] = found[batch_orders[order_ref]]
            else:
                results[index] = self._rejected(index, "unknown_order", "refers_to")
        # remember the sender's customer ids (the next event with it matches at once)
        ref_rows = [(refs[i], found[i]) for i in refs if i in found]
        if ref_rows:
            self.env.cr.execute(
                SQL(
                    """
                    INSERT INTO sms_marketing_customer_ref (company_id, source, external_id,
                                                            partner_id)
                    SELECT %s, %s, ref, partner FROM unnest(%s::varchar[], %s::int[])
                        AS r(ref, partner)
                    ON CONFLICT (company_id, source, external_id) DO NOTHING
                    """,
                    company.id,
                    source,
                    [ref for ref, _partner in ref_rows],
                    [partner for _ref, partner in ref_rows],
                )
            )
        consents = [
            {
                "partner": Partner.browse(found[index]),
                "action": parsed[index].customer.consent.action,
                "source": CONSENT_SOURCE[source],
                "evidence": self.env._(
                    "%(evidence)s (event %(external_id)s from %(origin)s)",
                    evidence=parsed[index].customer.consent.evidence,
                    external_id=parsed[index].external_id,
                    origin=dict(EVENT_SOURCES)[source],
                ),
                "consent_date": parsed[index].customer.consent.at or parsed[index].occurred_at,
            }
            for index in parsed
            if index in found and parsed[index].customer.consent
        ]
        if consents:
            consents.sort(key=lambda entry: entry["consent_date"])
            Partner._sms_consent_apply(consents, log_blacklist=False)
        return found

    def _known_numbers(self, parsed):
        """The customers' numbers written in E.164 that a contact already has, in a batch
        of at least ``KNOWN_NUMBERS_MIN`` of them: a contact's E.164 is the normalised form
        of a valid number, so such a number needs no parsing (tens of microseconds each,
        a third of the request's own work for a batch of known customers)."""
        numbers = {
            event.customer.phone
            for event in parsed.values()
            if event.customer.phone and _E164_RE.fullmatch(event.customer.phone)
        }
        if len(numbers) < KNOWN_NUMBERS_MIN:
            return frozenset()
        self.env["res.partner"].flush_model(["sms_e164"])
        self.env.cr.execute(
            SQL(
                "SELECT DISTINCT sms_e164 FROM res_partner WHERE sms_e164 = ANY(%s::varchar[])",
                _array_literal(sorted(numbers)),
            )
        )
        return frozenset(row[0] for row in self.env.cr.fetchall())

    @staticmethod
    def _identity(company, source, refs, phones, emails, index):
        if index in refs:
            return f"sms_marketing_customer:{company.id}:{source}:ref:{refs[index]}"
        if index in phones:
            return f"sms_marketing_customer:{company.id}:e164:{phones[index]}"
        return f"sms_marketing_customer:{company.id}:email:{emails[index]}"

    def _find_partners(self, company, source, refs, phones, emails):
        found = {}
        cr = self.env.cr
        self.env["res.partner"].flush_model(
            ["sms_e164", "email_normalized", "active", "company_id"]
        )
        if refs:
            cr.execute(
                SQL(
                    """
                    SELECT r.external_id, r.partner_id FROM sms_marketing_customer_ref r
                      JOIN res_partner p ON p.id = r.partner_id AND p.active
                     WHERE r.company_id = %s AND r.source = %s AND r.external_id = ANY(%s)
                    """,
                    company.id,
                    source,
                    list(set(refs.values())),
                )
            )
            by_ref = dict(cr.fetchall())
            found.update({i: by_ref[ref] for i, ref in refs.items() if ref in by_ref})
        for column, keys in (("sms_e164", phones), ("email_normalized", emails)):
            wanted = {i: key for i, key in keys.items() if i not in found}
            if not wanted:
                continue
            # the oldest active contact with the number (or email), the company's or shared
            cr.execute(
                SQL(
                    """
                    SELECT DISTINCT ON (%(column)s) %(column)s, id FROM res_partner
                     WHERE %(column)s = ANY(%(keys)s) AND active
                       AND (company_id IS NULL OR company_id = %(company)s)
                  ORDER BY %(column)s, id
                    """,
                    column=SQL.identifier(column),
                    keys=list(set(wanted.values())),
                    company=company.id,
                )
            )
            by_key = dict(cr.fetchall())
            found.update({i: by_key[key] for i, key in wanted.items() if key in by_key})
        return found

    def _partner_values(self, company, customer):
        country = (
            self.env["res.country"].search([("code", "=", customer.country)], limit=1)
            if customer.country
            else self.env["res.country"]
        )
        lang = (
            customer.lang if customer.lang in dict(self.env["res.lang"].get_installed()) else False
        )
        return {
            "name": customer.name or customer.email or customer.phone or customer.external_id,
            "mobile": customer.phone or False,
            "email": customer.email or False,
            "country_id": country.id or False,
            "lang": lang,
            "company_id": company.id,
        }

    def _insert(self, company, source, parsed, partners, currencies, now):
        """Insert the events in one statement, orders with the SMS they are credited to
        (:meth:`_attribution_sql`); ``{external_id: (id, created, trace id)}``. Rows are
        inserted in external-id order so two workers inserting overlapping batches wait
        on each other in the same order (never a deadlock) and one of them wins each row."""
        columns = {name: [] for name in INSERT_COLUMNS}
        rates = {}
        settings = company._sms_marketing_event_settings(company.id)
        company_currency = self.env["res.currency"].browse(settings.currency_id)
        for index in sorted(parsed, key=lambda i: parsed[i].external_id):
            event = parsed[index]
            currency = currencies.get(event.currency)
            amount_company = None
            if event.amount is not None:
                key = (currency, event.occurred_at.date())
                if key not in rates:
                    rates[key] = currency._convert(
                        1.0, company_currency, company, key[1], round=False
                    )
                amount_company = float_round(
                    event.amount * rates[key], precision_rounding=settings.rounding
                )
            revenue = 0.0
            if event.type == "order":
                revenue = amount_company or 0.0
            elif event.type == "refund" and amount_company is not None:
                revenue = -amount_company
            values = {
                "company_id": company.id,
                "partner_id": partners[index],
                "type": event.type,
                "name": event.name,
                "occurred_at": event.occurred_at,
                "amount": event.amount,
                "currency_id": currency.id if currency else None,
                "amount_company": amount_company,
                "revenue": revenue,
                "source": source,
                "external_id": event.external_id,
                "refers_to": event.refers_to,
                "product_ref": event.product,
                "recovery_url": event.recovery_url,
                "utm_campaign": event.utm_campaign,
                "payload": event.payload_json,
            }
            for name, value in values.items():
                columns[name].append(value)
        names = list(INSERT_COLUMNS)
        self.env["sms.marketing.trace"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_event (%(names)s, trace_id, attribution,
                                                 create_uid, create_date)
                SELECT e.*, a.trace_id, a.rule, %(uid)s, %(now)s
                  FROM unnest(%(arrays)s) AS e(%(names)s)
                  %(attribution)s
                ON CONFLICT (company_id, source, external_id) DO NOTHING
                RETURNING external_id, id, trace_id
                """,
                names=SQL(", ").join(SQL.identifier(name) for name in names),
                arrays=SQL(", ").join(
                    SQL("%s::%s[]", _array_literal(columns[name]), SQL(INSERT_COLUMNS[name]))
                    for name in names
                ),
                attribution=self._attribution_sql(company),
                uid=self.env.uid,
                now=now,
            )
        )
        created = {
            external_id: (event_id, True, trace_id)
            for external_id, event_id, trace_id in self.env.cr.fetchall()
        }
        lost = [key for key in columns["external_id"] if key not in created]
        if lost:
            # inserted by a concurrent request since we looked: the same event, answered
            # as a duplicate
            for external_id, event_id in self._lookup(company, source, lost)[0].items():
                created[external_id] = (event_id, False, None)
        return created

    # ------------------------------------------------------------------------------------
    # Attribution
    # ------------------------------------------------------------------------------------

    @api.model
    def _attribution_trace_filter(self, alias):
        """SQL condition on the traces an order can be credited to (``alias`` is the trace
        table's alias): messages of campaigns, test sends left out. A flow's messages
        count too: each of its steps sends through a campaign of its own."""
        return SQL(
            "%(t)s.campaign_id IS NOT NULL AND NOT COALESCE(%(t)s.is_test, false)",
            t=SQL.identifier(alias),
        )

    @api.model
    def _attribution_sql(self, company):
        """The ``LEFT JOIN LATERAL`` giving each row ``e`` of the insert (the columns of
        ``INSERT_COLUMNS``) of ``company`` its ``a.trace_id`` and ``a.rule``: an order is
        credited to the last SMS its partner clicked within the company's click window
        before the order, else to the last one delivered within the view window (none when
        turned off); other companies' SMS and SMS after the order never count. Other
        events get nothing. Computed as the row is inserted: an order is written once,
        never updated afterwards for its attribution."""
        settings = company._sms_marketing_event_settings(company.id)
        click_days, view_days = settings.click_days, settings.view_days
        return SQL(
            """
            LEFT JOIN LATERAL (
                SELECT t.id FROM sms_marketing_trace t
                 WHERE e.type = 'order' AND t.partner_id = e.partner_id
                   AND t.company_id = %(company)s AND t.clicked_at IS NOT NULL
                   AND COALESCE(t.last_clicked_at, t.clicked_at) <= e.occurred_at
                   AND COALESCE(t.last_clicked_at, t.clicked_at)
                       > e.occurred_at - make_interval(days => %(click_days)s)
                   AND %(click_filter)s
              ORDER BY COALESCE(t.last_clicked_at, t.clicked_at) DESC, t.id DESC
                 LIMIT 1
            ) c ON true
            LEFT JOIN LATERAL (
                SELECT t.id FROM sms_marketing_trace t
                 WHERE e.type = 'order' AND c.id IS NULL AND %(view_days)s > 0
                   AND t.partner_id = e.partner_id AND t.company_id = %(company)s
                   AND t.state = 'delivered' AND t.sent_at <= e.occurred_at
                   AND t.sent_at > e.occurred_at - make_interval(days => %(view_days)s)
                   AND t.message_class = 'marketing'
                   AND %(view_filter)s
              ORDER BY t.sent_at DESC, t.id DESC
                 LIMIT 1
            ) v ON true
            CROSS JOIN LATERAL (
                SELECT COALESCE(c.id, v.id) AS trace_id,
                       CASE WHEN c.id IS NOT NULL THEN 'last_click'
                            WHEN v.id IS NOT NULL THEN 'last_view' END AS rule
            ) a
            """,
            company=company.id,
            click_days=click_days,
            view_days=view_days,
            click_filter=self._attribution_trace_filter("t"),
            view_filter=self._attribution_trace_filter("t"),
        )

    @api.model
    def _after_insert(self, new_events, awaited=frozenset()):
        """What follows the insert of ``new_events`` (``(ParsedEvent, partner id, (id,
        created, trace id))`` of the events created now), in a few statements whatever
        their number, each skipped when the batch has nothing for it:

        1. refunds and payments find the order they refer to, and the orders of
           ``awaited`` (external ids) the refunds and payments received before them (a
           refund without an amount takes back the whole order, and takes its order's
           SMS);
        2. the contacts' open cart link, last order and last product view;
        3. the flows these events end (goals), wake (branches waiting for an order) or
           start;
        4. last, the SMS credited get their net revenue and first conversion date again
           from their events (a sum, not an increment: retries and late events cannot
           count twice); last so that the lock it takes on them is held the shortest.
        """
        if not new_events:
            return
        types, orders, views = set(), {}, {}
        referring, order_ids, cart_ids = [], [], []
        trace_ids = set()
        for event, partner_id, (event_id, _created, trace_id) in new_events:
            types.add(event.type)
            if trace_id:
                trace_ids.add(trace_id)
            if event.refers_to:
                referring.append(event_id)
            if event.type == "order":
                if event.external_id in awaited:
                    order_ids.append(event_id)
                if partner_id:
                    orders[partner_id] = max(
                        orders.get(partner_id, event.occurred_at), event.occurred_at
                    )
            elif event.type == "product_view" and partner_id:
                views[partner_id] = max(views.get(partner_id, event.occurred_at), event.occurred_at)
            elif event.type in CART_TYPES and event.recovery_url and partner_id:
                cart_ids.append(event_id)
        trace_ids |= self._link_references(referring, order_ids)
        self._track_carts(cart_ids, orders)
        self.env["sms.marketing.partner.activity"]._record(last_order_at=orders, last_view_at=views)
        self.env["sms.marketing.automation"]._on_events(
            [ids[0] for _event, _partner, ids in new_events], types, list(orders)
        )
        self._credit_traces(trace_ids)

    @api.model
    def _link_references(self, referring_ids, order_ids):
        """Refunds and payments ``referring_ids`` find the order they refer to, and the
        new orders ``order_ids`` the refunds and payments that came before them, in one
        statement (a union of two index lookups, where one condition with an OR would
        scan every event). A refund takes its order's amount when it has none, and its
        order's SMS. Returns the SMS whose revenue changed."""
        pair = """
            SELECT r.id AS referring_id, o.id AS order_id
              FROM sms_marketing_event r
              JOIN sms_marketing_event o
                ON o.company_id = r.company_id AND o.source = r.source
               AND o.external_id = r.refers_to AND o.type = 'order'
             WHERE r.refers_to IS NOT NULL AND r.refers_event_id IS NULL
               AND %s.id = ANY(%s::int[])
        """
        pairs = [
            SQL(pair, SQL.identifier(side), _int_array(ids))
            for side, ids in (("r", referring_ids), ("o", order_ids))
            if ids
        ]
        if not pairs:
            return set()
        self.env.cr.execute(
            SQL(
                """
                UPDATE sms_marketing_event r
                   SET refers_event_id = o.id,
                       amount_company = COALESCE(r.amount_company, o.amount_company),
                       amount = COALESCE(r.amount, o.amount),
                       currency_id = COALESCE(r.currency_id, o.currency_id),
                       revenue = CASE WHEN r.type = 'refund'
                                      THEN -COALESCE(r.amount_company, o.amount_company, 0)
                                      ELSE 0 END,
                       trace_id = CASE WHEN r.type = 'refund' THEN o.trace_id END,
                       attribution = CASE WHEN r.type = 'refund' THEN o.attribution END
                  FROM (%(pairs)s) pair
                  JOIN sms_marketing_event o ON o.id = pair.order_id
                 WHERE r.id = pair.referring_id
             RETURNING r.trace_id
                """,
                pairs=SQL(" UNION ").join(pairs),
            )
        )
        linked = self.env.cr.fetchall()
        if linked:
            self.invalidate_model()
        return {trace_id for (trace_id,) in linked if trace_id}

    @api.model
    def _credit_traces(self, trace_ids):
        """The SMS ``trace_ids`` get their net revenue and first conversion date again
        from their events. They are locked in id order first, FOR NO KEY UPDATE as the
        UPDATE itself takes: two requests crediting the same SMS wait for each other
        instead of deadlocking, and the second sums after the first committed (FOR UPDATE
        would also wait for the key-share locks the events' foreign keys hold on them,
        taken in no order)."""
        if not trace_ids:
            return
        self.env["sms.marketing.trace"].flush_model(["revenue", "converted_at"])
        self.env.cr.execute(
            SQL(
                """
                WITH locked AS (
                    SELECT id FROM sms_marketing_trace WHERE id = ANY(%(ids)s::int[])
                     ORDER BY id FOR NO KEY UPDATE
                )
                UPDATE sms_marketing_trace t
                   SET revenue = s.revenue, converted_at = s.converted_at
                  FROM (SELECT trace_id, COALESCE(sum(revenue), 0) AS revenue,
                               min(occurred_at) FILTER (WHERE type = 'order') AS converted_at
                          FROM sms_marketing_event
                         WHERE trace_id = ANY(%(ids)s::int[])
                      GROUP BY trace_id) s
                 WHERE t.id = s.trace_id AND t.id IN (SELECT id FROM locked)
                """,
                ids=_int_array(sorted(trace_ids)),
            )
        )
        self.env["sms.marketing.trace"].invalidate_model(["revenue", "converted_at"])

    # ------------------------------------------------------------------------------------
    # Retention
    # ------------------------------------------------------------------------------------

    @api.model
    def _track_carts(self, cart_ids, orders):
        """Keep each contact's open cart link (``{{ cart_url }}``): the newest of the cart
        events ``cart_ids`` (with a recovery link), unless an order came at or after it; the
        new orders (``orders``: ``{partner id: latest order}``) close older carts. Late
        events keep the order of ``occurred_at``, not of arrival. One statement; only the
        contacts whose cart changes are locked (in id order, as every writer: two
        requests never deadlock), so a batch of orders from contacts without an open cart
        writes nothing."""
        if not cart_ids and not orders:
            return
        partners = sorted(orders)
        self.env["res.partner"].flush_model(["sms_cart_url", "sms_cart_at"])
        if not cart_ids:
            # orders only (the usual batch): close the carts they came after
            self.env.cr.execute(
                SQL(
                    """
                    WITH locked AS (
                        SELECT p.id FROM res_partner p
                          JOIN unnest(%(partners)s::int[], %(moments)s::timestamp[])
                               AS o(partner_id, occurred_at) ON o.partner_id = p.id
                         WHERE p.sms_cart_url IS NOT NULL AND p.sms_cart_at <= o.occurred_at
                      ORDER BY p.id FOR NO KEY UPDATE OF p
                    )
                    UPDATE res_partner p SET sms_cart_url = NULL
                      FROM locked WHERE p.id = locked.id
                    """,
                    partners=_int_array(partners),
                    moments=_array_literal([orders[p] for p in partners]),
                )
            )
            if self.env.cr.rowcount:
                self.env["res.partner"].invalidate_model(["sms_cart_url"])
            return
        self.env.cr.execute(
            SQL(
                """
                WITH carts AS (
                    SELECT DISTINCT ON (e.partner_id) e.partner_id, e.recovery_url,
                           e.occurred_at
                      FROM sms_marketing_event e
                     WHERE e.id = ANY(%(carts)s::int[])
                       AND NOT EXISTS (
                           SELECT 1 FROM sms_marketing_event o
                            WHERE o.partner_id = e.partner_id AND o.type = 'order'
                              AND o.occurred_at >= e.occurred_at)
                     ORDER BY e.partner_id, e.occurred_at DESC, e.id DESC
                ), orders AS (
                    SELECT * FROM unnest(%(partners)s::int[], %(moments)s::timestamp[])
                        AS o(partner_id, occurred_at)
                ), locked AS (
                    SELECT p.id FROM res_partner p
                     WHERE p.id IN (SELECT partner_id FROM carts
                                     UNION
                                    SELECT o.partner_id FROM orders o
                                      JOIN res_partner c ON c.id = o.partner_id
                                     WHERE c.sms_cart_url IS NOT NULL
                                       AND c.sms_cart_at <= o.occurred_at)
                     ORDER BY p.id FOR NO KEY UPDATE
                ), opened AS (
                    UPDATE res_partner p
                       SET sms_cart_url = c.recovery_url, sms_cart_at = c.occurred_at
                      FROM carts c
                     WHERE p.id = c.partner_id AND p.id IN (SELECT id FROM locked)
                       AND (p.sms_cart_at IS NULL OR p.sms_cart_at <= c.occurred_at)
                    RETURNING p.id
                )
                UPDATE res_partner p SET sms_cart_url = NULL
                  FROM orders o
                 WHERE p.id = o.partner_id AND p.id IN (SELECT id FROM locked)
                   AND p.id NOT IN (SELECT id FROM opened)
                   AND p.sms_cart_url IS NOT NULL AND p.sms_cart_at <= o.occurred_at
                """,
                carts=_int_array(cart_ids),
                partners=_int_array(partners),
                moments=_array_literal([orders[p] for p in partners]),
            )
        )
        self.env["res.partner"].invalidate_model(["sms_cart_url", "sms_cart_at"])

    def _cron_link_references(self, limit=10000):
        """Refunds and payments still without their order, whose order is here now: linked,
        and their SMS credited again. Ingestion links them as they come, in both arrival
        orders; this catches a refund and its order received at the same moment by two
        requests, neither of which can see the other's uncommitted event. Only the events
        left unlinked are read (a partial index holds just those)."""
        self.env.cr.execute(
            SQL(
                """
                SELECT r.id FROM sms_marketing_event r
                 WHERE r.refers_to IS NOT NULL AND r.refers_event_id IS NULL
                   AND EXISTS (SELECT 1 FROM sms_marketing_event o
                                WHERE o.company_id = r.company_id AND o.source = r.source
                                  AND o.external_id = r.refers_to AND o.type = 'order')
              ORDER BY r.id
                 LIMIT %s
                """,
                limit,
            )
        )
        referring_ids = [row[0] for row in self.env.cr.fetchall()]
        if referring_ids:
            self._credit_traces(self._link_references(referring_ids, []))
        _logger.info("SMS events: %s late references linked", len(referring_ids))
        return len(referring_ids)

    def _cron_purge_payloads(self):
        """Empty the payloads (order lines, data) of events older than their company's
        retention; amounts, dates and attribution stay for reports."""
        self.env["res.company"].flush_model(["sms_event_payload_days"])
        self.env.cr.execute(
            """
            UPDATE sms_marketing_event e SET payload = NULL
              FROM res_company c
             WHERE c.id = e.company_id AND c.sms_event_payload_days > 0
               AND e.payload IS NOT NULL
               AND e.occurred_at < now() at time zone 'utc'
                                   - make_interval(days => c.sms_event_payload_days)
            """
        )
        _logger.info("SMS events: %s payloads purged", self.env.cr.rowcount)
        self.invalidate_model(["payload"])


class SmsMarketingCustomerRef(models.Model):
    """The id a shop or integrator gives a customer, mapped to its contact: the first rule
    of event matching. Written by :meth:`sms.marketing.event._ingest` only."""

    _name = "sms.marketing.customer.ref"
    _description = "External Customer ID"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, readonly=True)
    source = fields.Selection(EVENT_SOURCES, required=True, readonly=True)
    external_id = fields.Char(string="External ID", required=True, readonly=True)
    partner_id = fields.Many2one(
        "res.partner", required=True, readonly=True, index=True, ondelete="cascade"
    )

    _sql_constraints = [
        (
            "external_id_unique",
            "UNIQUE(company_id, source, external_id)",
            "This external customer ID is already mapped.",
        ),
    ]


class SmsMarketingEventApi(models.Model):
    """The integrator API's contact and consent operations (``controllers/api.py``), next
    to the event ingestion whose partner matching they share."""

    _inherit = "sms.marketing.event"

    @api.model
    def _api_upsert_contacts(self, raw_contacts, company):
        """Create or update contacts (matched like event customers), add their tags, record
        their consent in the ledger.

        :param list raw_contacts: ``customer`` objects of the event format, plus ``tags``
            (a list of tag names, created when missing)
        :return: one dict per contact: ``{"index", "status": "created" | "updated", "id"}``
            or ``{"index", "status": "rejected", "code", "field", "message"}``
        """
        self.env["res.partner"].check_access("create")
        now = fields.Datetime.now()
        results = [None] * len(raw_contacts)
        parsed, tags = {}, {}
        for index, raw in enumerate(raw_contacts):
            try:
                customer = core_events.parse_customer(raw, now=now)
                if customer.is_empty:
                    raise core_events.EventError("missing_customer", "contact")
                names = raw.get("tags") or []
                if not isinstance(names, list) or not all(
                    isinstance(name, str) and 0 < len(name.strip()) <= 64 for name in names
                ):
                    raise core_events.EventError("invalid_type", "tags")
            except core_events.EventError as exc:
                results[index] = self._rejected(index, exc.code, exc.field)
                continue
            parsed[index] = core_events.ParsedEvent(
                type="signup",
                external_id=f"contact #{index + 1}",
                occurred_at=now,
                customer=customer,
            )
            tags[index] = [name.strip() for name in names]
        before = self.env["res.partner"].sudo().search([], order="id desc", limit=1).id or 0
        found = self._match_partners(company, "api", parsed, results) if parsed else {}
        Partner = self.env["res.partner"]
        Tag = self.env["sms.marketing.tag"]
        all_names = {name for names in tags.values() for name in names}
        tag_by_name = {tag.name: tag for tag in Tag.search([("name", "in", list(all_names))])}
        for name in all_names - tag_by_name.keys():
            tag_by_name[name] = Tag.create({"name": name})
        for index in parsed:
            if results[index]:
                continue
            partner = Partner.browse(found[index])
            customer = parsed[index].customer
            vals = {}
            if customer.phone and not partner.sms_e164 and not partner.mobile:
                vals["mobile"] = customer.phone
            if customer.email and not partner.email:
                vals["email"] = customer.email
            if tags[index]:
                vals["sms_tag_ids"] = [(4, tag_by_name[name].id) for name in tags[index]]
            if vals:
                partner.write(vals)
            results[index] = {
                "index": index,
                "status": "created" if partner.id > before else "updated",
                "id": partner.id,
            }
        return results

    @api.model
    def _api_consent(self, raw, company):
        """Opt a number in or out, or ask it for a double opt-in confirmation.

        :param dict raw: ``{"phone", "action": "opt_in" | "opt_out" | "request",
            "evidence", "at", "name"}``
        :return: ``{"contact_id", "consent_state"}``
        :raises core_events.EventError: on invalid input
        """
        self.env["res.partner"].check_access("create")
        if not isinstance(raw, dict) or not raw.get("phone"):
            raise core_events.EventError("missing_field", "phone")
        customer_raw = {
            "phone": raw.get("phone"),
            "name": raw.get("name"),
            "consent": {
                "action": raw.get("action"),
                "evidence": raw.get("evidence"),
                "at": raw.get("at"),
            }
            if raw.get("action") != "request"
            else None,
        }
        if raw.get("action") not in core_events.CONSENT_ACTIONS:
            raise core_events.EventError("invalid_consent", "action")
        now = fields.Datetime.now()
        try:
            customer = core_events.parse_customer(customer_raw, now=now)
        except core_events.EventError as exc:
            field = exc.field.replace("customer.consent.", "").replace("customer.", "")
            raise core_events.EventError(exc.code, field) from exc
        results = [None]
        found = self._match_partners(
            company,
            "api",
            {
                0: core_events.ParsedEvent(
                    type="signup", external_id="consent", occurred_at=now, customer=customer
                )
            },
            results,
        )
        if results[0]:
            raise core_events.EventError(results[0]["code"], "phone")
        partner = self.env["res.partner"].browse(found[0])
        if raw["action"] == "request":
            partner.action_sms_request_double_optin()
        return {"contact_id": partner.id, "consent_state": partner.sms_consent_state}
