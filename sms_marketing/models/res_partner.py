import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import phone as core_phone
from .sms_marketing_consent import ACTION_TO_STATE, CONSENT_SOURCES

_logger = logging.getLogger(__name__)

CONSENT_STATES = [
    ("unknown", "No Consent"),
    ("pending", "Pending Confirmation"),
    ("opted_in", "Opted In"),
    ("opted_out", "Opted Out"),
]
NUMBER_TYPES = [
    (core_phone.MOBILE, "Mobile"),
    (core_phone.FIXED_OR_MOBILE, "Fixed Line or Mobile"),
    (core_phone.FIXED_LINE, "Fixed Line"),
    (core_phone.VOIP, "VoIP"),
    (core_phone.OTHER, "Other"),
    (core_phone.INVALID, "Invalid"),
]
SMS_CAPABLE_TYPES = sorted(core_phone.SMS_CAPABLE_TYPES)
_CONSENT_FIELDS = frozenset({"sms_consent_state", "sms_consent_date", "sms_consent_source"})


class ResPartner(models.Model):
    """Contacts as SMS recipients: one clean number, consent with its proof, marketing tags.

    * ``sms_e164`` and its type, country and time zone are computed from ``mobile`` then
      ``phone`` by :mod:`..core.phone`, with the partner's country, else the company's default
      country, for numbers written without an international prefix.
    * ``sms_consent_*`` are computed from the consent ledger (the latest line by effective date
      wins), so the state can only change through :meth:`_sms_consent_apply`, which writes the
      ledger and keeps Odoo's phone blacklist in line with opt-outs.
    """

    _inherit = "res.partner"

    sms_e164 = fields.Char(
        string="SMS Number",
        compute="_compute_sms_number",
        store=True,
        index="btree_not_null",
        help="The number SMS are sent to, in international E.164 format, taken from Mobile "
        "then Phone (the first one that can receive SMS).",
    )
    sms_number_type = fields.Selection(
        NUMBER_TYPES, string="Number Type", compute="_compute_sms_number", store=True
    )
    sms_number_country_id = fields.Many2one(
        "res.country", string="Number Country", compute="_compute_sms_number", store=True
    )
    sms_tz = fields.Selection(
        "_tz_get_sms",
        string="SMS Time Zone",
        compute="_compute_sms_number",
        store=True,
        help="Time zone used for quiet hours: the contact's own time zone, else the one of "
        "their number.",
    )
    sms_consent_state = fields.Selection(
        CONSENT_STATES,
        string="SMS Consent",
        compute="_compute_sms_consent",
        store=True,
    )
    sms_consent_date = fields.Datetime(
        string="Consent Date", compute="_compute_sms_consent", store=True
    )
    sms_consent_source = fields.Selection(
        CONSENT_SOURCES, string="Consent Source", compute="_compute_sms_consent", store=True
    )
    sms_consent_ids = fields.One2many(
        "sms.marketing.consent", "partner_id", string="Consent History", readonly=True
    )
    sms_tag_ids = fields.Many2many(
        "sms.marketing.tag",
        "res_partner_sms_marketing_tag_rel",
        "partner_id",
        "tag_id",
        string="Marketing Tags",
    )
    sms_birthday = fields.Date(string="Birthday")
    sms_trace_count = fields.Integer(compute="_compute_sms_counts", string="SMS Sent")
    sms_inbound_count = fields.Integer(compute="_compute_sms_counts", string="SMS Replies")
    sms_event_ids = fields.One2many("sms.marketing.event", "partner_id", string="Customer Events")
    sms_event_count = fields.Integer(compute="_compute_sms_counts", string="Events")
    sms_enrollment_ids = fields.One2many(
        "sms.marketing.automation.enrollment", "partner_id", string="SMS Flows"
    )
    sms_flow_count = fields.Integer(
        compute="_compute_sms_counts", string="Flows", help="SMS flows the contact is in now."
    )
    sms_cart_url = fields.Char(
        string="Open Cart Link",
        readonly=True,
        copy=False,
        help="The recovery link of the contact's last abandoned cart, until an order "
        "follows it. Messages link to it with {{ cart_url }}.",
    )
    sms_cart_at = fields.Datetime(string="Cart Abandoned On", readonly=True, copy=False)
    sms_segment_ids = fields.Many2many(
        "sms.marketing.segment",
        string="In Behaviour Segments",
        compute="_compute_sms_segment_ids",
        search="_search_sms_segment_ids",
        help="Search only: contacts of these segments' behaviour presets.",
    )
    sms_activity_id = fields.Many2one(
        "sms.marketing.partner.activity", string="SMS Activity", compute="_compute_sms_activity"
    )
    sms_rfm_group = fields.Selection(
        "_sms_rfm_groups", string="RFM Group", compute="_compute_sms_activity"
    )
    sms_rfm_score = fields.Char(
        string="RFM Score",
        compute="_compute_sms_activity",
        help="Recency, frequency and monetary quintiles (5 is the best fifth).",
    )
    sms_best_hour = fields.Integer(
        string="Best Hour",
        compute="_compute_sms_activity",
        help="The hour of the day the contact engages best with SMS (its time zone).",
    )
    sms_last_order_at = fields.Datetime(
        string="Last Order",
        compute="_compute_sms_activity",
        help="The contact's latest order event.",
    )
    sms_last_click_at = fields.Datetime(
        string="Last SMS Click",
        compute="_compute_sms_activity",
        help="The contact's latest human click on an SMS link.",
    )

    def init(self):
        # customer events match their contact by email when number and customer id fail
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS res_partner_sms_email_normalized_idx"
            " ON res_partner (email_normalized) WHERE email_normalized IS NOT NULL"
        )
        # an order closes its contact's open cart: the few contacts with one, found at once
        # among millions (the link itself is too long to index)
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS res_partner_sms_open_cart_idx"
            " ON res_partner (id) WHERE sms_cart_url IS NOT NULL"
        )

    @api.model
    def _tz_get_sms(self):
        return self.env["res.partner"]._fields["tz"].selection

    @api.depends("mobile", "phone", "country_id", "company_id.sms_default_country_id", "tz")
    def _compute_sms_number(self):
        default_region = self.env.company.sms_default_country_id.code
        infos = {
            partner: core_phone.first_number(
                [partner.mobile, partner.phone],
                partner.country_id.code
                or partner.company_id.sms_default_country_id.code
                or default_region,
            )
            for partner in self
        }
        regions = {info.region for info in infos.values() if info and info.region}
        countries = {
            country.code: country
            for country in self.env["res.country"].search([("code", "in", list(regions))])
        }
        # Assigning a value to many records at once is one cache update instead of one per
        # record: group the partners sharing a value (most share a type, country and zone).
        groups = defaultdict(list)
        for partner, info in infos.items():
            partner.sms_e164 = info.e164 if info else False
            key = (
                info.number_type if info else False,
                countries.get(info and info.region, self.env["res.country"]),
                partner.tz or (info.time_zone if info else False),
            )
            groups[key].append(partner.id)
        for (number_type, country, tz), ids in groups.items():
            partners = self.browse(ids)
            partners.sms_number_type = number_type
            partners.sms_number_country_id = country
            partners.sms_tz = tz

    def _compute_sms_activity(self):
        Activity = self.env["sms.marketing.partner.activity"].sudo()
        activities = Activity.search(
            [("partner_id", "in", [pid for pid in self._ids if isinstance(pid, int)])]
        )
        by_partner = {activity.partner_id.id: activity for activity in activities}
        for partner in self:
            activity = by_partner.get(partner._origin.id) or Activity
            partner.sms_activity_id = activity.id
            partner.sms_rfm_group = activity.rfm_group
            partner.sms_last_order_at = activity.last_order_at
            partner.sms_last_click_at = activity.last_click_at
            partner.sms_rfm_score = (
                f"{activity.rfm_recency}{activity.rfm_frequency}{activity.rfm_monetary}"
                if activity.rfm_group
                else False
            )
            partner.sms_best_hour = activity.best_hour

    @api.model
    def _sms_rfm_groups(self):
        return self.env["sms.marketing.partner.activity"]._fields["rfm_group"].selection

    def _compute_sms_segment_ids(self):
        self.sms_segment_ids = False

    def _search_sms_segment_ids(self, operator, value):
        if operator not in ("in", "="):
            raise UserError(self.env._("Search the behaviour segments with 'is in'."))
        ids = [value] if isinstance(value, int) else list(value or [])
        segments = self.env["sms.marketing.segment"].browse(ids).filtered("behaviour")
        if not segments:
            return [("id", "=", 0)]
        # the presets read contacts, events, SMS and activity in SQL: pending writes first
        self.env.flush_all()
        union = SQL(" UNION ").join(segment._behaviour_sql() for segment in segments)
        return [("id", "in", SQL("(%s)", union))]

    def _compute_sms_counts(self):
        ids = [pid for pid in self._ids if isinstance(pid, int)]
        counts = {}
        for model in ("sms.marketing.trace", "sms.marketing.inbound", "sms.marketing.event"):
            counts[model] = (
                dict(
                    self.env[model]._read_group(
                        [("partner_id", "in", ids)], ["partner_id"], ["__count"]
                    )
                )
                if ids and self.env[model].has_access("read")
                else {}
            )
        Enrollment = self.env["sms.marketing.automation.enrollment"]
        flows = (
            dict(
                Enrollment._read_group(
                    [("partner_id", "in", ids), ("state", "=", "active"), ("is_test", "=", False)],
                    ["partner_id"],
                    ["__count"],
                )
            )
            if ids and Enrollment.has_access("read")
            else {}
        )
        for partner in self:
            partner.sms_flow_count = flows.get(partner._origin, 0)
            partner.sms_trace_count = counts["sms.marketing.trace"].get(partner._origin, 0)
            partner.sms_inbound_count = counts["sms.marketing.inbound"].get(partner._origin, 0)
            partner.sms_event_count = counts["sms.marketing.event"].get(partner._origin, 0)

    def _sms_action_view(self, xmlid):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        action["domain"] = [("partner_id", "=", self.id)]
        return action

    def action_view_sms_traces(self):
        return self._sms_action_view("sms_marketing.sms_marketing_trace_action")

    def action_view_sms_inbound(self):
        return self._sms_action_view("sms_marketing.sms_marketing_inbound_action")

    def action_view_sms_events(self):
        return self._sms_action_view("sms_marketing.sms_marketing_event_action")

    def action_view_sms_flows(self):
        action = self._sms_action_view("sms_marketing.sms_marketing_automation_enrollment_action")
        action["context"] = {"search_default_active_ones": 1}
        return action

    @api.depends("sms_consent_ids")
    def _compute_sms_consent(self):
        # SQL: the latest line per partner, for whole batches (imports touch 100,000 partners).
        ids = [pid for pid in self._ids if isinstance(pid, int)]
        latest = {}
        if ids:
            self.env["sms.marketing.consent"].flush_model()
            self.env.cr.execute(
                SQL(
                    """
                    SELECT DISTINCT ON (partner_id) partner_id, action, consent_date, source
                      FROM sms_marketing_consent
                     WHERE partner_id = ANY(%s)
                  ORDER BY partner_id, consent_date DESC, id DESC
                    """,
                    ids,
                )
            )
            latest = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        groups = defaultdict(list)
        for partner in self:
            groups[latest.get(partner._origin.id, (None, False, False))].append(partner.id)
        for (action, date, source), ids in groups.items():
            partners = self.browse(ids)
            partners.sms_consent_state = ACTION_TO_STATE.get(action, "unknown")
            partners.sms_consent_date = date
            partners.sms_consent_source = source

    def _phone_format_number(self, number, country, force_format="E164", raise_exception=False):
        # Odoo sanitises the same numbers we normalise (phone_sanitized): for a valid number
        # already written in E.164 both give that number, and ours is memoised, which spares
        # a phonenumbers parse per contact when importing thousands of them.
        if force_format == "E164" and isinstance(number, str) and number.startswith("+"):
            info = core_phone.normalize(number)
            if info and info.is_valid and info.e164 == number:
                return number
        return super()._phone_format_number(
            number, country, force_format=force_format, raise_exception=raise_exception
        )

    @api.model
    def _sms_exclusion_rules(self, company, marketing=True, alias="res_partner"):
        """Why a message of ``company`` cannot go to the partner ``alias``: ``(reason,
        condition)`` pairs in order of precedence, each reason an exclusion reason of
        ``sms.marketing.trace`` and each condition SQL that is never NULL.

        The one place these rules live. :meth:`_sms_exclusion_reason_sql` makes the reason
        of a campaign's excluded contacts from them, :meth:`_sms_reachable_sql` the reachable
        counts. Consent and the blacklist apply to marketing messages only.
        """
        p = SQL.identifier(alias)
        rules = [
            (
                "other_company",
                SQL("%s.company_id IS NOT NULL AND %s.company_id <> %s", p, p, company.id),
            ),
            (
                "no_number",
                SQL(
                    """%(p)s.sms_e164 IS NULL AND COALESCE(%(p)s.mobile, '') = ''
                       AND COALESCE(%(p)s.phone, '') = ''""",
                    p=p,
                ),
            ),
            (
                "invalid_number",
                SQL(
                    "%s.sms_e164 IS NULL OR %s.sms_number_type IS NOT DISTINCT FROM 'invalid'", p, p
                ),
            ),
            (
                "not_mobile",
                SQL("NOT COALESCE(%s.sms_number_type = ANY(%s), false)", p, SMS_CAPABLE_TYPES),
            ),
        ]
        if marketing:
            rules.append(
                ("opted_out", SQL("%s.sms_consent_state IS NOT DISTINCT FROM 'opted_out'", p))
            )
            rules.append(
                (
                    "blacklisted",
                    SQL(
                        """EXISTS (SELECT 1 FROM phone_blacklist bl
                                    WHERE bl.number = %s.sms_e164 AND bl.active)""",
                        p,
                    ),
                )
            )
            if company.sms_consent_mode == "opt_in":
                rules.append(
                    ("no_consent", SQL("%s.sms_consent_state IS DISTINCT FROM 'opted_in'", p))
                )
        return rules

    @api.model
    def _sms_exclusion_reason_sql(self, company, marketing=True, alias="res_partner"):
        """SQL expression: the first reason that applies (see :meth:`_sms_exclusion_rules`),
        or NULL when a message can go to the partner."""
        return SQL(
            "CASE %s END",
            SQL(" ").join(
                SQL("WHEN %s THEN %s", condition, reason)
                for reason, condition in self._sms_exclusion_rules(company, marketing, alias)
            ),
        )

    @api.model
    def _sms_reachable_sql(self, company, marketing=True, alias="res_partner"):
        """SQL condition: no exclusion rule applies. A conjunction of negated conditions, not
        a test of the CASE for NULL: PostgreSQL then plans the blacklist as an anti-join
        (a campaign's reachable count over 1,000,000 contacts: 0.8 s, against 2.9 s)."""
        return SQL(" AND ").join(
            SQL("NOT (%s)", condition)
            for _reason, condition in self._sms_exclusion_rules(company, marketing, alias)
        )

    @api.model
    def _add_missing_default_values(self, values):
        # Same memo as default_get below: an import creates thousands of partners with the
        # same fields, and the ORM lists the missing ones for each. Properties fields have
        # defaults that depend on the values: never memoised.
        memo = self.env.context.get("sms_marketing_defaults_memo")
        if memo is None or any(f.type == "properties" for f in self._fields.values()):
            return super()._add_missing_default_values(values)
        key = ("missing", frozenset(values))
        if key not in memo:
            complete = super()._add_missing_default_values(values)
            memo[key] = {name: value for name, value in complete.items() if name not in values}
        return {**memo[key], **values}

    @api.model
    def default_get(self, fields_list):
        # Bulk imports create thousands of partners with the same missing fields; the ORM asks
        # for their defaults once per record. An import passes a fresh dict in this context
        # key (see wizards/sms_marketing_import.py) so the answer is computed once per call.
        memo = self.env.context.get("sms_marketing_defaults_memo")
        if memo is None:
            return super().default_get(fields_list)
        key = tuple(fields_list)
        if key not in memo:
            memo[key] = super().default_get(fields_list)
        return dict(memo[key])

    @api.model_create_multi
    def create(self, vals_list):
        self._sms_check_consent_vals(*vals_list)
        partners = super().create(vals_list)
        self.env["sms.marketing.automation"]._on_contacts(partners, "contact_created")
        return partners

    def write(self, vals):
        self._sms_check_consent_vals(vals)
        res = super().write(vals)
        if {"mobile", "phone"} & vals.keys():
            # A contact who opted out stays opted out when they change number.
            opted_out = self.filtered(lambda p: p.sms_consent_state == "opted_out" and p.sms_e164)
            if opted_out:
                opted_out._sms_sync_blacklist()
        if "active" in vals and not vals["active"]:
            self.env["sms.marketing.automation"]._on_unreachable(self, "contact_removed")
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_sms_marketing_enrollments(self):
        """Deleted contacts leave their flows (the enrollments go with them): the flows'
        figures count them as exited, so "in progress" stays true."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT automation_id, is_test, 'exited', 'contact_removed', 0
                     FROM sms_marketing_automation_enrollment
                    WHERE partner_id = ANY(%s) AND state = 'active'""",
                self.ids,
            )
        )
        self.env["sms.marketing.automation.count"].sudo()._add(self.env.cr.fetchall())

    @api.model
    def _sms_check_consent_vals(self, *vals_list):
        if any(_CONSENT_FIELDS & vals.keys() for vals in vals_list):
            raise UserError(
                self.env._(
                    "SMS consent changes only through the opt-in / opt-out actions, "
                    "which log proof."
                )
            )

    # ------------------------------------------------------------------
    # Consent: the one way in
    # ------------------------------------------------------------------

    def _sms_consent_set(self, action, source, evidence=None, consent_date=None):
        """Record the same consent change for every partner of ``self``.

        Convenience wrapper around :meth:`_sms_consent_apply`; see there for the arguments.
        """
        return self._sms_consent_apply(
            [
                {
                    "partner": partner,
                    "action": action,
                    "source": source,
                    "evidence": evidence,
                    "consent_date": consent_date,
                }
                for partner in self
            ]
        )

    @api.model
    def _sms_consent_apply(self, entries, log_blacklist=True):
        """Record consent changes in the ledger and bring partners and blacklist in line.

        This is the only way a partner's SMS consent changes: the state, date and source are
        computed from the ledger (latest effective date wins, so an old imported opt-in never
        overrides a newer opt-out), and numbers whose partner ends up opted out are added to
        ``phone.blacklist`` (removed again when they opt back in), so Odoo's own SMS respect it.

        :param list entries: dicts with ``partner`` (``res.partner`` record), ``action``
            (``opt_in``, ``request``, ``confirm`` or ``opt_out``), ``source`` (a key of
            ``CONSENT_SOURCES``), optional ``evidence`` (text: reason, message, file and row...)
            and optional ``consent_date`` (datetime when the consent was given; now if empty)
        :param bool log_blacklist: also post the evidence on the chatter of each blacklist
            entry changed (interactive changes; bulk imports keep their evidence in the ledger)
        :return: the ``sms.marketing.consent`` lines created
        """
        Ledger = self.env["sms.marketing.consent"]
        if not entries:
            return Ledger
        valid_sources = dict(CONSENT_SOURCES)
        now = fields.Datetime.now()
        columns = {
            name: []
            for name in (
                "partner_id",
                "number",
                "action",
                "source",
                "evidence",
                "consent_date",
                "company_id",
            )
        }
        # One recordset for all entries, so number and company are read in one query.
        partners = self.browse([entry["partner"].id for entry in entries])
        by_id = {partner.id: partner for partner in partners}
        for entry in entries:
            if entry["action"] not in ACTION_TO_STATE or entry["source"] not in valid_sources:
                raise UserError(
                    self.env._(
                        "Unknown consent action %(action)s or source %(origin)s.",
                        action=entry["action"],
                        origin=entry["source"],
                    )
                )
            partner = by_id[entry["partner"].id]
            consent_date = entry.get("consent_date") or now
            if consent_date > now:
                raise UserError(self.env._("A consent date cannot be in the future."))
            columns["partner_id"].append(partner.id)
            columns["number"].append(partner.sms_e164 or None)
            columns["action"].append(entry["action"])
            columns["source"].append(entry["source"])
            columns["evidence"].append(entry.get("evidence") or None)
            columns["consent_date"].append(consent_date)
            columns["company_id"].append((partner.company_id or self.env.company).id)
        # SQL: the ledger is append-only and written here alone (the ORM refuses to create
        # lines at all), as one statement: imports record 100,000 lines at a time.
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_consent
                       (partner_id, number, action, source, evidence, consent_date, company_id,
                        user_id, create_uid, write_uid, create_date, write_date)
                SELECT line.*, %(uid)s, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM unnest(%(partner_id)s::int[], %(number)s::varchar[],
                              %(action)s::varchar[], %(source)s::varchar[], %(evidence)s::text[],
                              %(consent_date)s::timestamp[], %(company_id)s::int[]) AS line
             RETURNING id
                """,
                uid=self.env.uid,
                now=now,
                **columns,
            )
        )
        lines = Ledger.browse(row[0] for row in self.env.cr.fetchall())
        # The partners' consent is computed from their lines: tell the ORM they changed.
        partners.invalidate_recordset(["sms_consent_ids"])
        partners.modified(["sms_consent_ids"])
        partners._sms_sync_blacklist(
            message=entries[0].get("evidence") if log_blacklist else None,
        )
        # flows: opted-out contacts leave marketing flows, new consent enrolls and wakes
        # the branches waiting for it
        Automation = self.env["sms.marketing.automation"]
        Automation._on_unreachable(
            partners.filtered(lambda p: p.sms_consent_state == "opted_out"), "opted_out"
        )
        consenting = self.browse(
            {entry["partner"].id for entry in entries if entry["action"] in ("opt_in", "confirm")}
        ).filtered(lambda p: p.sms_consent_state == "opted_in")
        Automation._on_contacts(consenting, "consent")
        Automation._wake(consenting.ids, ["opted_in"])
        return lines

    def _sms_sync_blacklist(self, message=None):
        """Blacklist the numbers of opted-out partners, un-blacklist those who opted back in.

        :param str message: reason posted on the chatter of the blacklist entries changed
        """
        out, back_in = set(), set()
        for partner in self:
            if partner.sms_e164 and partner.sms_consent_state == "opted_out":
                out.add(partner.sms_e164)
            elif partner.sms_e164 and partner.sms_consent_state == "opted_in":
                back_in.add(partner.sms_e164)
        if not (out or back_in):
            return
        now = fields.Datetime.now()
        # SQL: one statement per direction instead of one ORM create per number (bulk imports
        # opt thousands out at once); numbers are already E.164, as phone.blacklist stores them.
        self.env["phone.blacklist"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO phone_blacklist (number, active, create_uid, write_uid,
                                             create_date, write_date)
                SELECT number, TRUE, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM unnest(%(numbers)s::varchar[]) AS number
                    ON CONFLICT (number) DO UPDATE
                   SET active = TRUE, write_uid = EXCLUDED.write_uid,
                       write_date = EXCLUDED.write_date
                 WHERE NOT phone_blacklist.active
             RETURNING id
                """,
                uid=self.env.uid,
                now=now,
                numbers=sorted(out),
            )
        )
        changed = [row[0] for row in self.env.cr.fetchall()]
        self.env.cr.execute(
            SQL(
                """
                UPDATE phone_blacklist
                   SET active = FALSE, write_uid = %(uid)s, write_date = %(now)s
                 WHERE number = ANY(%(numbers)s) AND active
             RETURNING id
                """,
                uid=self.env.uid,
                now=now,
                numbers=sorted(back_in),
            )
        )
        changed += [row[0] for row in self.env.cr.fetchall()]
        blacklist = self.env["phone.blacklist"].browse(changed)
        self.env["phone.blacklist"].invalidate_model(["active", "write_uid", "write_date"])
        self.invalidate_recordset(
            ["phone_sanitized_blacklisted", "phone_blacklisted", "mobile_blacklisted"]
        )
        if message and blacklist:
            # sudo: the blacklist is administrators' data; the reason belongs on it all the
            # same, for whoever reviews it in Odoo's blacklist screen.
            for entry in blacklist.sudo().with_context(active_test=False):
                body = (
                    self.env._("Blacklisted: %s", message)
                    if entry.active
                    else self.env._("Removed from the blacklist: %s", message)
                )
                entry.message_post(body=body, subtype_xmlid="mail.mt_note")

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def _sms_action_consent_wizard(self, action):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Opt In to SMS")
            if action == "opt_in"
            else self.env._("Opt Out of SMS"),
            "res_model": "sms.marketing.consent.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_partner_ids": self.ids,
                "default_action": action,
            },
        }

    def action_sms_opt_in(self):
        return self._sms_action_consent_wizard("opt_in")

    def action_sms_opt_out(self):
        return self._sms_action_consent_wizard("opt_out")

    def action_sms_request_double_optin(self):
        """Ask each contact to confirm by SMS ("reply Y"); consent is pending until they do."""
        Locale = self.env["sms.marketing.locale"].sudo()
        eligible = self.filtered(
            lambda p: p.sms_e164 and p.sms_consent_state not in ("opted_in", "opted_out")
        )
        if not eligible:
            raise UserError(
                self.env._(
                    "Double opt-in requests go to contacts with an SMS number who have "
                    "neither opted in nor out."
                )
            )
        for partner in eligible:
            company = partner.company_id or self.env.company
            text = Locale._get_for_partner(company, partner).double_optin_request
            if not text:
                raise UserError(
                    self.env._("Write the double opt-in request text in the SMS language texts.")
                )
            partner._sms_consent_set("request", "double_opt_in", evidence=text)
            self.env["sms.marketing.trace"]._sms_marketing_send_reply(
                company, partner, partner.sms_e164, text, origin="double_opt_in"
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("Confirmation requested from %s contact(s).", len(eligible)),
            },
        }
